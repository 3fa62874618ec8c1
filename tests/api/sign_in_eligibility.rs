//! "May this account sign in" is one rule for every step: an account disabled between the
//! password and the second factor gets no session, whatever the code.

use crate::helpers::{spawn_app, TestApp};
use crate::mfa_support::{
    code_at, fresh_step, now, password_step, second_step, sign_out, user_with_totp,
};

async fn sessions_of(app: &TestApp, username: &str) -> i64 {
    let name = username.to_owned();
    app.db(move |c| {
        let user = portcullis::store::users::find_by_username(c, &name)?.expect("user");
        portcullis::store::sessions::count_for_user(c, &user.id)
    })
    .await
}

#[tokio::test]
async fn an_account_disabled_after_its_password_gets_no_session_from_a_right_code() {
    let app = spawn_app().await;
    let (secret, codes) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    password_step(&app, "alice").await;
    portcullis::accounts::set_disabled(&app.store, "alice", true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    fresh_step().await;

    let resp = second_step(&app, "totp", &code_at(&secret, now())).await;
    assert_eq!(resp.status(), 401);
    let resp = second_step(&app, "recovery", &codes[0]).await;
    assert_eq!(resp.status(), 401);

    assert!(app.cookie("portcullis_session").is_none());
    assert_eq!(sessions_of(&app, "alice").await, 0);
    // Enabled again, the unused recovery code still works from a new sign-in.
    portcullis::accounts::set_disabled(&app.store, "alice", false, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    password_step(&app, "alice").await;
    let resp = second_step(&app, "recovery", &codes[0]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(sessions_of(&app, "alice").await, 1);
}
