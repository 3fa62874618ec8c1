//! Notices about sign-in security: second factors changed or used, a new browser.

use askama::Template;

use crate::mail::Mail;
use crate::store::users::UserRow;

/// At most this much of a user agent goes into a mail: it is the client's to choose.
const USER_AGENT_CHARS: usize = 160;

#[derive(Template)]
#[template(path = "email/mfa_changed.txt")]
struct MfaText<'a> {
    username: &'a str,
    what: &'a str,
    when: &'a str,
    account_link: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/mfa_changed.html")]
struct MfaHtml<'a> {
    username: &'a str,
    what: &'a str,
    when: &'a str,
    account_link: &'a str,
    reset_link: &'a str,
}

/// "The sign-in methods of your account changed on `date`: `what`.", with `what` e.g.
/// "an authenticator app was added", "a passkey was removed", "new recovery codes were
/// generated". A second factor added by an intruder would lock the owner out of recovery,
/// so the owner hears of every change.
pub fn mfa_changed(issuer: &str, user: &UserRow, what: &str) -> Result<Mail, askama::Error> {
    let when = crate::time::format_utc(crate::time::now());
    let (account_link, reset_link) = (format!("{issuer}/account"), format!("{issuer}/reset"));
    Ok(Mail {
        to: user.email.clone(),
        subject: "The sign-in methods of your account changed".into(),
        text: MfaText {
            username: &user.username,
            what,
            when: &when,
            account_link: &account_link,
            reset_link: &reset_link,
        }
        .render()?,
        html: MfaHtml {
            username: &user.username,
            what,
            when: &when,
            account_link: &account_link,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/recovery_code_used.txt")]
struct RecoveryText<'a> {
    username: &'a str,
    remaining: usize,
    when: &'a str,
    account_link: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/recovery_code_used.html")]
struct RecoveryHtml<'a> {
    username: &'a str,
    remaining: usize,
    when: &'a str,
    account_link: &'a str,
    reset_link: &'a str,
}

/// "A recovery code was used": a recovery code stands in for the second factor, so its use
/// by anyone but the owner means both the password and the codes are known.
pub fn recovery_code_used(
    issuer: &str,
    user: &UserRow,
    remaining: usize,
) -> Result<Mail, askama::Error> {
    let when = crate::time::format_utc(crate::time::now());
    let (account_link, reset_link) = (format!("{issuer}/account"), format!("{issuer}/reset"));
    Ok(Mail {
        to: user.email.clone(),
        subject: "A recovery code was used to sign in to your account".into(),
        text: RecoveryText {
            username: &user.username,
            remaining,
            when: &when,
            account_link: &account_link,
            reset_link: &reset_link,
        }
        .render()?,
        html: RecoveryHtml {
            username: &user.username,
            remaining,
            when: &when,
            account_link: &account_link,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/new_device.txt")]
struct DeviceText<'a> {
    username: &'a str,
    when: &'a str,
    ip: Option<&'a str>,
    device: Option<&'a str>,
    account_link: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/new_device.html")]
struct DeviceHtml<'a> {
    username: &'a str,
    when: &'a str,
    ip: Option<&'a str>,
    device: Option<&'a str>,
    account_link: &'a str,
    reset_link: &'a str,
}

/// "Your account was signed in to from a new device", at `when` (unix seconds) from `ip`
/// with `user_agent`.
pub fn new_device_sign_in(
    issuer: &str,
    user: &UserRow,
    ip: Option<&str>,
    user_agent: Option<&str>,
    when: i64,
) -> Result<Mail, askama::Error> {
    let when = crate::time::format_utc(when);
    let device: Option<String> = user_agent
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_CHARS)
                .collect()
        })
        .filter(|ua: &String| !ua.trim().is_empty());
    let (account_link, reset_link) = (format!("{issuer}/account"), format!("{issuer}/reset"));
    Ok(Mail {
        to: user.email.clone(),
        subject: "New sign-in to your account".into(),
        text: DeviceText {
            username: &user.username,
            when: &when,
            ip,
            device: device.as_deref(),
            account_link: &account_link,
            reset_link: &reset_link,
        }
        .render()?,
        html: DeviceHtml {
            username: &user.username,
            when: &when,
            ip,
            device: device.as_deref(),
            account_link: &account_link,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserRow {
        UserRow {
            id: "id".into(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            password_hash: None,
            display_name: None,
            disabled: false,
            locked_until: None,
            failed_logins: 0,
            created_at: 0,
            updated_at: 0,
            signup_pending: false,
        }
    }

    #[test]
    fn notices_go_to_the_account_and_say_what_happened() {
        let mail = mfa_changed("https://id.test", &alice(), "a passkey was removed").unwrap();
        assert_eq!(mail.to, "alice@example.com");
        assert!(
            mail.text.contains(": a passkey was removed."),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("https://id.test/reset"));

        let none_left = recovery_code_used("https://id.test", &alice(), 0).unwrap();
        assert!(none_left.text.contains("no recovery codes left"));
        let one_left = recovery_code_used("https://id.test", &alice(), 1).unwrap();
        assert!(one_left.text.contains("1 recovery code left."));
        let some_left = recovery_code_used("https://id.test", &alice(), 7).unwrap();
        assert!(some_left.html.contains("7 recovery codes left."));
    }

    #[test]
    fn a_new_device_notice_names_the_address_and_tames_the_user_agent() {
        let ua = format!("<b>Evil</b>\u{7}{}", "x".repeat(500));
        let mail = new_device_sign_in("https://id.test", &alice(), Some("192.0.2.7"), Some(&ua), 0)
            .unwrap();
        assert!(mail.text.contains("Address: 192.0.2.7"), "{}", mail.text);
        assert!(mail.text.contains("1970-01-01 00:00 UTC"));
        assert!(!mail.text.contains('\u{7}'));
        assert!(!mail.text.contains(&"x".repeat(200)), "truncated");
        assert!(!mail.html.contains("<b>Evil"), "escaped: {}", mail.html);
        assert!(mail.html.contains("Evil"));
        let bare = new_device_sign_in("https://id.test", &alice(), None, None, 0).unwrap();
        assert!(!bare.text.contains("Address:") && !bare.text.contains("Device:"));
    }
}
