//! `portcullis org ...`: organizations and members, their refusals (exit 2, nothing written)
//! and their JSON shapes, on either backend.

use serde_json::{json, Value};

use crate::rbac_support::{detail, Ops};

#[test]
fn organizations_are_added_listed_and_deleted_with_audit_events() {
    let ops = Ops::new();
    let acme = ops.json(&[
        "org",
        "add",
        "acme",
        "--display-name",
        "ACME Corp.",
        "--json",
    ]);
    assert_eq!(acme["name"], "acme");
    assert_eq!(acme["display_name"], "ACME Corp.");
    assert_eq!(
        (acme["members"].as_i64(), acme["clients"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(acme["id"].as_str().is_some_and(|id| id.len() >= 16));
    assert!(acme["created_at"].is_i64());
    let out = ops.ok(&["org", "add", "beta-2"]);
    assert!(out.starts_with("created organization beta-2 (id "), "{out}");

    let list = ops.json(&["org", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "beta-2"]);
    assert_eq!(list[1]["display_name"], "beta-2", "defaults to the name");
    let text = ops.ok(&["org", "list"]);
    assert!(
        text.starts_with("NAME") && text.contains("ACME Corp."),
        "{text}"
    );

    let created = ops.audit("org.created");
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].actor.as_deref(), Some("cli"));
    assert_eq!(
        created[0].target.as_ref(),
        acme["id"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(detail(&created[0])["name"], "acme");

    // Deleting takes the organization's roles, members and grants with it.
    ops.user("alice");
    ops.ok(&[
        "role",
        "add",
        "ops",
        "--org",
        "acme",
        "--permission",
        "users:read",
    ]);
    ops.ok(&["role", "grant", "ops", "--user", "alice", "--org", "acme"]);
    ops.ok(&["org", "delete", "acme"]);
    let [orgs, members, roles, perms, assignments, _] = ops.counts();
    assert_eq!((orgs, members, assignments, perms), (1, 0, 0, 0));
    assert_eq!(roles, 4, "only the built-in roles are left");
    let deleted = ops.audit("org.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(detail(&deleted[0])["members"], 1);
    assert_eq!(ops.json(&["role", "review", "--json"]), json!([]));
}

#[test]
fn an_organization_that_owns_clients_is_not_deleted() {
    let ops = Ops::new();
    ops.ok(&["org", "add", "acme"]);
    let client = ops.service_client("batch");
    let acme = ops.org_id("acme");
    ops.exec(&format!(
        "UPDATE clients SET org_id = '{acme}' WHERE client_id = '{client}'"
    ));
    ops.refused(&["org", "delete", "acme"], "owns 1 client");
    assert_eq!(ops.json(&["org", "list", "--json"])[0]["clients"], 1);
}

#[test]
fn members_are_added_listed_and_removed() {
    let ops = Ops::new();
    let alice = ops.user("alice");
    ops.user("bob");
    ops.ok(&["org", "add", "acme"]);
    assert!(ops
        .ok(&["org", "member", "add", "acme", "alice"])
        .contains("is now a member"));
    assert!(ops
        .ok(&["org", "member", "add", "acme", "Alice"])
        .contains("already was a member"));
    ops.ok(&["org", "member", "add", "acme", "bob"]);
    let members = ops.json(&["org", "member", "list", "acme", "--json"]);
    assert_eq!(members.as_array().unwrap().len(), 2);
    let first = &members[0];
    assert_eq!(first["username"], "alice");
    assert_eq!(first["user_id"], alice.as_str());
    assert_eq!(first["email"], "alice@example.com");
    assert!(first["joined_at"].is_i64());
    assert_eq!(ops.json(&["org", "list", "--json"])[0]["members"], 2);
    let text = ops.ok(&["org", "member", "list", "acme"]);
    assert!(
        text.starts_with("USERNAME") && text.contains("bob"),
        "{text}"
    );

    ops.ok(&["org", "member", "remove", "acme", "bob"]);
    let members = ops.json(&["org", "member", "list", "acme", "--json"]);
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(ops.audit("org.member_added").len(), 2);
    let removed = ops.audit("org.member_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(detail(&removed[0])["org"], "acme");
    assert_eq!(detail(&removed[0])["roles_revoked"], 0);
}

#[test]
fn every_refused_organization_command_exits_2_and_writes_nothing() {
    let ops = Ops::new();
    ops.user("alice");
    ops.ok(&["org", "add", "acme"]);
    let long = "a".repeat(64);
    let long_display = "x".repeat(101);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["org", "add", "Acme"], "not valid"),
        (vec!["org", "add", "--", "-acme"], "not valid"),
        (vec!["org", "add", "acme-"], "not valid"),
        (vec!["org", "add", "ac_me"], "not valid"),
        (vec!["org", "add", "ac me"], "not valid"),
        (vec!["org", "add", ""], "not valid"),
        (vec!["org", "add", &long], "not valid"),
        (vec!["org", "add", "acme"], "already exists"),
        (
            vec!["org", "add", "x", "--display-name", " "],
            "display name",
        ),
        (
            vec!["org", "add", "x", "--display-name", &long_display],
            "longer than",
        ),
        (
            vec!["org", "add", "x", "--display-name", "a\u{7}b"],
            "control",
        ),
        (vec!["org", "delete", "nope"], "not found"),
        (vec!["org", "member", "add", "acme", "nobody"], "not found"),
        (vec!["org", "member", "add", "nope", "alice"], "not found"),
        (
            vec!["org", "member", "remove", "acme", "alice"],
            "not a member",
        ),
        (vec!["org", "member", "list", "nope"], "not found"),
        (vec!["org", "member", "list"], "required"),
        (vec!["org", "frobnicate"], "unrecognized"),
        (vec!["role", "list", "--org", "nope"], "not found"),
    ];
    for (args, needle) in cases {
        ops.refused(&args, needle);
    }
}

#[test]
fn role_listings_have_stable_json_shapes() {
    let ops = Ops::new();
    ops.ok(&["org", "add", "acme"]);
    let created = ops.json(&[
        "role",
        "add",
        "viewer",
        "--org",
        "acme",
        "--parent",
        "auditor",
        "--permission",
        "clients:write",
        "--json",
    ]);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&created),
        [
            "builtin",
            "description",
            "effective_permissions",
            "id",
            "name",
            "org",
            "parent",
            "permissions"
        ]
    );
    assert_eq!(created["org"], "acme");
    assert_eq!(created["parent"], "auditor");
    ops.user("alice");
    let granted = ops.json(&[
        "role", "grant", "viewer", "--user", "alice", "--org", "acme", "--json",
    ]);
    assert_eq!(keys(&granted), ["assignment_id", "created", "expires_at"]);
    let review = ops.json(&["role", "review", "--json"]);
    assert_eq!(
        keys(&review[0]),
        [
            "active",
            "assignment_id",
            "granted_by",
            "holder",
            "holder_id",
            "holder_type",
            "last_used",
            "org_id",
            "reason",
            "role",
            "role_id",
            "scope",
            "since",
            "until"
        ]
    );
    assert_eq!(review[0]["scope"], "acme");
    assert_eq!(review[0]["role"], "viewer");
    let perms = ops.json(&["role", "permissions", "--json"]);
    assert_eq!(
        keys(&perms[0]),
        ["description", "global_only", "name", "read_only"]
    );
}
