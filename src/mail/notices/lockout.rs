//! The notice of a burst of failed sign-ins (see `accounts::lockout`).

use askama::Template;

use crate::mail::Mail;
use crate::store::users::UserRow;

#[derive(Template)]
#[template(path = "email/failure_burst.txt")]
struct BurstText<'a> {
    username: &'a str,
    failures: i32,
    minutes: i64,
    when: &'a str,
    account_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/failure_burst.html")]
struct BurstHtml<'a> {
    username: &'a str,
    failures: i32,
    minutes: i64,
    when: &'a str,
    account_link: &'a str,
}

/// "There were `failures` failed attempts to sign in within `window_secs`": sent once per
/// window, so an attacker cannot flood the owner's mailbox through it. Says nothing about
/// where the attempts came from: that is in the audit log, for an administrator.
pub fn failure_burst(
    issuer: &str,
    user: &UserRow,
    failures: i32,
    window_secs: i64,
) -> Result<Mail, askama::Error> {
    let when = crate::time::format_utc(crate::time::now());
    let minutes = (window_secs / 60).max(1);
    let account_link = format!("{issuer}/account");
    Ok(Mail {
        to: user.email.clone(),
        subject: "Failed attempts to sign in to your account".into(),
        text: BurstText {
            username: &user.username,
            failures,
            minutes,
            when: &when,
            account_link: &account_link,
        }
        .render()?,
        html: BurstHtml {
            username: &user.username,
            failures,
            minutes,
            when: &when,
            account_link: &account_link,
        }
        .render()?,
    })
}
