//! TOTP and recovery codes: set-up, the second sign-in step, replay, skew, lock-out, and
//! what an attacker with only the password can reach.

use diesel::prelude::*;
use portcullis::store::schema::{recovery_codes, totp_credentials};

use crate::helpers::{form_value, location, spawn_app, spawn_app_with, PASSWORD};
use crate::mfa_support::*;
use crate::smtp_sink::{mail_to, SmtpSink};

#[tokio::test]
async fn setting_up_an_authenticator_needs_a_valid_code_and_shows_ten_recovery_codes_once() {
    let app = spawn_app().await;
    let user_id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;
    let page = app
        .post_form("/account/totp/begin", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code rendered by us");
    let secret = secret_on(&page);
    assert_eq!(secret.len(), 32, "160-bit key in base32");

    // A wrong code does not turn it on.
    fresh_step().await;
    let wrong = format!(
        "{:06}",
        (code_at(&secret, now()).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let resp = app
        .post_form(
            "/account/totp/confirm",
            &[("csrf_token", &csrf), ("code", &wrong)],
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("That code is not valid"));
    let uid = user_id.clone();
    let confirmed: Option<Option<i64>> = app
        .db(move |c| {
            Ok(totp_credentials::table
                .filter(totp_credentials::user_id.eq(&uid))
                .select(totp_credentials::confirmed_at)
                .first(c)
                .optional()?)
        })
        .await;
    assert_eq!(confirmed, Some(None), "still pending");

    // The key on the page stays the same until confirmed; the right code turns it on.
    let again = app
        .post_form("/account/totp/begin", &[("csrf_token", &csrf)])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(secret_on(&again), secret);
    let resp = app
        .post_form(
            "/account/totp/confirm",
            &[("csrf_token", &csrf), ("code", &code_at(&secret, now()))],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let codes = recovery_codes_on(&resp.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 19));

    // Stored: the key only encrypted, the codes only hashed.
    let uid = user_id.clone();
    let (sealed, hashes): (String, Vec<String>) = app
        .db(move |c| {
            let sealed = totp_credentials::table
                .filter(totp_credentials::user_id.eq(&uid))
                .select(totp_credentials::secret_enc)
                .first(c)?;
            let hashes = recovery_codes::table
                .filter(recovery_codes::user_id.eq(&uid))
                .select(recovery_codes::code_hash)
                .load(c)?;
            Ok((sealed, hashes))
        })
        .await;
    assert!(!sealed.to_uppercase().contains(&secret));
    assert_eq!(hashes.len(), 10);
    for code in &codes {
        assert!(hashes.iter().all(|h| !h.contains(&code.replace('-', ""))));
    }

    // Set up: a second set-up is refused until the first is removed.
    let resp = app
        .post_form("/account/totp/begin", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(resp.status(), 409);
    let page = app.get("/account/security").await.text().await.unwrap();
    assert!(page.contains("10 unused recovery codes left"), "{page}");
}

#[tokio::test]
async fn sign_in_asks_for_the_code_after_the_password_and_a_code_works_only_once() {
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;

    password_step(&app, "alice").await;
    // Only a challenge so far: the account page still wants a sign-in.
    let resp = app.get("/account").await;
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/login"));
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(page.contains("name=\"code\""), "{page}");

    // The enrolment spent the current step; the next step's code is within the skew.
    let code = code_at(&secret, now() + 30);
    let resp = second_step(&app, "totp", &code).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert!(
        app.cookie("portcullis_mfa").is_none() || app.cookie("portcullis_mfa").unwrap().is_empty()
    );
    assert_eq!(app.get("/account").await.status(), 200);

    // The same code again, in a new sign-in within the same window: refused.
    sign_out(&app).await;
    password_step(&app, "alice").await;
    let resp = second_step(&app, "totp", &code).await;
    assert_eq!(resp.status(), 401);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("That code is not valid"));
    assert!(app.cookie("portcullis_session").is_none());
    assert_eq!(app.get("/account").await.status(), 303);
}

#[tokio::test]
async fn a_code_one_step_old_is_accepted_but_codes_outside_the_window_are_not() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    fresh_step().await;
    // Confirmed with the previous step's code (skew −1)...
    let (secret, _) = enrol_totp_at(&app, now() - 30).await;
    sign_out(&app).await;
    password_step(&app, "alice").await;
    // ...a code two steps ahead is outside the window...
    let resp = second_step(&app, "totp", &code_at(&secret, now() + 60)).await;
    assert_eq!(resp.status(), 401);
    // ...an older step than the last accepted one is a replay...
    let resp = second_step(&app, "totp", &code_at(&secret, now() - 60)).await;
    assert_eq!(resp.status(), 401);
    // ...and the current one passes.
    let resp = second_step(&app, "totp", &code_at(&secret, now())).await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn wrong_codes_count_toward_the_account_lock() {
    let app = spawn_app_with(|f| {
        f.merge(("lockout.account_threshold", 3))
            .merge(("mfa.max_code_attempts", 10))
    })
    .await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    password_step(&app, "alice").await;
    for _ in 0..3 {
        assert_eq!(second_step(&app, "totp", "000000").await.status(), 401);
    }
    // Locked now: even the right code fails, and so does the right password, from this
    // browser (the lock is this source's for this account: see lockout_sources.rs).
    let resp = second_step(&app, "totp", &code_at(&secret, now() + 30)).await;
    assert_eq!(resp.status(), 401);
    assert!(app.cookie("portcullis_session").is_none());
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(resp.status(), 401);
    let failures: Vec<String> = app
        .db(|c| {
            use portcullis::store::schema::audit_events as a;
            Ok(a::table
                .filter(a::action.eq("login.failed"))
                .select(a::detail)
                .load(c)?)
        })
        .await;
    assert_eq!(failures.iter().filter(|d| d.contains("\"otp\"")).count(), 4);

    // The CLI unlock lets the right code through again.
    portcullis::accounts::lockout::unlock(&app.store, "alice", portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    password_step(&app, "alice").await;
    let resp = second_step(&app, "totp", &code_at(&secret, now() + 30)).await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn too_many_wrong_codes_end_the_sign_in_attempt() {
    let app = spawn_app_with(|f| f.merge(("mfa.max_code_attempts", 2))).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    password_step(&app, "alice").await;
    assert_eq!(second_step(&app, "totp", "000000").await.status(), 401);
    let resp = second_step(&app, "totp", "000001").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("Sign in again"));
    // The challenge is gone: the right code no longer helps, the page sends to /login.
    let resp = app.get("/login/mfa").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/login/mfa",
            &[
                ("csrf_token", &csrf),
                ("code", &code_at(&secret, now() + 30)),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert!(app.cookie("portcullis_session").is_none());
}

#[tokio::test]
async fn a_recovery_code_works_once_and_its_use_is_announced_by_mail() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let (_, codes) = user_with_totp(&app, "alice").await;
    let before = sink.wait_for(1).await.len(); // the "authenticator set up" notice
    sign_out(&app).await;

    password_step(&app, "alice").await;
    // Typed in capitals with spaces: still the same code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let resp = second_step(&app, "recovery", &typed).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.get("/account").await.status(), 200);
    let mails = sink.wait_for(before + 1).await;
    let notice = mails.last().unwrap();
    assert!(notice.contains("recovery code"), "{notice}");
    assert!(notice.contains("9"), "remaining count: {notice}");

    sign_out(&app).await;
    password_step(&app, "alice").await;
    let resp = second_step(&app, "recovery", &codes[3]).await;
    assert_eq!(resp.status(), 401, "a spent code");
    let resp = second_step(&app, "recovery", "not-a-code").await;
    assert_eq!(resp.status(), 401);
    assert!(app.cookie("portcullis_session").is_none());
}

#[tokio::test]
async fn the_second_step_refuses_bad_input_and_stale_or_missing_challenges() {
    let app = spawn_app().await;
    let (_, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    // No challenge at all.
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form("/login/mfa", &[("csrf_token", &csrf), ("code", "123456")])
        .await;
    assert_eq!(resp.status(), 401);
    password_step(&app, "alice").await;
    // No CSRF token.
    let resp = app.post_form("/login/mfa", &[("code", "123456")]).await;
    assert_eq!(resp.status(), 403);
    // An unknown method.
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/login/mfa",
            &[("csrf_token", &csrf), ("method", "sms"), ("code", "123456")],
        )
        .await;
    assert_eq!(resp.status(), 400);
    // Enrolment during sign-in is only for users without a second factor: the sign-in
    // starts over.
    let resp = app
        .post_form(
            "/login/mfa/enroll",
            &[("csrf_token", &csrf), ("code", "123456")],
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert!(app.cookie("portcullis_session").is_none());
    // An expired challenge.
    app.db(|c| {
        diesel::update(portcullis::store::schema::login_challenges::table)
            .set(portcullis::store::schema::login_challenges::expires_at.eq(0_i64))
            .execute(c)?;
        Ok(())
    })
    .await;
    let resp = app
        .post_form("/login/mfa", &[("csrf_token", &csrf), ("code", "123456")])
        .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn removing_the_authenticator_or_replacing_recovery_codes_needs_the_password() {
    let app = spawn_app().await;
    let (_, old_codes) = user_with_totp(&app, "alice").await;
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/account/recovery",
            &[
                ("csrf_token", &csrf),
                ("current_password", "wrong password here"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401);
    let resp = app
        .post_form(
            "/account/recovery",
            &[("csrf_token", &csrf), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let new_codes = recovery_codes_on(&resp.text().await.unwrap());
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.contains(c)));

    let resp = app
        .post_form(
            "/account/totp/remove",
            &[
                ("csrf_token", &csrf),
                ("current_password", "wrong password here"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401);
    let resp = app
        .post_form(
            "/account/totp/remove",
            &[("csrf_token", &csrf), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let left: i64 = app
        .db(|c| Ok(recovery_codes::table.count().get_result(c)?))
        .await;
    assert_eq!(left, 0, "no second factor left: the recovery codes go too");
    // Sign-in is back to the password alone.
    sign_out(&app).await;
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(location(&resp), "/");
    // And without a second factor there are no recovery codes to generate.
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/account/recovery",
            &[("csrf_token", &csrf), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let page = app.get("/account/security").await.text().await.unwrap();
    assert!(form_value(&page, "csrf_token").is_some());
}

#[tokio::test]
async fn an_operator_can_reset_the_second_factors_of_a_user_who_lost_them() {
    let app = spawn_app().await;
    let (_, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    let run = |name: &str| app.cli(&["user", "reset-mfa", name]);
    let out = run("alice");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("authenticator app: yes, passkeys: 0, recovery codes: 10"),
        "{stdout}"
    );
    // The password alone signs in again.
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(location(&resp), "/");
    let actions: Vec<String> = app
        .db(|c| {
            use portcullis::store::schema::audit_events as a;
            Ok(a::table
                .filter(a::action.eq("mfa.reset"))
                .select(a::actor)
                .load::<Option<String>>(c)?
                .into_iter()
                .flatten()
                .collect())
        })
        .await;
    assert_eq!(actions.len(), 1);
    let out = run("nobody");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
}
