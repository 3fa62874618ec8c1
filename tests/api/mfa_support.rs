//! Driving TOTP as a user's authenticator app would: reading the key off the set-up page,
//! computing codes, and the second sign-in step.

use totp_rs::{Algorithm, Builder, Secret};

use crate::helpers::{form_value, location, TestApp};

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until at least 3 s remain in the current 30-second step, so that a code computed
/// now is still judged against the same step when the server checks it.
pub async fn fresh_step() {
    let into = now() % 30;
    if into >= 27 {
        tokio::time::sleep(std::time::Duration::from_secs(31 - into)).await;
    }
}

/// The 6-digit code for `secret` (base32, as shown) at unix time `at`.
pub fn code_at(secret: &str, at: u64) -> String {
    let bytes = Secret::try_from_base32(secret.replace(' ', "")).unwrap();
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(bytes)
        .build()
        .unwrap();
    totp.generate(at).to_string()
}

/// The key shown on a set-up page.
pub fn secret_on(page: &str) -> String {
    let start = page
        .find("<code class=\"secret\">")
        .expect("a key on the page")
        + 21;
    let end = start + page[start..].find("</code>").unwrap();
    page[start..end].replace(' ', "")
}

/// The recovery codes on the page that shows them.
pub fn recovery_codes_on(page: &str) -> Vec<String> {
    page.split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect()
}

/// With `app`'s browser signed in: sets up an authenticator app confirmed with the code
/// at `confirm_at` and returns its key and the recovery codes.
pub async fn enrol_totp_at(app: &TestApp, confirm_at: u64) -> (String, Vec<String>) {
    let csrf = app.csrf_token().await;
    let page = app
        .post_form("/account/totp/begin", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let secret = secret_on(&page);
    let csrf = form_value(&page, "csrf_token").unwrap();
    let resp = app
        .post_form(
            "/account/totp/confirm",
            &[
                ("csrf_token", &csrf),
                ("code", &code_at(&secret, confirm_at)),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let codes = recovery_codes_on(&resp.text().await.unwrap());
    (secret, codes)
}

/// Signs alice's browser in and sets up TOTP (confirmed with the current code); returns the
/// key and the recovery codes. The browser stays signed in.
pub async fn user_with_totp(app: &TestApp, username: &str) -> (String, Vec<String>) {
    app.create_user(username, crate::helpers::PASSWORD).await;
    assert_eq!(
        app.login(username, crate::helpers::PASSWORD).await.status(),
        303
    );
    fresh_step().await;
    enrol_totp_at(app, now()).await
}

/// Posts a code to the second step (`method` totp or recovery).
pub async fn second_step(app: &TestApp, method: &str, code: &str) -> reqwest::Response {
    let page = app.get("/login/mfa").await.text().await.unwrap();
    let csrf =
        form_value(&page, "csrf_token").unwrap_or_else(|| app.cookie("portcullis_csrf").unwrap());
    app.post_form(
        "/login/mfa",
        &[("csrf_token", &csrf), ("method", method), ("code", code)],
    )
    .await
}

/// Signs out the browser (ending its session).
pub async fn sign_out(app: &TestApp) {
    let csrf = app.csrf_token().await;
    let resp = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(resp.status(), 303);
}

/// The first factor: must lead to the second step, not to a session.
pub async fn password_step(app: &TestApp, username: &str) {
    let resp = app.login(username, crate::helpers::PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login/mfa");
    assert!(
        app.cookie("portcullis_session").is_none(),
        "no session before the second factor"
    );
}
