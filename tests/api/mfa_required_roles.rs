//! `mfa.required_roles` after roles gained inheritance and organizations: a role held in an
//! organization, a role inheriting from a required one, and the old name `admin` all keep
//! the requirement, so an upgrade never lets an administrator in with only a password.

use crate::helpers::{location, spawn_app_with, TestApp, PASSWORD};

async fn app_requiring(roles: Vec<&'static str>) -> TestApp {
    spawn_app_with(move |f| f.merge(("mfa.required_roles", roles))).await
}

fn cli_ok(app: &TestApp, args: &[&str]) {
    let out = app.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the password alone leads: "/" when no second factor is demanded.
async fn after_password(app: &TestApp, username: &str) -> String {
    let resp = app.login(username, PASSWORD).await;
    assert_eq!(resp.status(), 303);
    location(&resp)
}

fn must_set_up_a_second_factor(to: &str) {
    assert!(to.starts_with("/login/mfa"), "{to}");
}

#[tokio::test]
async fn the_old_name_admin_still_means_the_super_admins() {
    let app = app_requiring(vec!["admin"]).await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("bob", PASSWORD).await;
    app.grant_role("alice", "super_admin").await;
    assert_eq!(after_password(&app, "bob").await, "/");
    must_set_up_a_second_factor(&after_password(&app, "alice").await);
}

#[tokio::test]
async fn a_role_inheriting_from_a_required_role_requires_a_second_factor_too() {
    let app = app_requiring(vec!["super_admin"]).await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("bob", PASSWORD).await;
    cli_ok(&app, &["role", "add", "ops", "--parent", "super_admin"]);
    cli_ok(
        &app,
        &["role", "add", "helpdesk", "--permission", "users:read"],
    );
    cli_ok(&app, &["role", "grant", "ops", "--user", "alice"]);
    cli_ok(&app, &["role", "grant", "helpdesk", "--user", "bob"]);
    assert_eq!(after_password(&app, "bob").await, "/");
    must_set_up_a_second_factor(&after_password(&app, "alice").await);
}

#[tokio::test]
async fn a_required_role_held_in_an_organization_requires_a_second_factor() {
    let app = app_requiring(vec!["org_admin"]).await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("bob", PASSWORD).await;
    cli_ok(&app, &["org", "add", "acme"]);
    cli_ok(
        &app,
        &[
            "role",
            "grant",
            "org_admin",
            "--user",
            "alice",
            "--org",
            "acme",
        ],
    );
    cli_ok(&app, &["org", "member", "add", "acme", "bob"]);
    assert_eq!(after_password(&app, "bob").await, "/");
    must_set_up_a_second_factor(&after_password(&app, "alice").await);
}
