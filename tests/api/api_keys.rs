//! API keys: created, listed, rotated and revoked through the operator's CLI, presented to
//! `admin::api_keys::authenticate` in-process (the admin API that will call it is not routed
//! yet). Every refusal is the same error to the caller; tests read the reason only to prove
//! that the intended check refused it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use diesel::prelude::*;
use portcullis::admin::api_keys::{self, ApiKeyCaller, ApiKeyError, Refusal};
use portcullis::admin::permissions::{BuiltinRole, Permission};
use portcullis::store::api_keys::ApiKeyRow;
use portcullis::store::schema::{
    api_keys as k, audit_events, clients, organizations, role_assignments, roles, users,
};
use serde_json::Value;

use crate::cli::{assert_exit, stdout};
use crate::helpers::{spawn_app, TestApp, PASSWORD};

const ANYWHERE: &str = "203.0.113.7";

fn now() -> i64 {
    portcullis::time::now()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Runs `apikey add ... --json`; returns (id, key).
fn add(app: &TestApp, args: &[&str]) -> (String, String) {
    let mut all = vec!["apikey", "add", "--json"];
    all.extend_from_slice(args);
    let out = app.cli(&all);
    assert_exit(&out, 0, "");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let obj = v.as_object().unwrap();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["id", "key"],
        "exactly the id and the key"
    );
    (
        v["id"].as_str().unwrap().to_owned(),
        v["key"].as_str().unwrap().to_owned(),
    )
}

fn add_auditor(app: &TestApp) -> (String, String) {
    add(app, &["--name", "ci", "--role", "auditor"])
}

async fn auth(app: &TestApp, key: &str, from: &str) -> Result<ApiKeyCaller, ApiKeyError> {
    api_keys::authenticate(&app.store, key, ip(from), now()).await
}

/// The key is refused, for `reason`.
async fn assert_refused(app: &TestApp, key: &str, from: &str, reason: Refusal) {
    match auth(app, key, from).await {
        Err(ApiKeyError::Refused(r)) => {
            assert_eq!(r, reason, "{key}");
            // The caller sees one message whatever the reason.
            assert_eq!(ApiKeyError::Refused(r).to_string(), "invalid API key");
        }
        other => panic!("{key}: expected a refusal, got {other:?}"),
    }
}

async fn row(app: &TestApp, id: &str) -> ApiKeyRow {
    let id = id.to_owned();
    app.db(move |c| Ok(k::table.find(id).select(ApiKeyRow::as_select()).first(c)?))
        .await
}

async fn set(app: &TestApp, id: &str, column: &'static str, value: Option<i64>) {
    let id = id.to_owned();
    app.db(move |c| {
        let q = diesel::update(k::table.find(id));
        match column {
            "expires_at" => q.set(k::expires_at.eq(value)).execute(c)?,
            "previous_expires_at" => q.set(k::previous_expires_at.eq(value)).execute(c)?,
            "last_used_at" => q.set(k::last_used_at.eq(value)).execute(c)?,
            _ => unreachable!(),
        };
        Ok(())
    })
    .await
}

/// (action, actor, target, detail) of every `apikey.*` audit event, oldest first.
async fn key_events(app: &TestApp) -> Vec<(String, Option<String>, Option<String>, String)> {
    app.db(|c| {
        Ok(audit_events::table
            .filter(audit_events::action.like("apikey.%"))
            .order(audit_events::occurred_at.asc())
            .select((
                audit_events::action,
                audit_events::actor,
                audit_events::target,
                audit_events::detail,
            ))
            .load(c)?)
    })
    .await
}

async fn key_count(app: &TestApp) -> i64 {
    app.db(|c| Ok(k::table.count().get_result(c)?)).await
}

async fn add_org(app: &TestApp, name: &'static str) -> String {
    let id = format!("org-{name}");
    let org_id = id.clone();
    app.db(move |c| {
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(&org_id),
                organizations::name.eq(name),
                organizations::display_name.eq(name),
                organizations::created_at.eq(0),
                organizations::updated_at.eq(0),
            ))
            .execute(c)?;
        Ok(())
    })
    .await;
    id
}

async fn assign(app: &TestApp, user_id: &str, role: &'static str, org: Option<&str>) {
    let (user_id, org) = (user_id.to_owned(), org.map(str::to_owned));
    app.db(move |c| {
        diesel::insert_into(role_assignments::table)
            .values((
                role_assignments::id.eq(format!("{user_id}-{role}")),
                role_assignments::role_id.eq(role),
                role_assignments::user_id.eq(&user_id),
                role_assignments::org_id.eq(org),
                role_assignments::created_at.eq(0),
            ))
            .execute(c)?;
        Ok(())
    })
    .await
}

fn perms(role: BuiltinRole) -> BTreeSet<Permission> {
    role.permissions().into_iter().collect()
}

#[tokio::test]
async fn an_operator_key_acts_with_its_roles_permissions() {
    let app = spawn_app().await;
    let (id, key) = add_auditor(&app);
    assert!(key.starts_with(&format!("pcl_{id}_")), "{key}");
    assert_eq!(key.len(), 4 + 24 + 1 + 43);

    let caller = auth(&app, &key, ANYWHERE).await.unwrap();
    assert_eq!(caller.key_id, id);
    assert_eq!(caller.name, "ci");
    assert_eq!(caller.owner, None);
    assert_eq!(caller.org_id, None);
    assert_eq!(caller.permissions, perms(BuiltinRole::Auditor));
    assert!(caller.allows(Permission::AuditRead, None));
    assert!(caller.allows(Permission::AuditRead, Some("any-org")));
    assert!(!caller.allows(Permission::UsersWrite, None));

    let events = key_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "apikey.created");
    assert_eq!(events[0].1.as_deref(), Some("cli"));
    assert_eq!(events[0].2.as_deref(), Some(id.as_str()));
    let r = row(&app, &id).await;
    assert_eq!(r.created_by.as_deref(), Some("cli"));
    assert_eq!(r.role_id, "auditor");
    assert_eq!(r.expires_at, None);
}

#[tokio::test]
async fn the_plain_output_shows_the_key_once_with_a_warning() {
    let app = spawn_app().await;
    let out = app.cli(&["apikey", "add", "--name", "ops", "--role", "auditor"]);
    assert_exit(&out, 0, "");
    let text = stdout(&out);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .expect("a key line")
        .trim()
        .to_owned();
    assert!(text.contains("not shown again"), "{text}");
    assert!(auth(&app, &key, ANYWHERE).await.is_ok());
}

#[tokio::test]
async fn wrong_secret_wrong_id_truncated_and_foreign_keys_are_refused() {
    let app = spawn_app().await;
    let (id, key) = add_auditor(&app);
    let secret = &key[29..];
    let mut other_secret = secret.to_owned();
    let flipped = if other_secret.ends_with('A') {
        "B"
    } else {
        "A"
    };
    other_secret.replace_range(42.., flipped);
    let wrong_secret = format!("pcl_{id}_{other_secret}");
    let wrong_id = format!("pcl_{}_{secret}", "0".repeat(24));
    let other_prefix = key.replacen("pcl_", "pat_", 1);
    let upper = format!("PCL_{}", &key[4..]);

    assert_refused(&app, &wrong_secret, ANYWHERE, Refusal::WrongSecret).await;
    assert_refused(&app, &wrong_id, ANYWHERE, Refusal::UnknownId).await;
    for malformed in [
        &key[..key.len() - 1],
        &key[..28],
        "",
        secret,
        &other_prefix,
        &upper,
        &format!("{key} "),
        &format!("Bearer {key}"),
    ] {
        assert_refused(&app, malformed, ANYWHERE, Refusal::Malformed).await;
    }
    // Nothing was recorded for the refused attempts.
    let r = row(&app, &id).await;
    assert_eq!((r.last_used_at, r.last_used_ip), (None, None));
    assert!(auth(&app, &key, ANYWHERE).await.is_ok());
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = spawn_app().await;
    let (id, key) = add(
        &app,
        &["--name", "n", "--role", "auditor", "--expires-in", "2h"],
    );
    let expires = row(&app, &id).await.expires_at.unwrap();
    assert!((expires - (now() + 7200)).abs() <= 5, "{expires}");
    assert!(auth(&app, &key, ANYWHERE).await.is_ok());

    set(&app, &id, "expires_at", Some(now() - 1)).await;
    assert_refused(&app, &key, ANYWHERE, Refusal::Expired).await;
    // An expired key cannot be brought back by rotating it.
    let out = app.cli(&["apikey", "rotate", &id]);
    assert_exit(&out, 2, "expired");
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let app = spawn_app().await;
    let (id, key) = add_auditor(&app);
    assert!(auth(&app, &key, ANYWHERE).await.is_ok());

    let out = app.cli(&["apikey", "revoke", &id]);
    assert_exit(&out, 0, "");
    assert!(stdout(&out).contains(&format!("revoked API key {id}")));
    assert_refused(&app, &key, ANYWHERE, Refusal::Revoked).await;
    assert!(row(&app, &id).await.revoked_at.is_some());

    // Again: nothing changes and nothing more is audited.
    let out = app.cli(&["apikey", "revoke", &id]);
    assert_exit(&out, 0, "");
    assert!(stdout(&out).contains("already revoked"));
    let actions: Vec<String> = key_events(&app).await.into_iter().map(|e| e.0).collect();
    assert_eq!(actions, ["apikey.created", "apikey.revoked"]);

    // A revoked key cannot be rotated back to life.
    assert_exit(&app.cli(&["apikey", "rotate", &id]), 2, "revoked");
    assert_exit(
        &app.cli(&["apikey", "revoke", "0123456789abcdef01234567"]),
        2,
        "no API key with id",
    );
    assert_eq!(key_events(&app).await.len(), 2);
}

#[tokio::test]
async fn a_key_with_an_allow_list_works_only_from_those_addresses() {
    let app = spawn_app().await;
    let (id, key) = add(
        &app,
        &[
            "--name",
            "deploy",
            "--role",
            "auditor",
            "--allow-ip",
            "10.0.0.0/8",
            "--allow-ip",
            "2001:db8::/32",
            "--allow-ip",
            "::ffff:192.0.2.0/120",
            "--allow-ip",
            "198.51.100.9",
        ],
    );
    assert_eq!(
        row(&app, &id).await.allowed_cidrs,
        r#"["10.0.0.0/8","2001:db8::/32","192.0.2.0/24","198.51.100.9/32"]"#
    );
    for inside in [
        "10.1.2.3",
        "::ffff:10.1.2.3",
        "2001:db8::42",
        "192.0.2.200",
        "::ffff:192.0.2.1",
        "198.51.100.9",
    ] {
        assert!(auth(&app, &key, inside).await.is_ok(), "{inside}");
    }
    for outside in [
        "11.0.0.1",
        "::ffff:11.0.0.1",
        "2001:db9::1",
        "198.51.100.10",
        "::1",
        "127.0.0.1",
        "::a00:1", // IPv4-compatible, not mapped: not 10.0.0.1
    ] {
        assert_refused(&app, &key, outside, Refusal::AddressNotAllowed).await;
    }
}

#[tokio::test]
async fn a_rotated_key_keeps_the_old_secret_for_the_overlap_only() {
    let app = spawn_app().await;
    let (id, old) = add_auditor(&app);
    let out = app.cli(&["apikey", "rotate", &id, "--overlap", "1h", "--json"]);
    assert_exit(&out, 0, "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], id.as_str());
    let new = v["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(new.starts_with(&format!("pcl_{id}_")));
    let until = v["previous_valid_until"].as_i64().unwrap();
    assert!((until - (now() + 3600)).abs() <= 5);

    assert!(auth(&app, &old, ANYWHERE).await.is_ok());
    assert!(auth(&app, &new, ANYWHERE).await.is_ok());

    set(&app, &id, "previous_expires_at", Some(now() - 1)).await;
    assert_refused(&app, &old, ANYWHERE, Refusal::WrongSecret).await;
    assert!(auth(&app, &new, ANYWHERE).await.is_ok());

    // Without an overlap the previous secret stops at once; the one before is long gone.
    let out = app.cli(&["apikey", "rotate", &id, "--overlap", "0", "--json"]);
    assert_exit(&out, 0, "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = v["key"].as_str().unwrap().to_owned();
    assert_refused(&app, &new, ANYWHERE, Refusal::WrongSecret).await;
    assert_refused(&app, &old, ANYWHERE, Refusal::WrongSecret).await;
    assert!(auth(&app, &newest, ANYWHERE).await.is_ok());

    // Revoking ends the overlap too.
    let out = app.cli(&["apikey", "rotate", &id, "--json"]);
    let last: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = last["key"].as_str().unwrap().to_owned();
    assert!(auth(&app, &newest, ANYWHERE).await.is_ok());
    assert_exit(&app.cli(&["apikey", "revoke", &id]), 0, "");
    assert_refused(&app, &newest, ANYWHERE, Refusal::WrongSecret).await;
    assert_refused(&app, &last, ANYWHERE, Refusal::Revoked).await;

    let actions: Vec<String> = key_events(&app).await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        actions,
        [
            "apikey.created",
            "apikey.rotated",
            "apikey.rotated",
            "apikey.rotated",
            "apikey.revoked"
        ]
    );
    for bad in ["-1h", "1.5h", "0s", "soon", ""] {
        let out = app.cli(&["apikey", "rotate", &id, "--overlap", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    assert_exit(
        &app.cli(&["apikey", "rotate", "nope"]),
        2,
        "no API key with id",
    );
    assert_eq!(key_events(&app).await.len(), 5);
}

#[tokio::test]
async fn a_key_never_holds_more_than_its_owner_holds_now() {
    let app = spawn_app().await;
    let alice = app.create_user("alice", PASSWORD).await;
    assign(&app, &alice, "super_admin", None).await;
    let (id, key) = add(
        &app,
        &["--name", "alice's", "--role", "auditor", "--owner", "alice"],
    );
    let caller = auth(&app, &key, ANYWHERE).await.unwrap();
    assert_eq!(caller.owner, Some(api_keys::Owner::User(alice.clone())));
    assert_eq!(caller.permissions, perms(BuiltinRole::Auditor));
    assert_eq!(row(&app, &id).await.owner_user_id, Some(alice.clone()));

    // Alice is demoted to a role with no permission: so is the key, at its next use.
    let alice_id = alice.clone();
    app.db(move |c| {
        diesel::update(role_assignments::table.filter(role_assignments::user_id.eq(&alice_id)))
            .set(role_assignments::role_id.eq("member"))
            .execute(c)?;
        Ok(())
    })
    .await;
    let caller = auth(&app, &key, ANYWHERE).await.unwrap();
    assert!(caller.permissions.is_empty(), "{:?}", caller.permissions);
    assert!(!caller.allows(Permission::AuditRead, None));

    // A just-in-time grant that ended grants nothing either.
    let alice_id = alice.clone();
    app.db(move |c| {
        diesel::update(role_assignments::table.filter(role_assignments::user_id.eq(&alice_id)))
            .set((
                role_assignments::role_id.eq("super_admin"),
                role_assignments::expires_at.eq(Some(portcullis::time::now() - 1)),
            ))
            .execute(c)?;
        Ok(())
    })
    .await;
    assert!(auth(&app, &key, ANYWHERE)
        .await
        .unwrap()
        .permissions
        .is_empty());

    // A disabled owner's keys stop working.
    let alice_id = alice.clone();
    app.db(move |c| {
        diesel::update(users::table.find(&alice_id))
            .set(users::disabled.eq(true))
            .execute(c)?;
        Ok(())
    })
    .await;
    assert_refused(&app, &key, ANYWHERE, Refusal::OwnerUnusable).await;
}

#[tokio::test]
async fn a_key_whose_role_exceeds_its_owner_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let bob = app.create_user("bob", PASSWORD).await;
    assign(&app, &bob, "auditor", None).await;
    let out = app.cli(&[
        "apikey",
        "add",
        "--name",
        "x",
        "--role",
        "org_admin",
        "--owner",
        "bob",
    ]);
    assert_exit(&out, 2, "permissions the owner lacks: clients:write");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("clients:read"));
    // Within bob's permissions it works.
    add(
        &app,
        &["--name", "x", "--role", "auditor", "--owner", "bob"],
    );
    assert_eq!(key_count(&app).await, 1);
    assert_eq!(key_events(&app).await.len(), 1);
}

#[tokio::test]
async fn an_organizations_key_acts_only_inside_it() {
    let app = spawn_app().await;
    let acme = add_org(&app, "acme").await;
    add_org(&app, "globex").await;
    let (id, key) = add(
        &app,
        &["--name", "acme ci", "--role", "org_admin", "--org", "acme"],
    );
    assert_eq!(row(&app, &id).await.org_id.as_deref(), Some(acme.as_str()));
    let caller = auth(&app, &key, ANYWHERE).await.unwrap();
    assert_eq!(caller.org_id.as_deref(), Some(acme.as_str()));
    // Signing keys are global: no key of an organization holds them.
    assert!(!caller.permissions.contains(&Permission::KeysRotate));
    assert!(!caller.permissions.contains(&Permission::KeysRead));
    assert!(caller.allows(Permission::ClientsWrite, Some(&acme)));
    assert!(!caller.allows(Permission::ClientsWrite, None));
    assert!(!caller.allows(Permission::ClientsWrite, Some("org-globex")));

    // An owner who is org_admin of acme only can make acme keys, not global ones.
    let carol = app.create_user("carol", PASSWORD).await;
    assign(&app, &carol, "org_admin", Some(&acme)).await;
    add(
        &app,
        &[
            "--name", "c", "--role", "auditor", "--org", "acme", "--owner", "carol",
        ],
    );
    let out = app.cli(&[
        "apikey", "add", "--name", "c", "--role", "auditor", "--owner", "carol",
    ]);
    assert_exit(&out, 2, "permissions the owner lacks");
    let out = app.cli(&[
        "apikey", "add", "--name", "c", "--role", "auditor", "--org", "globex", "--owner", "carol",
    ]);
    assert_exit(&out, 2, "permissions the owner lacks");

    // Listing by organization.
    let out = app.cli(&["apikey", "list", "--org", "acme", "--json"]);
    assert_exit(&out, 0, "");
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|k| k["org"] == "acme"));
    let out = app.cli(&["apikey", "list", "--org", "globex", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn bad_input_exits_2_and_writes_nothing() {
    let app = spawn_app().await;
    let acme = add_org(&app, "acme").await;
    add_org(&app, "globex").await;
    app.create_user("dave", PASSWORD).await;
    // A custom role of globex is not grantable in acme.
    app.db(|c| {
        diesel::insert_into(roles::table)
            .values((
                roles::id.eq("globex-ops"),
                roles::org_id.eq(Some("org-globex")),
                roles::name.eq("ops"),
                roles::created_at.eq(0),
                roles::updated_at.eq(0),
            ))
            .execute(c)?;
        Ok(())
    })
    .await;
    let long = "x".repeat(101);
    let base = ["apikey", "add", "--name", "n", "--role", "auditor"];
    let with = |extra: &[&'static str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["apikey", "add", "--name", "n", "--role", "nope"],
            "no role named",
        ),
        (
            vec![
                "apikey", "add", "--name", "n", "--role", "ops", "--org", "acme",
            ],
            "no role named",
        ),
        (
            vec!["apikey", "add", "--name", "n", "--role", "ops"],
            "no role named",
        ),
        (with(&["--org", "nope"]), "no organization named"),
        (with(&["--owner", "nobody"]), "no user named"),
        (with(&["--owner-client", "nope"]), "no client with id"),
        (with(&["--allow-ip", "10.0.0.1/8"]), "host bits"),
        (
            with(&["--allow-ip", "10.0.0.0/33"]),
            "invalid address range",
        ),
        (
            with(&["--allow-ip", "example.com"]),
            "invalid address range",
        ),
        (with(&["--allow-ip", ""]), "invalid address range"),
        (with(&["--expires-in", "0h"]), "zero"),
        (with(&["--expires-in", "2"]), "no unit"),
        (with(&["--expires-in", "3651d"]), "ten years"),
        (
            vec!["apikey", "add", "--name", "", "--role", "auditor"],
            "empty",
        ),
        (
            vec!["apikey", "add", "--name", "  ", "--role", "auditor"],
            "empty",
        ),
        (
            vec!["apikey", "add", "--name", &long, "--role", "auditor"],
            "longer than 100",
        ),
        (
            vec!["apikey", "add", "--name", "a\u{7}b", "--role", "auditor"],
            "control",
        ),
        (
            vec![
                "apikey",
                "add",
                "--name",
                "n",
                "--role",
                "super_admin",
                "--org",
                "acme",
            ],
            "super_admin is global",
        ),
        (vec!["apikey", "add", "--role", "auditor"], "--name"),
        (vec!["apikey", "add", "--name", "n"], "--role"),
        (
            with(&["--owner", "dave", "--owner-client", "x"]),
            "cannot be used with",
        ),
        (
            vec!["apikey", "list", "--org", "nope"],
            "no organization named",
        ),
    ];
    for (args, needle) in &cases {
        let out = app.cli(args);
        assert_exit(&out, 2, needle);
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
    }
    assert_eq!(key_count(&app).await, 0);
    assert!(key_events(&app).await.is_empty());
    let _ = acme;
}

#[tokio::test]
async fn only_hashes_are_stored_and_no_secret_reaches_the_audit_log() {
    let app = spawn_app().await;
    let (id, key) = add_auditor(&app);
    let out = app.cli(&["apikey", "rotate", &id, "--json"]);
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = rotated["key"].as_str().unwrap().to_owned();
    let r = row(&app, &id).await;
    let hash = |s: &str| portcullis::crypto::token::hash(s);
    assert_eq!(r.secret_hash, hash(&new[29..]));
    assert_eq!(r.previous_secret_hash, Some(hash(&key[29..])));

    let stored = format!("{r:?}");
    let audit: Vec<String> = app
        .db(|c| {
            Ok(audit_events::table
                .select((audit_events::target, audit_events::detail))
                .load::<(Option<String>, String)>(c)?
                .into_iter()
                .map(|(t, d)| format!("{t:?} {d}"))
                .collect())
        })
        .await;
    let listing = stdout(&app.cli(&["apikey", "list", "--json"]));
    let table = stdout(&app.cli(&["apikey", "list"]));
    for secret in [&key[29..], &new[29..]] {
        assert!(!stored.contains(secret));
        assert!(audit.iter().all(|a| !a.contains(secret)), "{audit:?}");
        assert!(!listing.contains(secret) && !table.contains(secret));
    }
    // Listings do not show hashes either.
    assert!(!listing.contains(&r.secret_hash) && !listing.contains("hash"));
}

#[tokio::test]
async fn the_last_use_is_recorded_at_most_once_a_minute() {
    let app = spawn_app().await;
    let (id, key) = add_auditor(&app);
    let before = now();
    auth(&app, &key, "::ffff:10.9.8.7").await.unwrap();
    let r = row(&app, &id).await;
    assert!(r.last_used_at.unwrap() >= before);
    assert_eq!(r.last_used_ip.as_deref(), Some("10.9.8.7"));

    // Within the minute: no write, even from another address.
    auth(&app, &key, "10.0.0.2").await.unwrap();
    let again = row(&app, &id).await;
    assert_eq!(again.last_used_ip.as_deref(), Some("10.9.8.7"));
    assert_eq!(again.last_used_at, r.last_used_at);

    // A minute later the next use is recorded.
    set(&app, &id, "last_used_at", Some(now() - 61)).await;
    auth(&app, &key, "2001:db8::1").await.unwrap();
    let later = row(&app, &id).await;
    assert_eq!(later.last_used_ip.as_deref(), Some("2001:db8::1"));
    assert!(later.last_used_at.unwrap() >= before);

    // The listing shows it.
    let out = app.cli(&["apikey", "list", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["last_used_ip"], "2001:db8::1");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["role"], "auditor");
    assert_eq!(list[0]["revoked_at"], Value::Null);
    assert_eq!(list[0]["allowed_cidrs"], serde_json::json!([]));
    let table = stdout(&app.cli(&["apikey", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("2001:db8::1"),
        "{table}"
    );
}

#[tokio::test]
async fn a_service_account_can_own_a_key() {
    let app = spawn_app().await;
    let out = app.cli(&[
        "client",
        "add",
        "--name",
        "svc",
        "--grant-type",
        "client_credentials",
        "--json",
    ]);
    assert_exit(&out, 0, "");
    let client: Value = serde_json::from_slice(&out.stdout).unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let holder = client_id.clone();
    app.db(move |c| {
        diesel::insert_into(role_assignments::table)
            .values((
                role_assignments::id.eq("svc-auditor"),
                role_assignments::role_id.eq("auditor"),
                role_assignments::client_id.eq(&holder),
                role_assignments::created_at.eq(0),
            ))
            .execute(c)?;
        Ok(())
    })
    .await;
    let out = app.cli(&[
        "apikey",
        "add",
        "--name",
        "svc",
        "--role",
        "org_admin",
        "--owner-client",
        &client_id,
    ]);
    assert_exit(&out, 2, "permissions the owner lacks");
    let (id, key) = add(
        &app,
        &[
            "--name",
            "svc",
            "--role",
            "auditor",
            "--owner-client",
            &client_id,
        ],
    );
    assert_eq!(
        row(&app, &id).await.owner_client_id,
        Some(client_id.clone())
    );
    let caller = auth(&app, &key, ANYWHERE).await.unwrap();
    assert_eq!(
        caller.owner,
        Some(api_keys::Owner::Client(client_id.clone()))
    );
    assert_eq!(caller.permissions, perms(BuiltinRole::Auditor));

    let out = app.cli(&["apikey", "list", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["owner_client"], client_id.as_str());
    assert_eq!(list[0]["owner_user"], Value::Null);

    // A disabled client's keys stop working.
    app.db(move |c| {
        diesel::update(clients::table.find(&client_id))
            .set(clients::disabled.eq(true))
            .execute(c)?;
        Ok(())
    })
    .await;
    assert_refused(&app, &key, ANYWHERE, Refusal::OwnerUnusable).await;
}
