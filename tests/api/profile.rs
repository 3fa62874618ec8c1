//! `/account/profile`: the owner edits their standard claims through the real pages, with
//! the CSRF token from the form; a refused value is reported under its field (400) and
//! nothing is saved.

use portcullis::accounts::profile::{self, Field, Profile};
use portcullis::store::audit::{self, AuditRow};
use serde_json::Value;

use crate::helpers::{form_value, location, spawn_app, TestApp, PASSWORD};
use crate::standard_claims::set_profile;

async fn stored(app: &TestApp, user_id: &str) -> (Profile, i64) {
    let id = user_id.to_owned();
    app.db(move |c| {
        let p = profile::load(c, &id)?.unwrap();
        let u = portcullis::store::users::find_by_id(c, &id)?.unwrap();
        Ok((p, u.updated_at))
    })
    .await
}

async fn profile_events(app: &TestApp) -> Vec<AuditRow> {
    app.db(|c| audit::recent(c, 100))
        .await
        .into_iter()
        .filter(|e| e.action == "user.profile_updated")
        .collect()
}

/// The form as the page serves it: every field with its current value, and the token.
async fn form(app: &TestApp) -> Vec<(String, String)> {
    let resp = app.get("/account/profile").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let mut fields = vec![(
        "csrf_token".to_owned(),
        form_value(&html, "csrf_token").unwrap(),
    )];
    for f in Field::ALL.into_iter().filter(|f| f.user_editable()) {
        let value = form_value(&html, f.claim())
            .or_else(|| textarea(&html, f.claim()))
            .unwrap_or_else(|| panic!("{} is not on the page", f.claim()));
        fields.push((f.claim().to_owned(), value));
    }
    fields
}

fn textarea(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("<textarea id=\"{name}\""))?;
    let open = start + html[start..].find('>')? + 1;
    let end = open + html[open..].find("</textarea>")?;
    Some(html[open..end].to_owned())
}

fn with(mut form: Vec<(String, String)>, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    for (name, value) in changes {
        form.retain(|(k, _)| k != name);
        form.push(((*name).to_owned(), (*value).to_owned()));
    }
    form
}

async fn post(app: &TestApp, form: &[(String, String)]) -> reqwest::Response {
    app.client
        .post(app.url("/account/profile"))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_owner_edits_the_profile_and_the_change_is_audited() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let account = app.get("/account").await.text().await.unwrap();
    assert!(
        account.contains(r#"<a href="/account/profile">"#),
        "{account}"
    );
    app.db({
        let id = id.clone();
        move |c| {
            use diesel::prelude::*;
            use portcullis::store::schema::users;
            diesel::update(users::table.find(&id))
                .set(users::updated_at.eq(1))
                .execute(c)?;
            Ok(())
        }
    })
    .await;

    let blank = form(&app).await;
    let resp = post(
        &app,
        &with(
            blank,
            &[
                ("name", "Alice Liddell"),
                ("given_name", " Alice "),
                ("locale", "en-gb"),
                ("zoneinfo", "Europe/London"),
                ("birthdate", "0000-05-04"),
                ("phone_number", "+44 1865 270000"),
                ("website", "https://alice.example.org/"),
                ("street_address", "Christ Church\r\nSt Aldates"),
                ("locality", "Oxford"),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account/profile?saved=1");

    let (saved, updated_at) = stored(&app, &id).await;
    assert_eq!(saved.get(Field::Name), Some("Alice Liddell"));
    assert_eq!(saved.get(Field::GivenName), Some("Alice"));
    assert_eq!(saved.get(Field::Locale), Some("en-GB"));
    assert_eq!(saved.get(Field::Birthdate), Some("0000-05-04"));
    assert_eq!(saved.get(Field::PhoneNumber), Some("+441865270000"));
    assert!(!saved.phone_number_verified());
    assert_eq!(
        saved.get(Field::StreetAddress),
        Some("Christ Church\nSt Aldates")
    );
    assert_eq!(saved.get(Field::FamilyName), None);
    assert!(updated_at > 1, "updated_at is set");

    let events = profile_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].actor.as_deref(),
        Some(format!("user:{id}").as_str())
    );
    assert_eq!(events[0].target.as_deref(), Some(id.as_str()));
    let detail: Value = serde_json::from_str(&events[0].detail).unwrap();
    assert!(detail["claims"]
        .as_array()
        .unwrap()
        .contains(&"locale".into()));
    assert!(
        !events[0].detail.contains("Liddell") && !events[0].detail.contains("+44"),
        "the audit trail names claims, not values: {}",
        events[0].detail
    );

    // The page shows the saved values; emptying a field removes the claim.
    let page = app
        .get("/account/profile?saved=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your profile was saved."));
    let current = form(&app).await;
    assert!(current.contains(&("locale".into(), "en-GB".into())));
    let resp = post(
        &app,
        &with(current, &[("locality", ""), ("street_address", "")]),
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(stored(&app, &id).await.0.address.is_none());
}

#[tokio::test]
async fn each_bad_value_is_refused_under_its_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    set_profile(
        &app,
        "alice",
        &[(Field::GivenName, "Alice"), (Field::Locale, "en-GB")],
    )
    .await;
    app.login("alice", PASSWORD).await;
    let before = stored(&app, &id).await;
    let events = profile_events(&app).await.len();
    let long = "x".repeat(129);
    for (field, bad) in [
        ("locale", "en_GB"),
        ("locale", "klingon-tongue"),
        ("zoneinfo", "Europe/Narnia"),
        ("zoneinfo", "UTC+1"),
        ("website", "http://alice.example.org/"),
        ("picture", "javascript:alert(1)"),
        ("profile", "alice.example.org"),
        ("birthdate", "1990-02-29"),
        ("birthdate", "31/12/1990"),
        ("birthdate", "2999-01-01"),
        ("phone_number", "01865 270000"),
        ("phone_number", "+44 12"),
        ("name", long.as_str()),
        ("nickname", "bell\u{7}"),
        ("family_name", "evil\u{202e}txt.exe"),
        ("locality", "two\nlines"),
        ("postal_code", "1234567890123456789012345678901234"),
    ] {
        let current = form(&app).await;
        let resp = post(
            &app,
            &with(current, &[("given_name", "Changed"), (field, bad)]),
        )
        .await;
        assert_eq!(resp.status(), 400, "{field}={bad:?}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"<p id="{field}-error" class="field-error">"#)),
            "{field}={bad:?}: {html}"
        );
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(html.contains("nothing was saved"));
        // The form keeps what was typed, so the person can correct it.
        assert!(
            html.contains(r#"name="given_name" value="Changed""#),
            "{html}"
        );
        assert_eq!(
            stored(&app, &id).await,
            before,
            "{field}={bad:?} changed the profile"
        );
    }
    assert_eq!(profile_events(&app).await.len(), events);
}

#[tokio::test]
async fn the_profile_form_needs_the_csrf_token_and_a_session() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let before = stored(&app, &id).await;
    let forged = with(
        form(&app).await,
        &[("csrf_token", "forged"), ("given_name", "Mallory")],
    );
    assert_eq!(post(&app, &forged).await.status(), 403);
    let missing: Vec<(String, String)> = form(&app)
        .await
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .chain([("given_name".to_owned(), "Mallory".to_owned())])
        .collect();
    assert_eq!(post(&app, &missing).await.status(), 403);
    assert_eq!(stored(&app, &id).await, before);

    let (stranger, _) = app.new_browser();
    let resp = stranger
        .get(app.url("/account/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?return_to=/account/profile");
}

#[tokio::test]
async fn the_owner_cannot_set_preferred_username_or_verify_a_phone_number() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    set_profile(&app, "alice", &[(Field::PhoneNumber, "+441865270000")]).await;
    assert!(stored(&app, &id).await.0.phone_number_verified());
    app.login("alice", PASSWORD).await;

    let page = app.get("/account/profile").await.text().await.unwrap();
    assert!(
        !page.contains("preferred_username"),
        "operator-only field on the page"
    );
    let resp = post(
        &app,
        &with(
            form(&app).await,
            &[
                ("preferred_username", "admin"),
                ("phone_number_verified", "true"),
                ("email_verified", "true"),
                ("given_name", "Alice"),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (saved, _) = stored(&app, &id).await;
    assert_eq!(saved.get(Field::GivenName), Some("Alice"));
    assert_eq!(saved.get(Field::PreferredUsername), None);
    assert!(!saved.email_verified());
    assert!(
        saved.phone_number_verified(),
        "an unchanged number stays verified"
    );

    // A new number is not verified any more.
    let resp = post(
        &app,
        &with(form(&app).await, &[("phone_number", "+441865270001")]),
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (saved, _) = stored(&app, &id).await;
    assert_eq!(saved.get(Field::PhoneNumber), Some("+441865270001"));
    assert!(!saved.phone_number_verified());
}

#[tokio::test]
async fn urls_to_internal_hosts_and_invisible_characters_are_refused_on_the_page() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let before = stored(&app, &id).await;
    for (field, bad, message) in [
        (
            "picture",
            "https://169.254.169.254/latest/meta-data/",
            "not an IP address",
        ),
        ("website", "https://10.0.0.5/x", "not an IP address"),
        ("profile", "https://[::1]/", "not an IP address"),
        ("picture", "https://localhost/a.png", "not localhost"),
        ("website", "https://intranet/", "a full domain name"),
        (
            "nickname",
            "soft\u{ad}hyphen",
            "control or invisible characters",
        ),
        ("name", "tag\u{e0041}s", "control or invisible characters"),
    ] {
        let current = form(&app).await;
        let resp = post(&app, &with(current, &[(field, bad)])).await;
        assert_eq!(resp.status(), 400, "{field}={bad:?}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"<p id="{field}-error" class="field-error">"#)),
            "{field}={bad:?}: {html}"
        );
        assert!(html.contains(message), "{field}={bad:?}: {html}");
        assert_eq!(stored(&app, &id).await, before, "{field}={bad:?} was saved");
    }
}
