//! Roles with inheritance, grants globally and per organization, just-in-time grants, the
//! access review: through the CLI (as the operator), checked in the database and the audit
//! log, and through the resolution API the console and the admin API use.

use portcullis::admin::permissions::Permission::{self, *};
use portcullis::admin::roles::purge_expired;
use portcullis::admin::Holder;
use portcullis::store::migrations;
use serde_json::{json, Value};

use crate::rbac_support::{detail, Ops};

fn role<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name} in {list}"))
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect()
}

#[test]
fn a_role_inherits_its_grandparents_permissions() {
    let ops = Ops::new();
    ops.ok(&["role", "add", "grand", "--permission", "audit:read"]);
    ops.ok(&[
        "role",
        "add",
        "parent",
        "--parent",
        "grand",
        "--permission",
        "users:read",
    ]);
    let child = ops.json(&[
        "role",
        "add",
        "child",
        "--parent",
        "parent",
        "--permission",
        "clients:write",
        "--description",
        "Ships releases",
        "--json",
    ]);
    assert_eq!(child["parent"], "parent");
    assert_eq!(child["builtin"], false);
    assert_eq!(child["org"], Value::Null);
    assert_eq!(child["description"], "Ships releases");
    assert_eq!(names(&child["permissions"]), ["clients:write"]);
    assert_eq!(
        names(&child["effective_permissions"]),
        ["clients:write", "users:read", "audit:read"]
    );

    let list = ops.json(&["role", "list", "--json"]);
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "auditor",
            "child",
            "grand",
            "member",
            "org_admin",
            "parent",
            "super_admin"
        ]
    );
    assert_eq!(role(&list, "super_admin")["builtin"], true);
    assert_eq!(
        role(&list, "super_admin")["effective_permissions"]
            .as_array()
            .unwrap()
            .len(),
        Permission::ALL.len()
    );

    let alice = ops.user("alice");
    ops.ok(&["role", "grant", "child", "--user", "alice"]);
    let g = ops.grants(Holder::User(&alice));
    for p in [AuditRead, UsersRead, ClientsWrite] {
        assert!(g.allows(p, None), "{p}");
    }
    assert!(!g.allows(UsersWrite, None));

    // Changing an ancestor changes what the holder may do at once.
    ops.ok(&["role", "update", "grand", "--permission", "orgs:read"]);
    let g = ops.grants(Holder::User(&alice));
    assert!(g.allows(OrgsRead, None));
    assert!(!g.allows(AuditRead, None));
    let updated = ops.audit("role.updated");
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].actor.as_deref(), Some("cli"));
    assert_eq!(detail(&updated[0])["permissions"], json!(["orgs:read"]));
}

#[test]
fn cycles_and_parents_outside_the_scope_are_refused_and_change_nothing() {
    let ops = Ops::new();
    ops.ok(&["role", "add", "a", "--permission", "users:read"]);
    ops.ok(&["role", "add", "b", "--parent", "a"]);
    ops.ok(&["role", "add", "c", "--parent", "b"]);
    ops.refused(&["role", "update", "a", "--parent", "a"], "cycle");
    ops.refused(&["role", "update", "a", "--parent", "b"], "cycle");
    ops.refused(&["role", "update", "a", "--parent", "c"], "cycle");

    ops.ok(&["org", "add", "acme"]);
    ops.ok(&["org", "add", "beta"]);
    ops.ok(&[
        "role",
        "add",
        "ops",
        "--org",
        "beta",
        "--permission",
        "users:read",
    ]);
    // Another organization's role, and an organization's role under a global one.
    ops.refused(
        &["role", "add", "x", "--org", "acme", "--parent", "ops"],
        "not found",
    );
    ops.refused(&["role", "add", "x", "--parent", "ops"], "not found");
    ops.refused(&["role", "update", "a", "--parent", "ops"], "not found");
    // A global parent is fine for an organization's role, and so is one of its own.
    ops.ok(&["role", "add", "x", "--org", "acme", "--parent", "a"]);
    ops.ok(&["role", "add", "y", "--org", "acme", "--parent", "x"]);
    ops.refused(
        &["role", "update", "x", "--org", "acme", "--parent", "y"],
        "cycle",
    );
    // Moving a chain back to no parent breaks nothing.
    ops.ok(&["role", "update", "b", "--no-parent"]);
    let list = ops.json(&["role", "list", "--json"]);
    assert_eq!(role(&list, "b")["parent"], Value::Null);
    assert_eq!(role(&list, "c")["parent"], "b");
    let acme = ops.json(&["role", "list", "--org", "acme", "--json"]);
    assert_eq!(role(&acme, "y")["org"], "acme");
    assert_eq!(
        names(&role(&acme, "y")["effective_permissions"]),
        ["users:read"]
    );
}

#[test]
fn built_in_roles_and_their_names_cannot_be_taken_changed_or_deleted() {
    let ops = Ops::new();
    ops.ok(&["org", "add", "acme"]);
    ops.refused(&["role", "add", "super_admin"], "built-in");
    ops.refused(&["role", "add", "member", "--org", "acme"], "built-in");
    ops.refused(
        &["role", "update", "auditor", "--description", "x"],
        "built-in",
    );
    ops.refused(&["role", "delete", "org_admin"], "built-in");
    ops.refused(
        &["role", "add", "x", "--permission", "clients:*"],
        "unknown permission",
    );
    ops.refused(
        &["role", "add", "x", "--permission", "nope"],
        "unknown permission",
    );
    ops.refused(&["role", "add", "Bad Name"], "not valid");
    ops.refused(&["role", "add", "x", "--parent", "nope"], "not found");
    ops.refused(&["role", "add", "x", "--org", "nope"], "not found");
    ops.refused(
        &[
            "role",
            "add",
            "k",
            "--org",
            "acme",
            "--permission",
            "keys:rotate",
        ],
        "only a global role",
    );
    ops.refused(
        &["role", "update", "nope", "--description", "x"],
        "not found",
    );
    ops.refused(&["role", "update", "auditor"], "nothing to change");
    ops.ok(&["role", "add", "x"]);
    ops.refused(&["role", "add", "x"], "already exists");
    // Not in an organization either: it would hide the global role from `--org` commands.
    ops.refused(
        &["role", "add", "x", "--org", "acme"],
        "need different names",
    );
}

#[test]
fn a_role_in_use_is_not_deleted_and_an_unused_one_is() {
    let ops = Ops::new();
    ops.user("alice");
    ops.ok(&["role", "add", "parent"]);
    ops.ok(&["role", "add", "child", "--parent", "parent"]);
    ops.ok(&["role", "grant", "child", "--user", "alice"]);
    ops.refused(&["role", "delete", "parent"], "child role");
    ops.refused(&["role", "delete", "child"], "1 grant");
    ops.ok(&["role", "revoke", "child", "--user", "alice"]);
    ops.ok(&["role", "delete", "child"]);
    ops.ok(&["role", "delete", "parent"]);
    ops.refused(&["role", "delete", "parent"], "not found");
    let deleted = ops.audit("role.deleted");
    assert_eq!(deleted.len(), 2);
    assert_eq!(detail(&deleted[0])["name"], "child");
}

#[test]
fn an_organization_grant_applies_only_inside_it_and_never_to_signing_keys() {
    let ops = Ops::new();
    let alice = ops.user("alice");
    ops.ok(&["org", "add", "acme"]);
    ops.ok(&["org", "add", "beta"]);
    let (acme, beta) = (ops.org_id("acme"), ops.org_id("beta"));
    ops.ok(&[
        "role",
        "grant",
        "org_admin",
        "--user",
        "alice",
        "--org",
        "acme",
    ]);
    let g = ops.grants(Holder::User(&alice));
    assert!(g.allows(UsersWrite, Some(&acme)));
    assert!(!g.allows(UsersWrite, Some(&beta)));
    assert!(!g.allows(UsersWrite, None));
    // The grant made alice a member.
    let members = ops.json(&["org", "member", "list", "acme", "--json"]);
    assert_eq!(members[0]["username"], "alice");
    assert_eq!(ops.audit("org.member_added").len(), 1);
    let users = ops.json(&["user", "list", "--json"]);
    assert_eq!(users[0]["roles"], json!([]));
    assert_eq!(users[0]["org_roles"], json!(["org_admin@acme"]));
    assert!(ops.ok(&["user", "list"]).contains("org_admin@acme"));

    // Even a role inheriting everything gives no global-only permission inside an
    // organization.
    ops.ok(&[
        "role",
        "add",
        "all",
        "--org",
        "beta",
        "--parent",
        "super_admin",
    ]);
    ops.ok(&["role", "grant", "all", "--user", "alice", "--org", "beta"]);
    let g = ops.grants(Holder::User(&alice));
    assert!(g.allows(ClientsWrite, Some(&beta)));
    assert!(!g.allows(KeysRotate, Some(&beta)));
    assert!(!g.allows(KeysRead, Some(&beta)));
    assert!(!g.allows(KeysRotate, None));

    // An organization's role is granted only inside it; super_admin only globally.
    ops.refused(&["role", "grant", "all", "--user", "alice"], "not found");
    ops.refused(
        &["role", "grant", "all", "--user", "alice", "--org", "acme"],
        "not found",
    );
    ops.refused(
        &[
            "role",
            "grant",
            "super_admin",
            "--user",
            "alice",
            "--org",
            "acme",
        ],
        "only granted globally",
    );

    // Leaving the organization ends the roles held in it.
    ops.ok(&["org", "member", "remove", "beta", "alice"]);
    let g = ops.grants(Holder::User(&alice));
    assert!(!g.allows(ClientsWrite, Some(&beta)));
    assert!(g.allows(ClientsWrite, Some(&acme)));
    let revoked = ops.audit("role.revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(detail(&revoked[0])["because"], "membership ended");
}

#[test]
fn a_service_account_holds_roles_and_an_organizations_client_only_inside_it() {
    let ops = Ops::new();
    let svc = ops.service_client("batch");
    let owned = ops.service_client("acme-batch");
    ops.ok(&["org", "add", "acme"]);
    let acme = ops.org_id("acme");
    ops.exec(&format!(
        "UPDATE clients SET org_id = '{acme}' WHERE client_id = '{owned}'"
    ));
    ops.ok(&["role", "grant", "auditor", "--client", &svc]);
    assert!(ops.grants(Holder::Client(&svc)).allows(AuditRead, None));
    ops.refused(
        &["role", "grant", "auditor", "--client", &owned],
        "belongs to an organization",
    );
    ops.ok(&[
        "role", "grant", "auditor", "--client", &owned, "--org", "acme",
    ]);
    let g = ops.grants(Holder::Client(&owned));
    assert!(g.allows(AuditRead, Some(&acme)) && !g.allows(AuditRead, None));
    // A client is never a member.
    assert_eq!(
        ops.json(&["org", "member", "list", "acme", "--json"]),
        json!([])
    );
    ops.refused(
        &["role", "grant", "auditor", "--client", "nope"],
        "not found",
    );
    let review = ops.json(&["role", "review", "--json"]);
    assert_eq!(review.as_array().unwrap().len(), 2);
    assert!(review
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["holder_type"] == "client"));
}

#[test]
fn a_just_in_time_grant_ends_by_itself_and_the_purge_deletes_and_audits_it() {
    let ops = Ops::new();
    let alice = ops.user("alice");
    ops.refused(
        &["role", "grant", "auditor", "--user", "alice", "--for", "2h"],
        "--reason",
    );
    ops.refused(
        &[
            "role", "grant", "auditor", "--user", "alice", "--for", "0h", "--reason", "x",
        ],
        "zero",
    );
    ops.refused(
        &[
            "role", "grant", "auditor", "--user", "alice", "--for", "2x", "--reason", "x",
        ],
        "unit",
    );
    ops.refused(
        &[
            "role", "grant", "auditor", "--user", "alice", "--for", "2h", "--reason", " ",
        ],
        "reason",
    );
    let before = portcullis::time::now();
    let granted = ops.json(&[
        "role", "grant", "auditor", "--user", "alice", "--for", "2h", "--reason", "INC-42",
        "--json",
    ]);
    assert_eq!(granted["created"], true);
    let until = granted["expires_at"].as_i64().unwrap();
    assert!((before + 7200..=portcullis::time::now() + 7200).contains(&until));
    assert!(ops.grants(Holder::User(&alice)).allows(AuditRead, None));
    // The end has come: the grant allows nothing, before any purge.
    assert!(ops.grants_at(Holder::User(&alice), until).is_empty());
    assert!(ops
        .grants_at(Holder::User(&alice), until - 1)
        .allows(AuditRead, None));

    ops.exec("UPDATE role_assignments SET expires_at = 1");
    assert!(ops.grants(Holder::User(&alice)).is_empty());
    let review = ops.json(&["role", "review", "--json"]);
    assert_eq!(review[0]["active"], false);
    assert_eq!(review[0]["reason"], "INC-42");

    let purged = ops.db(|c| {
        purge_expired(c, portcullis::time::now()).map_err(|e| match e {
            portcullis::admin::AdminError::Store(s) => s,
            other => panic!("{other}"),
        })
    });
    assert_eq!(purged, 1);
    assert_eq!(ops.counts()[4], 0, "no assignment left");
    let expired = ops.audit("role.expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].actor.as_deref(), Some("system"));
    assert_eq!(expired[0].target.as_deref(), Some(alice.as_str()));
    assert_eq!(detail(&expired[0])["reason"], "INC-42");
    assert_eq!(ops.json(&["role", "review", "--json"]), json!([]));
}

#[test]
fn granting_again_renews_the_grant_and_revoking_ends_it() {
    let ops = Ops::new();
    let alice = ops.user("alice");
    let first = ops.json(&[
        "role", "grant", "auditor", "--user", "alice", "--for", "2h", "--reason", "first", "--json",
    ]);
    let again = ops.json(&[
        "role", "grant", "auditor", "--user", "alice", "--for", "4h", "--reason", "second",
        "--json",
    ]);
    assert_eq!(again["created"], false);
    assert_eq!(again["assignment_id"], first["assignment_id"]);
    assert!(again["expires_at"].as_i64() > first["expires_at"].as_i64());
    let review = ops.json(&["role", "review", "--json"]);
    assert_eq!(review.as_array().unwrap().len(), 1);
    let entry = &review[0];
    assert_eq!(entry["holder"], "alice");
    assert_eq!(entry["holder_type"], "user");
    assert_eq!(entry["holder_id"], alice.as_str());
    assert_eq!(entry["role"], "auditor");
    assert_eq!(entry["scope"], "global");
    assert_eq!(entry["until"], again["expires_at"]);
    assert_eq!(entry["reason"], "second");
    assert_eq!(entry["granted_by"], "cli");
    assert_eq!(entry["last_used"], Value::Null);
    assert_eq!(entry["active"], true);
    assert!(entry["since"].is_i64());

    // Granting without --for makes it permanent.
    ops.ok(&["role", "grant", "auditor", "--user", "alice"]);
    assert_eq!(
        ops.json(&["role", "review", "--json"])[0]["until"],
        Value::Null
    );
    let text = ops.ok(&["role", "review"]);
    assert!(text.starts_with("HOLDER"), "{text}");
    assert!(text.contains("user:alice"), "{text}");

    // Last use shows in the review.
    let g = ops.grants(Holder::User(&alice));
    let ids = g.allowed_by(AuditRead, None);
    let now = portcullis::time::now();
    ops.db(move |c| portcullis::admin::rbac::touch(c, &ids, now));
    assert_eq!(ops.json(&["role", "review", "--json"])[0]["last_used"], now);

    ops.ok(&["role", "revoke", "auditor", "--user", "alice"]);
    assert!(ops.grants(Holder::User(&alice)).is_empty());
    ops.refused(
        &["role", "revoke", "auditor", "--user", "alice"],
        "no such grant",
    );

    let granted = ops.audit("role.granted");
    let renewed = ops.audit("role.grant_renewed");
    let revoked = ops.audit("role.revoked");
    assert_eq!((granted.len(), renewed.len(), revoked.len()), (1, 2, 1));
    for row in granted.iter().chain(&renewed).chain(&revoked) {
        assert_eq!(row.actor.as_deref(), Some("cli"));
        assert_eq!(row.target.as_deref(), Some(alice.as_str()));
    }
    assert_eq!(detail(&renewed[0])["reason"], "second");
    assert_eq!(detail(&granted[0])["role"], "auditor");
}

#[test]
fn grant_and_revoke_refuse_unknown_names_and_ambiguous_holders() {
    let ops = Ops::new();
    ops.user("alice");
    ops.service_client("batch");
    ops.refused(
        &["role", "grant", "auditor", "--user", "nobody"],
        "not found",
    );
    ops.refused(&["role", "grant", "nope", "--user", "alice"], "not found");
    ops.refused(
        &[
            "role", "grant", "auditor", "--user", "alice", "--org", "nope",
        ],
        "not found",
    );
    ops.refused(&["role", "grant", "auditor"], "--user");
    ops.refused(
        &[
            "role", "grant", "auditor", "--user", "alice", "--client", "x",
        ],
        "cannot be used with",
    );
    ops.refused(
        &["role", "revoke", "auditor", "--user", "alice"],
        "no such grant",
    );
    ops.refused(
        &["role", "revoke", "auditor", "--user", "nobody"],
        "not found",
    );
}

#[test]
fn the_permission_catalogue_is_listed_and_documented_in_the_readme() {
    let ops = Ops::new();
    let list = ops.json(&["role", "permissions", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), Permission::ALL.len());
    assert_eq!(
        list[0],
        json!({
            "name": "clients:read",
            "description": ClientsRead.description(),
            "read_only": true,
            "global_only": false,
        })
    );
    let keys = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "keys:rotate")
        .unwrap();
    assert_eq!(keys["global_only"], true);

    let readme = include_str!("../../README.md");
    for p in Permission::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", p.name())),
            "README lacks a row for {p}"
        );
    }
    for command in [
        "portcullis org add",
        "portcullis org member add",
        "portcullis role add",
        "portcullis role grant",
        "portcullis role review",
        "portcullis role permissions",
    ] {
        assert!(readme.contains(command), "README lacks {command}");
    }
}

#[test]
fn an_upgrade_turns_old_admin_holders_into_super_admins_and_keeps_custom_roles() {
    let ops = Ops::new();
    loop {
        let reverted = ops.store.run_sync(migrations::revert_last).unwrap();
        if reverted.contains("000018") {
            break;
        }
    }
    ops.exec(
        "INSERT INTO users (id, username, email, email_verified, disabled, failed_logins, \
         created_at, updated_at, signup_pending, phone_number_verified) VALUES \
         ('u-admin', 'root', 'root@example.com', FALSE, FALSE, 0, 1, 1, FALSE, FALSE), \
         ('u-ops', 'olga', 'olga@example.com', FALSE, FALSE, 0, 1, 1, FALSE, FALSE); \
         INSERT INTO roles (id, name, description, parent_id, created_at) VALUES \
         ('r-ops', 'ops', 'Operations', 'admin', 2), \
         ('r-aud', 'auditor', 'An old custom auditor', NULL, 3); \
         INSERT INTO user_roles (user_id, role_id, created_at) VALUES \
         ('u-admin', 'admin', 5), ('u-ops', 'r-ops', 6);",
    );
    let applied = ops.store.run_sync(migrations::run_pending).unwrap();
    assert!(applied[0].contains("000018"), "{applied:?}");

    let review = ops.json(&["role", "review", "--json"]);
    let held: Vec<(&str, &str, &str)> = review
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["holder"].as_str().unwrap(),
                e["role"].as_str().unwrap(),
                e["scope"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        held,
        [("root", "super_admin", "global"), ("olga", "ops", "global")]
    );
    assert_eq!(review[0]["since"], 5);
    let g = ops.grants(Holder::User("u-admin"));
    assert!(g.allows(KeysRotate, None));
    // The old custom role now inherits from super_admin; one named like a built-in role
    // got a suffix.
    let list = ops.json(&["role", "list", "--json"]);
    assert_eq!(role(&list, "ops")["parent"], "super_admin");
    assert_eq!(role(&list, "ops")["builtin"], false);
    assert_eq!(
        role(&list, "auditor_custom")["description"],
        "An old custom auditor"
    );
    assert_eq!(role(&list, "auditor")["builtin"], true);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] != "admin"));
}

#[tokio::test]
async fn the_periodic_purge_of_the_server_ends_expired_grants_and_keeps_the_others() {
    let app = crate::helpers::spawn_app_with(|f| f.merge(("session.purge_interval_secs", 1))).await;
    let alice = app.create_user("alice", crate::helpers::PASSWORD).await;
    let id = alice.clone();
    app.db(move |c| {
        portcullis::store::roles::grant(c, &id, "auditor", 0)?;
        portcullis::store::roles::insert_assignment(
            c,
            &portcullis::store::roles::NewAssignment {
                id: "jit",
                role_id: "super_admin",
                user_id: Some(&id),
                client_id: None,
                org_id: None,
                reason: Some("INC-7"),
                granted_by: Some("cli"),
                created_at: 0,
                expires_at: Some(1),
            },
        )
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let expired = loop {
        let rows = app.db(|c| portcullis::store::audit::recent(c, 100)).await;
        if let Some(row) = rows.into_iter().find(|r| r.action == "role.expired") {
            break row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no role.expired event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(expired.actor.as_deref(), Some("system"));
    assert_eq!(expired.target.as_deref(), Some(alice.as_str()));
    assert_eq!(detail(&expired)["assignment_id"], "jit");
    let id = alice.clone();
    let left = app
        .db(move |c| {
            portcullis::store::roles::live_assignments(
                c,
                Some(&id),
                None,
                portcullis::store::roles::AssignmentScope::All,
                0,
            )
        })
        .await;
    let roles: Vec<&str> = left.iter().map(|a| a.role_id.as_str()).collect();
    assert_eq!(roles, ["auditor"]);
}

#[test]
fn global_roles_and_organizations_roles_never_share_a_name() {
    // An organization's "ops" would hide a global "ops" from `--org` commands: a global grant
    // of it inside the organization could no longer be revoked.
    let ops = Ops::new();
    ops.ok(&["org", "add", "acme"]);
    ops.ok(&["org", "add", "globex"]);
    ops.ok(&["role", "add", "ops", "--permission", "users:read"]);
    ops.refused(
        &["role", "add", "ops", "--org", "acme"],
        "need different names",
    );
    ops.ok(&["role", "add", "support", "--org", "acme"]);
    // Two organizations may each have their own.
    ops.ok(&["role", "add", "support", "--org", "globex"]);
    ops.refused(&["role", "add", "support"], "need different names");
}

#[test]
fn the_purge_leaves_a_grant_renewed_after_it_was_read_as_expired() {
    let ops = Ops::new();
    let alice = ops.user("alice");
    ops.ok(&[
        "role", "grant", "auditor", "--user", "alice", "--for", "2h", "--reason", "INC-1",
    ]);
    ops.exec("UPDATE role_assignments SET expires_at = 1");
    let now = portcullis::time::now();
    let stale = ops.db(|c| portcullis::store::roles::expired(c, now));
    assert_eq!(stale.len(), 1);
    // Renewed by another operator between the purge's read and its delete.
    ops.ok(&[
        "role", "grant", "auditor", "--user", "alice", "--for", "2h", "--reason", "INC-2",
    ]);
    let id = stale[0].id.clone();
    assert!(!ops.db(move |c| portcullis::store::roles::delete_if_expired(c, &id, now)));
    let purged = ops.db(|c| {
        purge_expired(c, now).map_err(|e| match e {
            portcullis::admin::AdminError::Store(s) => s,
            other => panic!("{other}"),
        })
    });
    assert_eq!(purged, 0);
    assert!(ops.grants(Holder::User(&alice)).allows(AuditRead, None));
    assert!(ops.audit("role.expired").is_empty());
}
