//! The fixed catalogue of administrative permissions, and what the built-in roles hold.
//!
//! Permissions are named `area:verb`. Custom roles store these names (`role_permissions`);
//! built-in roles are defined here rather than in the database, so an upgrade that adds a
//! permission gives it to them without a migration. Deny by default: a name that is not in
//! the catalogue grants nothing and is refused wherever it is written.

use std::fmt;
use std::str::FromStr;

/// One administrative permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ClientsRead,
    ClientsWrite,
    UsersRead,
    UsersWrite,
    RolesRead,
    RolesWrite,
    OrgsRead,
    OrgsWrite,
    KeysRead,
    KeysRotate,
    ApiKeysRead,
    ApiKeysWrite,
    AuditRead,
}

impl Permission {
    /// Every permission, in the order the documentation lists them.
    pub const ALL: [Permission; 13] = [
        Permission::ClientsRead,
        Permission::ClientsWrite,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::RolesRead,
        Permission::RolesWrite,
        Permission::OrgsRead,
        Permission::OrgsWrite,
        Permission::KeysRead,
        Permission::KeysRotate,
        Permission::ApiKeysRead,
        Permission::ApiKeysWrite,
        Permission::AuditRead,
    ];

    /// The stable name, as stored, configured and shown.
    pub fn name(self) -> &'static str {
        match self {
            Permission::ClientsRead => "clients:read",
            Permission::ClientsWrite => "clients:write",
            Permission::UsersRead => "users:read",
            Permission::UsersWrite => "users:write",
            Permission::RolesRead => "roles:read",
            Permission::RolesWrite => "roles:write",
            Permission::OrgsRead => "orgs:read",
            Permission::OrgsWrite => "orgs:write",
            Permission::KeysRead => "keys:read",
            Permission::KeysRotate => "keys:rotate",
            Permission::ApiKeysRead => "apikeys:read",
            Permission::ApiKeysWrite => "apikeys:write",
            Permission::AuditRead => "audit:read",
        }
    }

    /// What the permission allows, for the documentation and the console.
    pub fn description(self) -> &'static str {
        match self {
            Permission::ClientsRead => "List and view clients.",
            Permission::ClientsWrite => {
                "Create, edit, disable and delete clients; rotate their secrets."
            }
            Permission::UsersRead => "Search and view users, their sessions and roles.",
            Permission::UsersWrite => {
                "Create, invite, edit, disable, unlock users; reset their second factors; \
                 force a password reset; sign them out everywhere."
            }
            Permission::RolesRead => "List roles, their permissions and who holds them.",
            Permission::RolesWrite => "Create, change and delete roles; grant and revoke them.",
            Permission::OrgsRead => "List organizations and their members.",
            Permission::OrgsWrite => {
                "Create and change organizations; add, invite and remove members."
            }
            Permission::KeysRead => "List signing keys and their ages.",
            Permission::KeysRotate => "Rotate the signing keys.",
            Permission::ApiKeysRead => "List API keys (never their secrets).",
            Permission::ApiKeysWrite => "Create, rotate and revoke API keys.",
            Permission::AuditRead => "Read the audit log.",
        }
    }

    /// Whether the permission only reads; an auditor holds exactly these.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            Permission::ClientsRead
                | Permission::UsersRead
                | Permission::RolesRead
                | Permission::OrgsRead
                | Permission::KeysRead
                | Permission::ApiKeysRead
                | Permission::AuditRead
        )
    }

    /// Whether the permission concerns the whole installation (signing keys): it is granted
    /// only by global assignments, never inside an organization.
    pub fn is_global_only(self) -> bool {
        matches!(self, Permission::KeysRead | Permission::KeysRotate)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A permission name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPermission(s.chars().take(64).collect()))
    }
}

/// The built-in roles. Their ids equal their names and are seeded by the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    /// Every permission, everywhere; only ever granted globally.
    SuperAdmin,
    /// Everything inside its organization except signing keys; globally, everything but keys.
    OrgAdmin,
    /// Every read-only permission in its scope.
    Auditor,
    /// Membership only; no administrative permission.
    Member,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 4] = [
        BuiltinRole::SuperAdmin,
        BuiltinRole::OrgAdmin,
        BuiltinRole::Auditor,
        BuiltinRole::Member,
    ];

    pub fn id(self) -> &'static str {
        match self {
            BuiltinRole::SuperAdmin => "super_admin",
            BuiltinRole::OrgAdmin => "org_admin",
            BuiltinRole::Auditor => "auditor",
            BuiltinRole::Member => "member",
        }
    }

    /// The built-in role with this id or name, if any.
    pub fn from_id(id: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The permissions the role grants by itself (before any scope is applied).
    pub fn permissions(self) -> Vec<Permission> {
        match self {
            BuiltinRole::SuperAdmin => Permission::ALL.to_vec(),
            BuiltinRole::OrgAdmin => Permission::ALL
                .into_iter()
                .filter(|p| !p.is_global_only())
                .collect(),
            BuiltinRole::Auditor => Permission::ALL
                .into_iter()
                .filter(|p| p.is_read_only())
                .collect(),
            BuiltinRole::Member => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_permission() {
        for p in Permission::ALL {
            assert_eq!(p.name().parse::<Permission>(), Ok(p));
        }
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len(), "names are unique");
    }

    #[test]
    fn unknown_and_near_miss_names_are_refused() {
        for bad in [
            "",
            "clients",
            "clients:*",
            "*",
            "Clients:Read",
            "clients:read ",
            "keys:write",
        ] {
            assert!(bad.parse::<Permission>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn built_in_roles_hold_what_the_documentation_says() {
        assert_eq!(
            BuiltinRole::SuperAdmin.permissions().len(),
            Permission::ALL.len()
        );
        let org_admin = BuiltinRole::OrgAdmin.permissions();
        assert!(!org_admin.contains(&Permission::KeysRotate));
        assert!(!org_admin.contains(&Permission::KeysRead));
        assert!(org_admin.contains(&Permission::ClientsWrite));
        let auditor = BuiltinRole::Auditor.permissions();
        assert!(auditor.iter().all(|p| p.is_read_only()));
        assert!(auditor.contains(&Permission::AuditRead));
        assert!(!auditor.contains(&Permission::UsersWrite));
        assert!(BuiltinRole::Member.permissions().is_empty());
        for r in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::from_id(r.id()), Some(r));
        }
        assert_eq!(BuiltinRole::from_id("admin"), None);
    }
}
