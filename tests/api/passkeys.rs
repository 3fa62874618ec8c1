//! Passkeys: the account page and its JSON ceremony endpoints over HTTP, and the sign-in
//! ceremonies (second factor, discoverable) through the domain service, all with the
//! software authenticator in `authenticator.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis::accounts::{self, NewUser};
use portcullis::audit::Actor;
use portcullis::mfa::passkeys::{user_handle, Authenticated, PasskeyError, Passkeys, Purpose};
use portcullis::sessions::{self, NewSession, SessionPolicy};
use portcullis::startup::{password_hasher, password_policy};
use portcullis::store::passkeys::{self as rows, PasskeyRow};
use reqwest::Url;
use serde_json::{json, Value};

use crate::authenticator::SoftAuthenticator;
use crate::helpers::{form_value, location, spawn_app, spawn_app_on_localhost, TestApp, PASSWORD};

const BEGIN: &str = "/account/passkeys/register/begin";
const FINISH: &str = "/account/passkeys/register/finish";

/// A signed-in user on an app whose issuer is a domain name; returns the user id.
async fn signed_in(app: &TestApp, username: &str) -> String {
    let id = app.create_user(username, PASSWORD).await;
    assert_eq!(app.login(username, PASSWORD).await.status(), 303);
    id
}

async fn csrf(app: &TestApp) -> String {
    app.cookie("portcullis_csrf").expect("a CSRF cookie")
}

/// POSTs JSON the way webauthn.js does.
async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("X-CSRF-Token", csrf(app).await)
        .json(body)
        .send()
        .await
        .expect("POST")
}

async fn begin(app: &TestApp) -> Value {
    let resp = post_json(app, BEGIN, &json!({})).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn finish(
    app: &TestApp,
    ceremony: &Value,
    name: &str,
    credential: &Value,
) -> reqwest::Response {
    post_json(
        app,
        FINISH,
        &json!({ "ceremony": ceremony, "name": name, "credential": credential }),
    )
    .await
}

/// Adds a passkey through the endpoints; returns its credential id.
pub(crate) async fn add_passkey(
    app: &TestApp,
    authenticator: &mut SoftAuthenticator,
    name: &str,
) -> String {
    let begun = begin(app).await;
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    let resp = finish(app, &begun["ceremony"], name, &credential).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    credential["id"].as_str().unwrap().to_owned()
}

async fn stored(app: &TestApp, user_id: &str) -> Vec<PasskeyRow> {
    let user_id = user_id.to_owned();
    app.db(move |c| rows::list_for_user(c, &user_id)).await
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.db(|c| portcullis::store::audit::recent(c, 50))
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn assert_refused(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json",
        "JSON endpoints answer with problem documents"
    );
    resp.json().await.unwrap()
}

fn service(app: &TestApp) -> Passkeys {
    Passkeys::new(&app.settings.issuer).unwrap()
}

// ---- registration over HTTP ----

#[tokio::test]
async fn adding_a_passkey_stores_it_lists_it_and_audits_it() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();

    let begun = begin(&app).await;
    let pk = &begun["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["rp"]["name"], "Portcullis");
    assert_eq!(pk["user"]["name"], "alice");
    assert_eq!(
        pk["user"]["id"],
        URL_SAFE_NO_PAD.encode(user_handle(&user_id).as_bytes())
    );
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    let resp = finish(&app, &begun["ceremony"], "  Work laptop ", &credential).await;

    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    // The first second factor: on to the security page, which offers recovery codes.
    assert_eq!(body["redirect"], "/account/security?done=passkey");
    assert_eq!(body["name"], "Work laptop");
    let rows = stored(&app, &user_id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, credential["id"].as_str().unwrap());
    assert_eq!(rows[0].name, "Work laptop");
    assert_eq!(rows[0].last_used_at, None);
    let page = app
        .get("/account/passkeys?added=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Work laptop"), "{page}");
    assert!(page.contains("never used"), "{page}");
    assert!(page.contains("The passkey was added."), "{page}");
    assert!(audit_actions(&app)
        .await
        .contains(&"passkey.added".to_owned()));
}

#[tokio::test]
async fn a_bad_name_is_refused_without_using_up_the_ceremony() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    let begun = begin(&app).await;
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);

    for bad in ["", "   ", &"x".repeat(65), "bell\u{7}", "two\nlines"] {
        let resp = finish(&app, &begun["ceremony"], bad, &credential).await;
        let problem = assert_refused(resp, 400).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("name"),
            "{problem}"
        );
    }
    assert!(stored(&app, &user_id).await.is_empty());

    // Fixing the name completes the same ceremony.
    let resp = finish(&app, &begun["ceremony"], &"é".repeat(64), &credential).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(stored(&app, &user_id).await.len(), 1);
}

#[tokio::test]
async fn a_credential_made_for_another_origin_or_rp_id_is_refused() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;

    let mut phished = SoftAuthenticator::new();
    let begun = begin(&app).await;
    let credential = phished.register(&begun["options"], "http://localhost.evil.example");
    let problem = assert_refused(
        finish(&app, &begun["ceremony"], "Key", &credential).await,
        400,
    )
    .await;
    assert_eq!(problem["detail"], "The passkey could not be verified.");

    let mut other_rp = SoftAuthenticator::new();
    other_rp.rp_id_override = Some("evil.example".into());
    let begun = begin(&app).await;
    let credential = other_rp.register(&begun["options"], &app.settings.issuer);
    assert_refused(
        finish(&app, &begun["ceremony"], "Key", &credential).await,
        400,
    )
    .await;

    let mut unverified = SoftAuthenticator::new();
    unverified.verify_user = false;
    let begun = begin(&app).await;
    let credential = unverified.register(&begun["options"], &app.settings.issuer);
    assert_refused(
        finish(&app, &begun["ceremony"], "Key", &credential).await,
        400,
    )
    .await;

    assert!(stored(&app, &user_id).await.is_empty());
}

#[tokio::test]
async fn a_ceremony_is_single_use_and_expires() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();

    // Replayed.
    let begun = begin(&app).await;
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    assert_eq!(
        finish(&app, &begun["ceremony"], "One", &credential)
            .await
            .status(),
        200
    );
    let problem = assert_refused(
        finish(&app, &begun["ceremony"], "One", &credential).await,
        400,
    )
    .await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("expired or was already used"));

    // Unknown, and not even a token. (A new authenticator: the first holds a credential
    // for this account already, so the options now exclude it.)
    let mut authenticator = SoftAuthenticator::new();
    let begun = begin(&app).await;
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    let unknown = portcullis::crypto::random::secret_token();
    assert_refused(finish(&app, &json!(unknown), "Two", &credential).await, 400).await;
    assert_refused(
        finish(&app, &json!("nonsense"), "Two", &credential).await,
        400,
    )
    .await;

    // Expired.
    let hash = portcullis::crypto::token::hash(begun["ceremony"].as_str().unwrap());
    app.db(move |c| {
        use diesel::prelude::*;
        use portcullis::store::schema::webauthn_ceremonies as w;
        diesel::update(w::table.find(hash))
            .set(w::expires_at.eq(portcullis::time::now() - 1))
            .execute(c)?;
        Ok(())
    })
    .await;
    assert_refused(
        finish(&app, &begun["ceremony"], "Two", &credential).await,
        400,
    )
    .await;

    assert_eq!(stored(&app, &user_id).await.len(), 1);
}

#[tokio::test]
async fn another_users_ceremony_cannot_be_finished() {
    let app = spawn_app_on_localhost().await;
    signed_in(&app, "alice").await;
    let begun = begin(&app).await;
    let mut authenticator = SoftAuthenticator::new();
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);

    let bob = signed_in(&app, "bob").await;
    assert_refused(
        finish(&app, &begun["ceremony"], "Stolen", &credential).await,
        400,
    )
    .await;
    assert!(stored(&app, &bob).await.is_empty());
}

#[tokio::test]
async fn the_same_authenticator_cannot_be_registered_twice() {
    let app = spawn_app_on_localhost().await;
    let alice = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    let id = add_passkey(&app, &mut authenticator, "Key").await;

    // The options tell the browser to refuse it...
    let begun = begin(&app).await;
    assert!(authenticator.is_excluded(&begun["options"]));
    // ...and a client that ignores that is refused by the server.
    let again = authenticator.register_again(&id, &begun["options"], &app.settings.issuer);
    let problem =
        assert_refused(finish(&app, &begun["ceremony"], "Again", &again).await, 400).await;
    assert_eq!(problem["detail"], "This passkey is already registered.");
    assert_eq!(stored(&app, &alice).await.len(), 1);

    // Nor can another account claim the credential.
    let bob = signed_in(&app, "bob").await;
    let begun = begin(&app).await;
    let again = authenticator.register_again(&id, &begun["options"], &app.settings.issuer);
    assert_refused(finish(&app, &begun["ceremony"], "Mine", &again).await, 400).await;
    assert!(stored(&app, &bob).await.is_empty());
    assert_eq!(stored(&app, &alice).await[0].name, "Key");
}

#[tokio::test]
async fn the_json_endpoints_demand_the_csrf_header_and_json() {
    let app = spawn_app_on_localhost().await;
    signed_in(&app, "alice").await;
    let token = csrf(&app).await;
    let url = app.url(BEGIN);

    // Each refused request: the headers it carries besides the JSON body.
    let wrong_token = portcullis::crypto::random::secret_token();
    let refused: [&[(&str, &str)]; 4] = [
        &[],
        &[("X-CSRF-Token", &wrong_token)],
        &[("X-CSRF-Token", &token), ("Sec-Fetch-Site", "cross-site")],
        &[("X-CSRF-Token", &token), ("Origin", "http://evil.example")],
    ];
    for headers in refused {
        let mut request = app.client.post(&url).json(&json!({}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        assert_refused(request.send().await.unwrap(), 403).await;
    }
    let as_form = app
        .client
        .post(&url)
        .header("X-CSRF-Token", &token)
        .form(&[("a", "b")])
        .send()
        .await
        .unwrap();
    assert_refused(as_form, 415).await;
    let malformed = app
        .client
        .post(app.url(FINISH))
        .header("X-CSRF-Token", &token)
        .header("Content-Type", "application/json")
        .body("{\"ceremony\": 1")
        .send()
        .await
        .unwrap();
    assert_refused(malformed, 400).await;

    let same_origin = app
        .client
        .post(&url)
        .header("X-CSRF-Token", &token)
        .header("Origin", app.settings.issuer.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 200);
}

#[tokio::test]
async fn the_page_and_endpoints_need_a_session() {
    let app = spawn_app_on_localhost().await;
    let resp = app.get("/account/passkeys").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?return_to=/account/passkeys");

    let token = app.csrf_token().await; // from the login page
    for path in [BEGIN, "/account/passkeys/remove/begin"] {
        let resp = app
            .client
            .post(app.url(path))
            .header("X-CSRF-Token", &token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_refused(resp, 401).await;
    }
}

#[tokio::test]
async fn the_page_loads_its_script_from_a_file_the_csp_allows() {
    let app = spawn_app_on_localhost().await;
    signed_in(&app, "alice").await;
    let resp = app.get("/account/passkeys").await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let page = resp.text().await.unwrap();
    assert!(page.contains(r#"<script src="/static/webauthn.js" defer></script>"#));
    assert_eq!(page.matches("<script").count(), 1, "no inline script");
    let token = form_value(&page, "csrf_token");
    assert!(
        page.contains(&format!(r#"data-csrf="{}""#, csrf(&app).await)),
        "{token:?}"
    );
    assert!(page.contains(r#"data-webauthn="register""#));

    let script = app.get("/static/webauthn.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("X-CSRF-Token"));
}

#[tokio::test]
async fn an_ip_address_issuer_has_passkeys_disabled() {
    let app = spawn_app().await;
    signed_in(&app, "alice").await;
    let page = app.get("/account/passkeys").await.text().await.unwrap();
    assert!(page.contains("Passkeys are not available on this server."));
    assert_refused(post_json(&app, BEGIN, &json!({})).await, 400).await;
}

// ---- removal ----

async fn remove_with_password(app: &TestApp, id: &str, password: &str) -> reqwest::Response {
    let token = csrf(app).await;
    app.post_form(
        "/account/passkeys/remove",
        &[
            ("csrf_token", &token),
            ("id", id),
            ("current_password", password),
        ],
    )
    .await
}

#[tokio::test]
async fn removing_a_passkey_needs_the_current_password() {
    let app = spawn_app_on_localhost().await;
    let alice = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    let id = add_passkey(&app, &mut authenticator, "Key").await;

    let resp = remove_with_password(&app, &id, "not my password").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("Nothing was removed"));
    assert_eq!(stored(&app, &alice).await.len(), 1);
    assert!(audit_actions(&app)
        .await
        .contains(&"login.failed".to_owned()));

    let resp = remove_with_password(&app, &id, PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account/passkeys?removed=1");
    assert!(stored(&app, &alice).await.is_empty());
    assert!(audit_actions(&app)
        .await
        .contains(&"passkey.removed".to_owned()));
}

#[tokio::test]
async fn nobody_can_remove_someone_elses_passkey() {
    let app = spawn_app_on_localhost().await;
    let alice = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    let id = add_passkey(&app, &mut authenticator, "Alice's key").await;

    signed_in(&app, "bob").await;
    let resp = remove_with_password(&app, &id, PASSWORD).await;

    assert_eq!(resp.status(), 404);
    assert_eq!(stored(&app, &alice).await.len(), 1);
    assert!(!audit_actions(&app)
        .await
        .contains(&"passkey.removed".to_owned()));
}

/// Signs a browser in as a user without a password (as a passkey sign-in would).
pub(crate) async fn passwordless_session(app: &TestApp, username: &str) -> String {
    let hasher = password_hasher(&app.settings).unwrap();
    let user = accounts::create(
        &app.store,
        &hasher,
        &password_policy(&app.settings),
        NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            display_name: None,
            password: None,
            admin: false,
        },
        Actor::Cli,
    )
    .await
    .unwrap();
    let policy = SessionPolicy {
        idle_secs: 3600,
        absolute_secs: 3600,
    };
    let new = NewSession {
        user_id: user.id.clone(),
        amr: vec!["hwk".into()],
        ip: None,
        user_agent: None,
        replaces: None,
    };
    let (token, _) = sessions::start(&app.store, policy, new).await.unwrap();
    let url = Url::parse(&app.address).unwrap();
    app.jar.add_cookie_str(
        &format!("portcullis_session={}; Path=/", token.expose()),
        &url,
    );
    // The page sets the CSRF cookie.
    assert_eq!(app.get("/account/passkeys").await.status(), 200);
    user.id
}

#[tokio::test]
async fn without_a_password_removal_is_confirmed_with_a_passkey() {
    let app = spawn_app_on_localhost().await;
    let user_id = passwordless_session(&app, "carol").await;
    let mut authenticator = SoftAuthenticator::new();
    let first = add_passkey(&app, &mut authenticator, "Phone").await;
    add_passkey(&app, &mut SoftAuthenticator::new(), "Laptop").await;
    let page = app.get("/account/passkeys").await.text().await.unwrap();
    assert!(page.contains(r#"data-finish="/account/passkeys/remove/finish""#));

    // The password form cannot be used.
    let resp = remove_with_password(&app, &first, "").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(stored(&app, &user_id).await.len(), 2);

    let resp = post_json(
        &app,
        "/account/passkeys/remove/begin",
        &json!({ "id": first }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let begun: Value = resp.json().await.unwrap();
    assert_eq!(
        begun["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let assertion = authenticator.authenticate(&begun["options"], &app.settings.issuer);
    let body = json!({ "ceremony": begun["ceremony"], "id": first, "credential": assertion });
    let resp = post_json(&app, "/account/passkeys/remove/finish", &body).await;

    assert_eq!(resp.status(), 200);
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["redirect"], "/account/passkeys?removed=1");
    let left = stored(&app, &user_id).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "Laptop");

    // The ceremony is spent.
    let resp = post_json(&app, "/account/passkeys/remove/finish", &body).await;
    assert_refused(resp, 400).await;
}

// ---- sign-in ceremonies, through the domain ----

#[tokio::test]
async fn a_second_factor_assertion_succeeds_and_updates_the_credential() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    let id = add_passkey(&app, &mut authenticator, "Key").await;
    let passkeys = service(&app);

    for expected_counter in [1, 2] {
        let (ceremony, options) = passkeys
            .begin_authentication(&app.store, &user_id, Purpose::SecondFactor, None)
            .await
            .unwrap();
        let options = serde_json::to_value(&options).unwrap();
        assert_eq!(options["publicKey"]["allowCredentials"][0]["id"], id);
        assert_eq!(options["publicKey"]["userVerification"], "required");
        let assertion = authenticator.authenticate(&options, &app.settings.issuer);
        let outcome = passkeys
            .finish_authentication(
                &app.store,
                &ceremony,
                Purpose::SecondFactor,
                serde_json::from_value(assertion.clone()).unwrap(),
                None,
            )
            .await
            .unwrap();

        assert_eq!(
            outcome,
            Authenticated {
                user_id: user_id.clone(),
                credential_id: id.clone(),
                user_verified: true,
                amr: "hwk",
            }
        );
        let row = &stored(&app, &user_id).await[0];
        assert!(row.last_used_at.is_some());
        let credential: Value = serde_json::from_str(&row.credential).unwrap();
        assert_eq!(credential["cred"]["counter"], expected_counter);

        // Single use.
        let replay = passkeys
            .finish_authentication(
                &app.store,
                &ceremony,
                Purpose::SecondFactor,
                serde_json::from_value(assertion).unwrap(),
                None,
            )
            .await;
        assert!(
            matches!(replay, Err(PasskeyError::CeremonyInvalid)),
            "{replay:?}"
        );
    }
}

#[tokio::test]
async fn a_discoverable_assertion_names_its_user() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::synced();
    let id = add_passkey(&app, &mut authenticator, "Synced").await;
    let passkeys = service(&app);

    let (ceremony, options) = passkeys.begin_discoverable(&app.store, None).await.unwrap();
    let options = serde_json::to_value(&options).unwrap();
    assert!(options["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty));
    assert_eq!(options["mediation"], "conditional");
    let assertion = authenticator.authenticate(&options, &app.settings.issuer);
    let outcome = passkeys
        .finish_authentication(
            &app.store,
            &ceremony,
            Purpose::Passwordless,
            serde_json::from_value(assertion).unwrap(),
            None,
        )
        .await
        .unwrap();

    assert_eq!(outcome.user_id, user_id);
    assert_eq!(outcome.credential_id, id);
    assert_eq!(outcome.amr, "swk", "a synced passkey is a software key");
    assert!(stored(&app, &user_id).await[0].last_used_at.is_some());
}

#[tokio::test]
async fn a_discoverable_assertion_with_a_foreign_user_handle_is_refused() {
    let app = spawn_app_on_localhost().await;
    signed_in(&app, "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    add_passkey(&app, &mut authenticator, "Key").await;
    let passkeys = service(&app);

    let (ceremony, options) = passkeys.begin_discoverable(&app.store, None).await.unwrap();
    let mut assertion = authenticator.authenticate(
        &serde_json::to_value(&options).unwrap(),
        &app.settings.issuer,
    );
    assertion["response"]["userHandle"] =
        json!(URL_SAFE_NO_PAD.encode(user_handle("someone-else").as_bytes()));
    let outcome = passkeys
        .finish_authentication(
            &app.store,
            &ceremony,
            Purpose::Passwordless,
            serde_json::from_value(assertion).unwrap(),
            None,
        )
        .await;

    assert!(
        matches!(outcome, Err(PasskeyError::UnknownCredential)),
        "{outcome:?}"
    );
}

/// A whole second-factor ceremony; returns the ceremony token and the outcome.
async fn second_factor(
    app: &TestApp,
    passkeys: &Passkeys,
    user_id: &str,
    authenticator: &mut SoftAuthenticator,
) -> (String, Result<Authenticated, PasskeyError>) {
    let (ceremony, options) = passkeys
        .begin_authentication(&app.store, user_id, Purpose::SecondFactor, None)
        .await
        .unwrap();
    let assertion = authenticator.authenticate(
        &serde_json::to_value(&options).unwrap(),
        &app.settings.issuer,
    );
    let outcome = passkeys
        .finish_authentication(
            &app.store,
            &ceremony,
            Purpose::SecondFactor,
            serde_json::from_value(assertion).unwrap(),
            None,
        )
        .await;
    (ceremony, outcome)
}

#[tokio::test]
async fn a_counter_that_goes_backwards_is_refused_as_a_possible_clone() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let mut original = SoftAuthenticator::new();
    let id = add_passkey(&app, &mut original, "Key").await;
    let passkeys = service(&app);
    let (_, outcome) = second_factor(&app, &passkeys, &user_id, &mut original).await;
    outcome.unwrap();
    let mut copy = original.clone();
    let (_, outcome) = second_factor(&app, &passkeys, &user_id, &mut original).await;
    outcome.unwrap(); // counter 2
    let (_, outcome) = second_factor(&app, &passkeys, &user_id, &mut copy).await; // 2 again

    assert!(
        matches!(outcome, Err(PasskeyError::CloneSuspected)),
        "{outcome:?}"
    );
    assert!(audit_actions(&app)
        .await
        .contains(&"passkey.clone_suspected".to_owned()));
    let rows = stored(&app, &user_id).await;
    assert_eq!(rows.len(), 1, "the credential stays for the user to judge");
    assert_eq!(rows[0].id, id);
    let credential: Value = serde_json::from_str(&rows[0].credential).unwrap();
    assert_eq!(credential["cred"]["counter"], 2);

    // A counter reset (signs with 1 after 2) is no better.
    original.set_counter(&id, 0);
    let (_, outcome) = second_factor(&app, &passkeys, &user_id, &mut original).await;
    assert!(
        matches!(outcome, Err(PasskeyError::CloneSuspected)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn sign_in_ceremonies_refuse_misuse() {
    let app = spawn_app_on_localhost().await;
    let user_id = signed_in(&app, "alice").await;
    let passkeys = service(&app);

    // No passkey to offer.
    let none = passkeys
        .begin_authentication(&app.store, &user_id, Purpose::SecondFactor, None)
        .await;
    assert!(matches!(none, Err(PasskeyError::NoPasskeys)), "{none:?}");

    let mut authenticator = SoftAuthenticator::new();
    add_passkey(&app, &mut authenticator, "Key").await;

    // A registration ceremony is not a sign-in ceremony.
    let registration = begin(&app).await;
    let (_, options) = passkeys
        .begin_authentication(&app.store, &user_id, Purpose::SecondFactor, None)
        .await
        .unwrap();
    let assertion = authenticator.authenticate(
        &serde_json::to_value(&options).unwrap(),
        &app.settings.issuer,
    );
    let outcome = passkeys
        .finish_authentication(
            &app.store,
            registration["ceremony"].as_str().unwrap(),
            Purpose::SecondFactor,
            serde_json::from_value(assertion).unwrap(),
            None,
        )
        .await;
    assert!(
        matches!(outcome, Err(PasskeyError::CeremonyInvalid)),
        "{outcome:?}"
    );

    // No user verification.
    authenticator.verify_user = false;
    let (_, outcome) = second_factor(&app, &passkeys, &user_id, &mut authenticator).await;
    assert!(
        matches!(outcome, Err(PasskeyError::Rejected(_))),
        "{outcome:?}"
    );

    // Another user's second-factor ceremony.
    authenticator.verify_user = true;
    let bob = app.create_user("bob", PASSWORD).await;
    let mut bobs = SoftAuthenticator::new();
    let begun = {
        let passkeys = service(&app);
        let bob_row = app
            .db(move |c| portcullis::store::users::find_by_id(c, &bob))
            .await
            .unwrap();
        let (token, options) = passkeys
            .begin_registration(&app.store, &bob_row, None)
            .await
            .unwrap();
        let credential = bobs.register(
            &serde_json::to_value(&options).unwrap(),
            &app.settings.issuer,
        );
        passkeys
            .finish_registration(
                &app.store,
                &token,
                &bob_row.id,
                "Bob's",
                serde_json::from_value(credential).unwrap(),
                None,
            )
            .await
            .unwrap();
        passkeys
            .begin_authentication(&app.store, &bob_row.id, Purpose::SecondFactor, None)
            .await
            .unwrap()
    };
    // Alice's credential answering Bob's ceremony.
    let mut options = serde_json::to_value(&begun.1).unwrap();
    options["publicKey"]["allowCredentials"] =
        json!([{ "type": "public-key", "id": authenticator.credential_ids()[0] }]);
    let assertion = authenticator.authenticate(&options, &app.settings.issuer);
    let outcome = passkeys
        .finish_authentication(
            &app.store,
            &begun.0,
            Purpose::SecondFactor,
            serde_json::from_value(assertion).unwrap(),
            None,
        )
        .await;
    assert!(
        matches!(outcome, Err(PasskeyError::UnknownCredential)),
        "{outcome:?}"
    );

    // A ceremony begun to confirm a change finishes only as that, never as a sign-in (a
    // misused ceremony is used up).
    for purpose in [
        Purpose::SecondFactor,
        Purpose::Passwordless,
        Purpose::Reauthentication,
    ] {
        let (ceremony, options) = passkeys
            .begin_authentication(&app.store, &user_id, Purpose::Reauthentication, None)
            .await
            .unwrap();
        let assertion = authenticator.authenticate(
            &serde_json::to_value(&options).unwrap(),
            &app.settings.issuer,
        );
        let outcome = passkeys
            .finish_authentication(
                &app.store,
                &ceremony,
                purpose,
                serde_json::from_value(assertion).unwrap(),
                None,
            )
            .await;
        match purpose {
            Purpose::Reauthentication => assert!(outcome.is_ok(), "{outcome:?}"),
            _ => assert!(
                matches!(outcome, Err(PasskeyError::CeremonyInvalid)),
                "{purpose:?}: {outcome:?}"
            ),
        }
    }
}
