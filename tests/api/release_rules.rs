//! Claims follow the client's current allowed scopes and the user's current consent: an
//! operator narrowing a client stops the release for tokens already issued and at refresh;
//! a consent to `profile` given before it released the full OIDC profile is asked again; an
//! operator can edit the profile of a legacy username.

use std::time::Duration;

use portcullis::accounts::profile;
use portcullis::clients::NewClient;
use portcullis::store::{clients as client_rows, migrations, DatabaseUrl, Store};
use serde_json::{json, Map, Value};

use crate::flow::{
    auth_params, authorize, redirect_params, register, token_post, tokens_for, verify_jwt,
    RpClient, REDIRECT,
};
use crate::helpers::{location, spawn_app, TestApp, PASSWORD};
use crate::standard_claims::{set_profile, FULL};

async fn client_with(app: &TestApp, id_token_claims: &str, scopes: &[&str]) -> RpClient {
    register(
        app,
        NewClient {
            name: "Example App".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            id_token_claims: Some(id_token_claims.into()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..NewClient::default()
        },
    )
    .await
}

/// What an operator does to take scopes away from a client after users granted them.
async fn set_allowed_scopes(app: &TestApp, client_id: &str, scopes: &[&str]) {
    let id = client_id.to_owned();
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let updated = app
        .db(move |c| {
            let mut client = client_rows::find(c, &id)?.unwrap();
            client.allowed_scopes = scopes;
            client_rows::update(c, &client)
        })
        .await;
    assert!(updated);
}

async fn userinfo(app: &TestApp, access_token: &Value) -> Map<String, Value> {
    let resp = crate::userinfo::userinfo(app, access_token.as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn refreshed(app: &TestApp, client: &RpClient, tokens: &Value) -> Value {
    let resp = token_post(
        app,
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn id_token(app: &TestApp, tokens: &Value) -> Map<String, Value> {
    verify_jwt(app, tokens["id_token"].as_str().unwrap())
        .await
        .1
}

fn assert_keys(claims: &Map<String, Value>, present: &[&str], absent: &[&str]) {
    for k in present {
        assert!(claims.contains_key(*k), "{k} missing from {claims:?}");
    }
    for k in absent {
        assert!(!claims.contains_key(*k), "{k} released in {claims:?}");
    }
}

const PROFILE_AND_PHONE: [&str; 6] = [
    "given_name",
    "birthdate",
    "picture",
    "preferred_username",
    "phone_number",
    "phone_number_verified",
];

#[tokio::test]
async fn scopes_taken_from_a_client_stop_releasing_claims_at_userinfo_and_on_refresh() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    set_profile(&app, "alice", &FULL).await;
    let all = [
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "offline_access",
    ];
    let client = client_with(&app, "all", &all).await;
    let tokens = tokens_for(
        &app,
        &client,
        &[("scope", "openid profile email phone offline_access")],
    )
    .await;
    assert_keys(
        &userinfo(&app, &tokens["access_token"]).await,
        &PROFILE_AND_PHONE,
        &[],
    );
    assert_keys(&id_token(&app, &tokens).await, &PROFILE_AND_PHONE, &[]);

    set_allowed_scopes(&app, &client.id, &["openid", "email", "offline_access"]).await;

    // The access token issued before still carries the scopes; its claims are gone.
    let info = userinfo(&app, &tokens["access_token"]).await;
    assert_keys(
        &info,
        &["sub", "email", "email_verified"],
        &PROFILE_AND_PHONE,
    );
    // A refresh narrows the scope to what the client is still allowed.
    let second = refreshed(&app, &client, &tokens).await;
    assert_eq!(second["scope"], "openid email offline_access");
    let (_, at) = verify_jwt(&app, second["access_token"].as_str().unwrap()).await;
    assert_eq!(at["scope"], "openid email offline_access");
    assert_keys(
        &id_token(&app, &second).await,
        &["email"],
        &PROFILE_AND_PHONE,
    );
    assert_keys(
        &userinfo(&app, &second["access_token"]).await,
        &["email"],
        &PROFILE_AND_PHONE,
    );
}

#[tokio::test]
async fn the_id_token_choice_and_the_claims_parameter_hold_on_refresh() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    set_profile(&app, "alice", &FULL).await;
    let client = client_with(
        &app,
        "phone",
        &[
            "openid",
            "profile",
            "email",
            "phone",
            "address",
            "offline_access",
        ],
    )
    .await;
    let claims = json!({
        "id_token": { "locale": null, "address": null },
        "userinfo": { "given_name": null },
    })
    .to_string();
    let tokens = tokens_for(
        &app,
        &client,
        &[
            ("scope", "openid email phone offline_access"),
            ("claims", &claims),
        ],
    )
    .await;
    let in_id_token = ["phone_number", "locale", "address"];
    let not_in_id_token = ["email", "given_name", "birthdate"];
    assert_keys(
        &id_token(&app, &tokens).await,
        &in_id_token,
        &not_in_id_token,
    );

    let second = refreshed(&app, &client, &tokens).await;
    assert_eq!(second["scope"], "openid email phone offline_access");
    assert_keys(
        &id_token(&app, &second).await,
        &in_id_token,
        &not_in_id_token,
    );
    assert_keys(
        &userinfo(&app, &second["access_token"]).await,
        &["email", "phone_number", "given_name"],
        &["locale", "birthdate", "address"],
    );

    // Taking `address` away drops the claim the parameter asked for, and nothing else.
    set_allowed_scopes(
        &app,
        &client.id,
        &["openid", "profile", "email", "phone", "offline_access"],
    )
    .await;
    let third = refreshed(&app, &client, &second).await;
    assert_eq!(third["scope"], "openid email phone offline_access");
    assert_keys(
        &id_token(&app, &third).await,
        &["phone_number", "locale"],
        &["address", "email"],
    );
}

/// The authorization request of `client` for `scope`, in a browser already signed in:
/// whether the consent page is shown.
async fn asks_for_consent(app: &TestApp, client: &RpClient, scope: &str) -> bool {
    let params = auth_params(client, &[("scope", scope)]);
    let resp = app.get(&crate::flow::authorize_path(&params)).await;
    assert_eq!(resp.status(), 303);
    location(&resp).starts_with("/consent")
}

/// Brings the app's database back to the schema before the profile migration, then
/// applies it (and what follows) again, as an upgrade from a release without it does.
async fn replay_the_profile_migration(app: &TestApp) {
    let store = Store::connect(
        DatabaseUrl::parse(&app.settings.database.url).unwrap(),
        1,
        Duration::from_secs(5),
    )
    .unwrap();
    loop {
        let reverted = store.run_sync(migrations::revert_last).unwrap();
        if reverted.contains("000012") {
            break;
        }
    }
    let applied = store.run_sync(migrations::run_pending).unwrap();
    assert!(applied[0].contains("000012"), "{applied:?}");
}

#[tokio::test]
async fn a_profile_consent_from_before_the_profile_migration_is_asked_again() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let old_default = ["openid", "profile", "email", "offline_access"];
    let profile_client = client_with(&app, "email", &old_default).await;
    let email_client = client_with(&app, "email", &old_default).await;
    tokens_for(&app, &profile_client, &[("scope", "openid profile")]).await;
    tokens_for(&app, &email_client, &[("scope", "openid email")]).await;
    assert!(!asks_for_consent(&app, &profile_client, "openid profile").await);
    assert!(!asks_for_consent(&app, &email_client, "openid email").await);

    replay_the_profile_migration(&app).await;

    // Clients keep the scopes the operator gave them; address and phone are opt-in.
    for client in [&profile_client, &email_client] {
        let id = client.id.clone();
        let stored = app.db(move |c| client_rows::find(c, &id)).await.unwrap();
        assert_eq!(stored.allowed_scopes, old_default);
    }

    // "profile" meant name and username when it was granted: the user is asked again.
    assert!(asks_for_consent(&app, &profile_client, "openid profile").await);
    let resp = authorize(
        &app,
        &auth_params(&profile_client, &[("scope", "openid profile")]),
        "allow",
    )
    .await;
    assert!(redirect_params(&resp).iter().any(|(k, _)| k == "code"));
    assert!(!asks_for_consent(&app, &profile_client, "openid profile").await);
    // A consent without "profile" still counts.
    assert!(!asks_for_consent(&app, &email_client, "openid email").await);
}

#[tokio::test]
async fn an_operator_updates_the_profile_of_a_legacy_username() {
    let app = spawn_app().await;
    let id = app.create_user("carol", PASSWORD).await;
    crate::usernames::rename_in_db(&app, "carol", "carol@legacy.test").await;

    let out = app.cli(&[
        "user",
        "update",
        "Carol@Legacy.test",
        "--given-name",
        "Carol",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["username"], "carol@legacy.test");
    assert_eq!(printed["given_name"], "Carol");
    let stored = app.db(move |c| profile::load(c, &id)).await.unwrap();
    assert_eq!(
        stored.get(portcullis::accounts::profile::Field::GivenName),
        Some("Carol")
    );
}
