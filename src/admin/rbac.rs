//! Permission resolution: what a user or a service account (a client using
//! `client_credentials`) may do, globally and inside each organization.
//!
//! Invariants:
//! - Deny by default. Only live assignments grant anything: one whose `expires_at` has passed
//!   grants nothing, whether or not the purge job has deleted it yet.
//! - A role grants its own permissions (built-in roles: from the catalogue in code; custom
//!   roles: `role_permissions`) plus every ancestor's, following `parent_id`. A cycle in stored
//!   data (which the domain refuses to write) ends the walk instead of looping.
//! - A global assignment grants its permissions everywhere. An assignment in an organization
//!   grants them only inside that organization, and never a global-only permission
//!   ([`Permission::is_global_only`], the signing keys), whatever the role holds.
//! - A role owned by an organization grants nothing through an assignment outside that
//!   organization (the domain never writes one; a stale row must not widen access).
//! - Every answer remembers which assignments allowed each permission, so the caller can
//!   [`touch`] them for the access review's "last used".

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::admin::permissions::{BuiltinRole, Permission};
use crate::store::roles::{self, AssignmentScope};
use crate::store::{DbConn, StoreError};

/// Who holds role assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// A user, by id.
    User(&'a str),
    /// A client acting as a service account, by client_id.
    Client(&'a str),
}

/// Which assignments [`effective_permissions`] considers. Narrower scopes read fewer rows;
/// the answer is the same for every question the scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Global assignments and those in every organization.
    All,
    /// Global assignments only.
    Global,
    /// Global assignments and those in this organization (by id).
    Org(&'a str),
}

/// The permissions a holder has, with the assignments that give each one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    global: BTreeMap<Permission, BTreeSet<String>>,
    per_org: BTreeMap<String, BTreeMap<Permission, BTreeSet<String>>>,
}

impl Grants {
    /// Whether `perm` is allowed globally (`org` = `None`) or inside the organization `org`
    /// (by id). A global grant also applies inside every organization.
    pub fn allows(&self, perm: Permission, org: Option<&str>) -> bool {
        !self.allowed_by(perm, org).is_empty()
    }

    /// The ids of the assignments that allow `perm` there; empty when it is denied.
    pub fn allowed_by(&self, perm: Permission, org: Option<&str>) -> Vec<String> {
        let mut ids: BTreeSet<&String> = BTreeSet::new();
        if let Some(global) = self.global.get(&perm) {
            ids.extend(global);
        }
        if let Some(in_org) = org
            .and_then(|o| self.per_org.get(o))
            .and_then(|m| m.get(&perm))
        {
            ids.extend(in_org);
        }
        ids.into_iter().cloned().collect()
    }

    /// The permissions that apply everywhere.
    pub fn global(&self) -> BTreeSet<Permission> {
        self.global.keys().copied().collect()
    }

    /// The permissions that apply inside `org`: the global ones plus the organization's own.
    pub fn in_org(&self, org: &str) -> BTreeSet<Permission> {
        let mut all = self.global();
        if let Some(m) = self.per_org.get(org) {
            all.extend(m.keys().copied());
        }
        all
    }

    /// The organizations (by id) in which some assignment grants a permission of its own.
    pub fn orgs(&self) -> impl Iterator<Item = &str> {
        self.per_org.keys().map(String::as_str)
    }

    /// Whether nothing at all is allowed anywhere.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.per_org.is_empty()
    }

    fn add(&mut self, org: Option<&str>, perm: Permission, assignment: &str) {
        let map = match org {
            None => &mut self.global,
            Some(o) => self.per_org.entry(o.to_owned()).or_default(),
        };
        map.entry(perm).or_default().insert(assignment.to_owned());
    }
}

/// The permissions of a role: its own plus every ancestor's. [`StoreError::NotFound`] if
/// the role does not exist. Stored names outside the catalogue grant nothing.
pub fn permissions_of_role(
    conn: &mut DbConn,
    role_id: &str,
) -> Result<BTreeSet<Permission>, StoreError> {
    let mut all = BTreeSet::new();
    let mut visited = HashSet::new();
    let mut next = Some(role_id.to_owned());
    let mut first = true;
    while let Some(id) = next.take() {
        if !visited.insert(id.clone()) {
            tracing::warn!(role = %role_id, "role inheritance has a cycle; ignoring the rest");
            break;
        }
        let Some(role) = roles::find(conn, &id)? else {
            if first {
                return Err(StoreError::NotFound);
            }
            // A parent deleted under the child (the foreign key forbids it): stop there.
            break;
        };
        first = false;
        all.extend(own_permissions(conn, &role)?);
        next = role.parent_id;
    }
    Ok(all)
}

/// The permissions a role holds by itself, without its ancestors'.
pub(crate) fn own_permissions(
    conn: &mut DbConn,
    role: &roles::RoleRow,
) -> Result<BTreeSet<Permission>, StoreError> {
    if role.builtin {
        return Ok(BuiltinRole::from_id(&role.id)
            .map(BuiltinRole::permissions)
            .unwrap_or_default()
            .into_iter()
            .collect());
    }
    let mut out = BTreeSet::new();
    for name in roles::permission_names(conn, &role.id)? {
        match name.parse::<Permission>() {
            Ok(p) => {
                out.insert(p);
            }
            Err(_) => tracing::warn!(role = %role.id, permission = %name,
                "stored permission is not in the catalogue; it grants nothing"),
        }
    }
    Ok(out)
}

/// What `holder` may do at `now`, from its live assignments in `scope`.
pub fn effective_permissions(
    conn: &mut DbConn,
    holder: Holder<'_>,
    scope: Scope<'_>,
    now: i64,
) -> Result<Grants, StoreError> {
    let (user, client) = match holder {
        Holder::User(u) => (Some(u), None),
        Holder::Client(c) => (None, Some(c)),
    };
    let scope = match scope {
        Scope::All => AssignmentScope::All,
        Scope::Global => AssignmentScope::Global,
        Scope::Org(o) => AssignmentScope::Org(o),
    };
    let assignments = roles::live_assignments(conn, user, client, scope, now)?;
    let mut by_role: HashMap<String, (Option<String>, BTreeSet<Permission>)> = HashMap::new();
    let mut grants = Grants::default();
    for a in &assignments {
        if !by_role.contains_key(&a.role_id) {
            let Some(role) = roles::find(conn, &a.role_id)? else {
                continue;
            };
            let perms = permissions_of_role(conn, &role.id)?;
            by_role.insert(a.role_id.clone(), (role.org_id, perms));
        }
        let Some((role_org, perms)) = by_role.get(&a.role_id) else {
            continue;
        };
        if role_org.is_some() && role_org != &a.org_id {
            continue;
        }
        for &p in perms {
            match &a.org_id {
                None => grants.add(None, p, &a.id),
                Some(_) if p.is_global_only() => {}
                Some(org) => grants.add(Some(org), p, &a.id),
            }
        }
    }
    Ok(grants)
}

/// How often one assignment's `last_used_at` is written at most, in seconds.
pub const TOUCH_GRANULARITY_SECS: i64 = 60;

/// Records that the assignments (from [`Grants::allowed_by`]) allowed something at `now`,
/// for the access review. Writes each at most once a minute.
pub fn touch(conn: &mut DbConn, assignment_ids: &[String], now: i64) -> Result<(), StoreError> {
    roles::touch(conn, assignment_ids, now, TOUCH_GRANULARITY_SECS)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_db {
    //! A migrated in-memory SQLite database for unit tests of administration rules.
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    use crate::store::DbConn;

    pub fn open() -> DbConn {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute("PRAGMA foreign_keys = ON;").unwrap();
        let mut conn = DbConn::Sqlite(c);
        crate::store::migrations::run_pending(&mut conn).unwrap();
        conn
    }

    pub fn exec(conn: &mut DbConn, sql: &str) {
        match conn {
            DbConn::Sqlite(c) => c.batch_execute(sql).unwrap(),
            DbConn::Pg(c) => c.batch_execute(sql).unwrap(),
        }
    }

    pub fn user(conn: &mut DbConn, id: &str) {
        exec(
            conn,
            &format!(
                "INSERT INTO users (id, username, email, email_verified, disabled, failed_logins, \
                 created_at, updated_at, signup_pending, phone_number_verified) \
                 VALUES ('{id}', '{id}', '{id}@example.com', 1, 0, 0, 0, 0, 0, 0)"
            ),
        );
    }

    pub fn org(conn: &mut DbConn, id: &str) {
        exec(
            conn,
            &format!(
                "INSERT INTO organizations (id, name, display_name, created_at, updated_at) \
                 VALUES ('{id}', '{id}', '{id}', 0, 0)"
            ),
        );
    }

    pub fn role(
        conn: &mut DbConn,
        id: &str,
        org: Option<&str>,
        parent: Option<&str>,
        perms: &[&str],
    ) {
        let org = org.map_or("NULL".to_owned(), |o| format!("'{o}'"));
        let parent = parent.map_or("NULL".to_owned(), |p| format!("'{p}'"));
        exec(
            conn,
            &format!(
                "INSERT INTO roles (id, org_id, name, description, parent_id, builtin, created_at, \
                 updated_at) VALUES ('{id}', {org}, '{id}', '', {parent}, 0, 0, 0)"
            ),
        );
        for p in perms {
            exec(
                conn,
                &format!(
                    "INSERT INTO role_permissions (role_id, permission) VALUES ('{id}', '{p}')"
                ),
            );
        }
    }

    pub fn assign(
        conn: &mut DbConn,
        id: &str,
        role: &str,
        user: &str,
        org: Option<&str>,
        expires_at: Option<i64>,
    ) {
        let org = org.map_or("NULL".to_owned(), |o| format!("'{o}'"));
        let exp = expires_at.map_or("NULL".to_owned(), |e| e.to_string());
        exec(
            conn,
            &format!(
                "INSERT INTO role_assignments (id, role_id, user_id, org_id, created_at, expires_at) \
                 VALUES ('{id}', '{role}', '{user}', {org}, 0, {exp})"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_db::*;
    use super::*;
    use Permission::*;

    const NOW: i64 = 1_000_000;

    fn set(perms: &[Permission]) -> BTreeSet<Permission> {
        perms.iter().copied().collect()
    }

    #[test]
    fn a_role_inherits_its_grandparents_permissions() {
        let mut c = open();
        role(&mut c, "grand", None, None, &["audit:read"]);
        role(&mut c, "parent", None, Some("grand"), &["users:read"]);
        role(&mut c, "child", None, Some("parent"), &["clients:write"]);
        assert_eq!(
            permissions_of_role(&mut c, "child").unwrap(),
            set(&[AuditRead, UsersRead, ClientsWrite])
        );
        assert_eq!(
            permissions_of_role(&mut c, "parent").unwrap(),
            set(&[AuditRead, UsersRead])
        );
    }

    #[test]
    fn built_in_roles_take_their_permissions_from_the_catalogue_and_pass_them_on() {
        let mut c = open();
        assert_eq!(
            permissions_of_role(&mut c, "super_admin").unwrap(),
            set(&Permission::ALL)
        );
        assert!(permissions_of_role(&mut c, "member").unwrap().is_empty());
        role(&mut c, "reviewer", None, Some("auditor"), &["users:write"]);
        let perms = permissions_of_role(&mut c, "reviewer").unwrap();
        assert!(perms.contains(&AuditRead) && perms.contains(&UsersWrite));
        assert!(!perms.contains(&ClientsWrite));
    }

    #[test]
    fn an_unknown_role_is_not_found_and_unknown_stored_names_grant_nothing() {
        let mut c = open();
        assert!(matches!(
            permissions_of_role(&mut c, "nope"),
            Err(StoreError::NotFound)
        ));
        role(&mut c, "odd", None, None, &["users:read", "everything:*"]);
        assert_eq!(
            permissions_of_role(&mut c, "odd").unwrap(),
            set(&[UsersRead])
        );
    }

    #[test]
    fn a_stored_cycle_ends_the_walk_instead_of_looping() {
        let mut c = open();
        role(&mut c, "a", None, None, &["users:read"]);
        role(&mut c, "b", None, Some("a"), &["clients:read"]);
        exec(&mut c, "UPDATE roles SET parent_id = 'b' WHERE id = 'a'");
        assert_eq!(
            permissions_of_role(&mut c, "a").unwrap(),
            set(&[UsersRead, ClientsRead])
        );
    }

    #[test]
    fn a_global_assignment_allows_everywhere() {
        let mut c = open();
        user(&mut c, "u1");
        org(&mut c, "o1");
        assign(&mut c, "a1", "auditor", "u1", None, None);
        let g = effective_permissions(&mut c, Holder::User("u1"), Scope::All, NOW).unwrap();
        assert!(g.allows(AuditRead, None));
        assert!(g.allows(AuditRead, Some("o1")));
        assert!(g.allows(KeysRead, Some("o1")));
        assert!(!g.allows(UsersWrite, None));
        assert_eq!(g.allowed_by(AuditRead, Some("o1")), vec!["a1".to_owned()]);
    }

    #[test]
    fn an_org_assignment_allows_only_inside_its_organization_and_never_global_only() {
        let mut c = open();
        user(&mut c, "u1");
        org(&mut c, "o1");
        org(&mut c, "o2");
        assign(&mut c, "a1", "super_admin", "u1", Some("o1"), None);
        let g = effective_permissions(&mut c, Holder::User("u1"), Scope::All, NOW).unwrap();
        assert!(g.allows(ClientsWrite, Some("o1")));
        assert!(!g.allows(ClientsWrite, Some("o2")));
        assert!(!g.allows(ClientsWrite, None));
        assert!(!g.allows(KeysRotate, Some("o1")));
        assert!(!g.allows(KeysRead, Some("o1")));
        assert!(g.global().is_empty());
        assert_eq!(g.orgs().collect::<Vec<_>>(), vec!["o1"]);
        assert!(!g.in_org("o1").contains(&KeysRotate));
    }

    #[test]
    fn an_org_role_grants_nothing_outside_its_own_organization() {
        let mut c = open();
        user(&mut c, "u1");
        org(&mut c, "o1");
        org(&mut c, "o2");
        role(&mut c, "o1_ops", Some("o1"), Some("org_admin"), &[]);
        assign(&mut c, "good", "o1_ops", "u1", Some("o1"), None);
        assign(&mut c, "stale", "o1_ops", "u1", Some("o2"), None);
        let g = effective_permissions(&mut c, Holder::User("u1"), Scope::All, NOW).unwrap();
        assert!(g.allows(UsersWrite, Some("o1")));
        assert!(!g.allows(UsersWrite, Some("o2")));
        assert!(!g.allows(UsersWrite, None));
    }

    #[test]
    fn expired_assignments_grant_nothing() {
        let mut c = open();
        user(&mut c, "u1");
        assign(&mut c, "past", "super_admin", "u1", None, Some(NOW));
        assign(&mut c, "live", "auditor", "u1", None, Some(NOW + 1));
        let g = effective_permissions(&mut c, Holder::User("u1"), Scope::All, NOW).unwrap();
        assert!(!g.allows(UsersWrite, None));
        assert!(g.allows(UsersRead, None));
        let later = effective_permissions(&mut c, Holder::User("u1"), Scope::All, NOW + 1).unwrap();
        assert!(later.is_empty());
    }

    #[test]
    fn scopes_narrow_what_is_read_and_holders_are_kept_apart() {
        let mut c = open();
        user(&mut c, "u1");
        user(&mut c, "u2");
        org(&mut c, "o1");
        org(&mut c, "o2");
        assign(&mut c, "g", "auditor", "u1", None, None);
        assign(&mut c, "x1", "org_admin", "u1", Some("o1"), None);
        assign(&mut c, "x2", "org_admin", "u1", Some("o2"), None);
        let only_o1 =
            effective_permissions(&mut c, Holder::User("u1"), Scope::Org("o1"), NOW).unwrap();
        assert!(only_o1.allows(UsersWrite, Some("o1")));
        assert!(!only_o1.allows(UsersWrite, Some("o2")));
        assert!(
            only_o1.allows(UsersRead, Some("o2")),
            "global still applies"
        );
        let global = effective_permissions(&mut c, Holder::User("u1"), Scope::Global, NOW).unwrap();
        assert!(global.orgs().next().is_none());
        assert!(global.allows(UsersRead, None));
        let other = effective_permissions(&mut c, Holder::User("u2"), Scope::All, NOW).unwrap();
        assert!(other.is_empty());
        let client = effective_permissions(&mut c, Holder::Client("u1"), Scope::All, NOW).unwrap();
        assert!(client.is_empty());
    }

    #[test]
    fn touch_records_last_use_at_most_once_a_minute() {
        let mut c = open();
        user(&mut c, "u1");
        assign(&mut c, "a1", "auditor", "u1", None, None);
        let last_used = |c: &mut DbConn| {
            roles::live_assignments(c, Some("u1"), None, AssignmentScope::All, NOW).unwrap()[0]
                .last_used_at
        };
        let g = effective_permissions(&mut c, Holder::User("u1"), Scope::All, NOW).unwrap();
        touch(&mut c, &g.allowed_by(AuditRead, None), NOW).unwrap();
        assert_eq!(last_used(&mut c), Some(NOW));
        touch(&mut c, &["a1".to_owned()], NOW + 30).unwrap();
        assert_eq!(last_used(&mut c), Some(NOW));
        touch(&mut c, &["a1".to_owned()], NOW + 60).unwrap();
        assert_eq!(last_used(&mut c), Some(NOW + 60));
        touch(&mut c, &[], NOW + 600).unwrap();
    }
}
