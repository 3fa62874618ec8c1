//! Standard claims (OIDC Core §5.1): released by scope at userinfo (§5.4), by name through
//! the `claims` parameter (§5.5), into the ID token as the client chose, and listed in
//! discovery and on the consent page.

use portcullis::accounts::profile::{self, Field, ProfileChange};
use portcullis::audit::Actor;
use portcullis::clients::NewClient;
use serde_json::{json, Map, Value};

use crate::flow::{
    auth_params, authorize, confidential, param, redirect_params, register, tokens_for, verify_jwt,
    RpClient, REDIRECT,
};
use crate::helpers::{location, spawn_app, TestApp, PASSWORD};

/// A complete profile, as `portcullis user update` would set it.
pub(crate) const FULL: [(Field, &str); 19] = [
    (Field::Name, "Ada Lovelace"),
    (Field::GivenName, "Ada"),
    (Field::FamilyName, "Lovelace"),
    (Field::MiddleName, "King"),
    (Field::Nickname, "ada"),
    (Field::Profile, "https://people.example.com/ada"),
    (Field::Picture, "https://people.example.com/ada.png"),
    (Field::Website, "https://ada.example.com/"),
    (Field::Gender, "female"),
    (Field::Birthdate, "1815-12-10"),
    (Field::Zoneinfo, "Europe/London"),
    (Field::Locale, "en-GB"),
    (Field::PhoneNumber, "+44 20 7183 8750"),
    (Field::StreetAddress, "12 St James's Square"),
    (Field::Locality, "London"),
    (Field::Region, "Greater London"),
    (Field::PostalCode, "SW1Y 4LB"),
    (Field::Country, "United Kingdom"),
    (Field::Formatted, "12 St James's Square\nLondon SW1Y 4LB"),
];

/// Sets `fields` on a user's profile through the domain, as an operator.
pub(crate) async fn set_profile(app: &TestApp, username: &str, fields: &[(Field, &str)]) {
    let change = ProfileChange {
        fields: fields
            .iter()
            .map(|(f, v)| (*f, Some((*v).to_owned())))
            .collect(),
        phone_number_verified: Some(true),
        email_verified: None,
    };
    profile::update_by_username(&app.store, username, change, Actor::Cli)
        .await
        .expect("set the profile");
}

async fn userinfo(app: &TestApp, tokens: &Value) -> Map<String, Value> {
    let resp = crate::userinfo::userinfo(app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn id_token(app: &TestApp, tokens: &Value) -> Map<String, Value> {
    verify_jwt(app, tokens["id_token"].as_str().unwrap())
        .await
        .1
}

const PROFILE_CLAIMS: [&str; 14] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];

fn assert_keys(claims: &Map<String, Value>, present: &[&str], absent: &[&str]) {
    for k in present {
        assert!(claims.contains_key(*k), "{k} missing from {claims:?}");
    }
    for k in absent {
        assert!(!claims.contains_key(*k), "{k} released in {claims:?}");
    }
}

async fn alice_with_profile(app: &TestApp) {
    app.create_user("alice", PASSWORD).await;
    set_profile(app, "alice", &FULL).await;
}

#[tokio::test]
async fn userinfo_releases_each_scopes_claims_and_nothing_else() {
    let app = spawn_app().await;
    alice_with_profile(&app).await;
    let client = confidential(&app).await;

    let profile = userinfo(
        &app,
        &tokens_for(&app, &client, &[("scope", "openid profile")]).await,
    )
    .await;
    assert_keys(
        &profile,
        &PROFILE_CLAIMS,
        &[
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
            "address",
        ],
    );
    assert_eq!(profile["name"], "Ada Lovelace");
    assert_eq!(profile["given_name"], "Ada");
    assert_eq!(
        profile["preferred_username"], "alice",
        "the username unless set"
    );
    assert_eq!(profile["birthdate"], "1815-12-10");
    assert_eq!(profile["zoneinfo"], "Europe/London");
    assert_eq!(profile["locale"], "en-GB");
    assert_eq!(profile["picture"], "https://people.example.com/ada.png");
    assert!(profile["updated_at"].as_i64().unwrap() > 0);

    let contact = userinfo(
        &app,
        &tokens_for(&app, &client, &[("scope", "openid phone address")]).await,
    )
    .await;
    assert_keys(
        &contact,
        &["sub", "phone_number", "phone_number_verified", "address"],
        &["email", "given_name", "name", "updated_at"],
    );
    assert_eq!(contact["phone_number"], "+442071838750");
    assert_eq!(contact["phone_number_verified"], true);
    assert_eq!(
        contact["address"],
        json!({
            "formatted": "12 St James's Square\nLondon SW1Y 4LB",
            "street_address": "12 St James's Square",
            "locality": "London",
            "region": "Greater London",
            "postal_code": "SW1Y 4LB",
            "country": "United Kingdom",
        })
    );

    let email = userinfo(
        &app,
        &tokens_for(&app, &client, &[("scope", "openid email")]).await,
    )
    .await;
    assert_keys(
        &email,
        &["sub", "email", "email_verified"],
        &["name", "phone_number", "address"],
    );
}

#[tokio::test]
async fn claims_the_user_has_not_set_are_left_out() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let info = userinfo(
        &app,
        &tokens_for(&app, &client, &[("scope", "openid profile phone address")]).await,
    )
    .await;
    assert_keys(
        &info,
        &["name", "preferred_username", "updated_at"],
        &[
            "given_name",
            "locale",
            "zoneinfo",
            "phone_number",
            "phone_number_verified",
            "address",
        ],
    );
    assert_eq!(info["name"], "alice");
    assert_eq!(info["preferred_username"], "alice");
}

async fn client_with_id_token_claims(app: &TestApp, choice: Option<&str>) -> RpClient {
    register(
        app,
        NewClient {
            name: "Example App".into(),
            redirect_uris: vec![REDIRECT.into()],
            id_token_claims: choice.map(str::to_owned),
            ..NewClient::default()
        },
    )
    .await
}

#[tokio::test]
async fn the_id_token_carries_email_claims_by_default_and_what_the_client_chose() {
    let app = spawn_app().await;
    alice_with_profile(&app).await;
    let all_scopes = [("scope", "openid profile email phone address")];

    let default = client_with_id_token_claims(&app, None).await;
    let id = id_token(&app, &tokens_for(&app, &default, &all_scopes).await).await;
    assert_keys(
        &id,
        &["email", "email_verified"],
        &[
            "name",
            "given_name",
            "locale",
            "phone_number",
            "address",
            "updated_at",
        ],
    );
    assert_eq!(id["email"], "alice@example.com");

    let all = client_with_id_token_claims(&app, Some("all")).await;
    let id = id_token(&app, &tokens_for(&app, &all, &all_scopes).await).await;
    assert_keys(
        &id,
        &[
            "email",
            "given_name",
            "locale",
            "zoneinfo",
            "phone_number",
            "address",
            "updated_at",
        ],
        &[],
    );
    assert_eq!(id["given_name"], "Ada");

    let none = client_with_id_token_claims(&app, Some("none")).await;
    let tokens = tokens_for(&app, &none, &all_scopes).await;
    let id = id_token(&app, &tokens).await;
    assert_keys(
        &id,
        &["sub", "nonce"],
        &["email", "given_name", "phone_number"],
    );
    // ... and userinfo still has them all.
    assert_keys(
        &userinfo(&app, &tokens).await,
        &["email", "given_name", "phone_number"],
        &[],
    );

    let chosen = client_with_id_token_claims(&app, Some("profile,phone")).await;
    let id = id_token(&app, &tokens_for(&app, &chosen, &all_scopes).await).await;
    assert_keys(&id, &["given_name", "phone_number"], &["email", "address"]);

    // Only scopes that were granted: asking for openid email alone adds no profile claims.
    let id = id_token(
        &app,
        &tokens_for(&app, &all, &[("scope", "openid email")]).await,
    )
    .await;
    assert_keys(&id, &["email"], &["given_name", "phone_number", "address"]);
}

#[tokio::test]
async fn an_unknown_id_token_choice_is_refused_at_registration() {
    let app = spawn_app().await;
    for bad in ["everything", "email openid", "all none"] {
        let err = portcullis::clients::register_unchecked(
            &app.store,
            NewClient {
                name: "App".into(),
                redirect_uris: vec![REDIRECT.into()],
                id_token_claims: Some(bad.into()),
                ..NewClient::default()
            },
            Actor::Cli,
        )
        .await;
        assert!(err.is_err(), "{bad}");
    }
    assert!(app.db(portcullis::store::clients::list).await.is_empty());
}

#[tokio::test]
async fn the_claims_parameter_releases_single_claims_at_userinfo_and_in_the_id_token() {
    let app = spawn_app().await;
    alice_with_profile(&app).await;
    let client = confidential(&app).await;
    let claims = json!({
        "userinfo": { "given_name": { "essential": true }, "phone_number": null },
        "id_token": { "locale": null, "address": null },
    })
    .to_string();
    let tokens = tokens_for(&app, &client, &[("scope", "openid"), ("claims", &claims)]).await;

    // The grant keeps the request, so userinfo honours it later.
    let info = userinfo(&app, &tokens).await;
    assert_keys(
        &info,
        &["sub", "given_name", "phone_number"],
        &[
            "family_name",
            "locale",
            "address",
            "email",
            "phone_number_verified",
        ],
    );
    assert_eq!(info["given_name"], "Ada");
    let id = id_token(&app, &tokens).await;
    assert_keys(
        &id,
        &["locale", "address"],
        &["given_name", "phone_number", "email"],
    );
    assert_eq!(id["locale"], "en-GB");
    assert_eq!(id["address"]["locality"], "London");
}

#[tokio::test]
async fn the_claims_parameter_cannot_reach_beyond_the_clients_scopes() {
    let app = spawn_app().await;
    alice_with_profile(&app).await;
    let client = register(
        &app,
        NewClient {
            name: "Narrow".into(),
            redirect_uris: vec![REDIRECT.into()],
            scopes: vec!["openid".into(), "email".into()],
            ..NewClient::default()
        },
    )
    .await;
    app.login("alice", PASSWORD).await;
    for claims in [
        json!({ "userinfo": { "phone_number": null } }),
        json!({ "id_token": { "address": null } }),
        json!({ "userinfo": { "given_name": null } }),
    ] {
        let params = auth_params(
            &client,
            &[("scope", "openid"), ("claims", &claims.to_string())],
        );
        let resp = authorize(&app, &params, "allow").await;
        let params = redirect_params(&resp);
        assert_eq!(param(&params, "error"), Some("invalid_scope"), "{claims}");
        assert_eq!(param(&params, "code"), None);
    }
    let params = auth_params(&client, &[("scope", "openid phone")]);
    let resp = authorize(&app, &params, "allow").await;
    assert_eq!(
        param(&redirect_params(&resp), "error"),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn the_consent_page_names_the_claims_the_app_will_see() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    app.login("alice", PASSWORD).await;
    let claims = json!({ "userinfo": { "phone_number": null } }).to_string();
    let params = auth_params(&client, &[("scope", "openid email"), ("claims", &claims)]);
    let resp = app.get(&crate::flow::authorize_path(&params)).await;
    let consent = location(&resp);
    assert!(consent.starts_with("/consent?request="), "{consent}");
    let html = app.get(&consent).await.text().await.unwrap();
    assert!(
        html.contains("It will see your email address, whether your email address is verified."),
        "{html}"
    );
    // The phone scope comes from the claims parameter alone.
    assert!(
        html.contains("It will see your phone number, whether your phone number is verified."),
        "{html}"
    );
    assert!(!html.contains("postal address"), "{html}");
    assert!(!html.contains("given name"), "{html}");

    let params = auth_params(&client, &[("scope", "openid profile address")]);
    let resp = app.get(&crate::flow::authorize_path(&params)).await;
    let html = app.get(&location(&resp)).await.text().await.unwrap();
    assert!(
        html.contains(
            "It will see your full name, family name, given name, middle name, nickname, username,"
        ),
        "{html}"
    );
    assert!(html.contains("It will see your postal address."), "{html}");
}

#[tokio::test]
async fn discovery_lists_the_claim_scopes_and_every_standard_claim() {
    let app = spawn_app().await;
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let list = |key: &str| -> Vec<String> {
        meta[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let scopes = list("scopes_supported");
    for s in [
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
    ] {
        assert!(scopes.iter().any(|x| x == s), "{s} not in {scopes:?}");
    }
    let claims = list("claims_supported");
    for c in PROFILE_CLAIMS.iter().chain(&[
        "email",
        "email_verified",
        "address",
        "phone_number",
        "phone_number_verified",
    ]) {
        assert!(claims.iter().any(|x| x == c), "{c} not in {claims:?}");
    }
    assert_eq!(meta["claims_parameter_supported"], true);
}

#[tokio::test]
async fn dynamic_registration_accepts_and_reports_the_id_token_choice() {
    let app = crate::registration::app_with_registration().await;
    let body = json!({ "redirect_uris": [REDIRECT], "id_token_claims": "profile email" });
    let resp = crate::registration::register(&app, Some(crate::registration::INITIAL), body).await;
    assert_eq!(resp.status(), 201);
    let registered: Value = resp.json().await.unwrap();
    assert_eq!(registered["id_token_claims"], "profile email");

    let body = json!({ "redirect_uris": [REDIRECT], "id_token_claims": "secrets" });
    let resp = crate::registration::register(&app, Some(crate::registration::INITIAL), body).await;
    assert_eq!(resp.status(), 400);
    let error: Value = resp.json().await.unwrap();
    assert_eq!(error["error"], "invalid_client_metadata");

    let default = json!({ "redirect_uris": [REDIRECT] });
    let resp =
        crate::registration::register(&app, Some(crate::registration::INITIAL), default).await;
    let registered: Value = resp.json().await.unwrap();
    assert_eq!(registered["id_token_claims"], "email");
    assert_eq!(app.db(portcullis::store::clients::list).await.len(), 2);
}
