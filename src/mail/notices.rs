//! Security notices and links sent to a user about their account. Each returns a [`Mail`]
//! for [`super::outbox::raise`], in the transaction of the change it announces.

mod email_change;
mod lockout;
mod security;

use askama::Template;

use super::Mail;
pub use email_change::{email_change_link, email_change_requested, email_changed, email_in_use};
pub use lockout::failure_burst;
pub use security::{mfa_changed, new_device_sign_in, recovery_code_used};

#[derive(Template)]
#[template(path = "email/password_changed.txt")]
struct ChangedText<'a> {
    username: &'a str,
    when: &'a str,
    ip: Option<&'a str>,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_changed.html")]
struct ChangedHtml<'a> {
    username: &'a str,
    when: &'a str,
    ip: Option<&'a str>,
    reset_link: &'a str,
}

/// "Your password was changed", with a way back in if it was not the owner.
pub fn password_changed(
    issuer: &str,
    username: &str,
    email: &str,
    ip: Option<&str>,
) -> Result<Mail, askama::Error> {
    let when = crate::time::format_utc(crate::time::now());
    let reset_link = format!("{issuer}/reset");
    Ok(Mail {
        to: email.to_owned(),
        subject: "Your password was changed".into(),
        text: ChangedText {
            username,
            when: &when,
            ip,
            reset_link: &reset_link,
        }
        .render()?,
        html: ChangedHtml {
            username,
            when: &when,
            ip,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/signup_confirm.txt")]
struct ConfirmText<'a> {
    username: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "email/signup_confirm.html")]
struct ConfirmHtml<'a> {
    username: &'a str,
    link: &'a str,
    hours: i64,
}

/// The link that confirms a self-registered account's address.
pub fn signup_confirm(
    username: &str,
    email: &str,
    link: &str,
    hours: i64,
) -> Result<Mail, askama::Error> {
    Ok(Mail {
        to: email.to_owned(),
        subject: "Confirm your email address".into(),
        text: ConfirmText {
            username,
            link,
            hours,
        }
        .render()?,
        html: ConfirmHtml {
            username,
            link,
            hours,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/signup_existing.txt")]
struct ExistingText<'a> {
    username: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/signup_existing.html")]
struct ExistingHtml<'a> {
    username: &'a str,
    reset_link: &'a str,
}

/// Told to the owner of an address someone tried to sign up with again.
pub fn signup_existing(issuer: &str, username: &str, email: &str) -> Result<Mail, askama::Error> {
    let reset_link = format!("{issuer}/reset");
    Ok(Mail {
        to: email.to_owned(),
        subject: "Someone tried to create an account with your address".into(),
        text: ExistingText {
            username,
            reset_link: &reset_link,
        }
        .render()?,
        html: ExistingHtml {
            username,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/signup_username_taken.txt")]
struct NameTakenText<'a> {
    username: &'a str,
    signup_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/signup_username_taken.html")]
struct NameTakenHtml<'a> {
    username: &'a str,
    signup_link: &'a str,
}

/// Told to the address of a sign-up whose username is taken: only someone who reads that
/// mailbox learns that the name exists.
pub fn signup_username_taken(
    issuer: &str,
    username: &str,
    email: &str,
) -> Result<Mail, askama::Error> {
    let signup_link = format!("{issuer}/signup");
    Ok(Mail {
        to: email.to_owned(),
        subject: "Choose another username".into(),
        text: NameTakenText {
            username,
            signup_link: &signup_link,
        }
        .render()?,
        html: NameTakenHtml {
            username,
            signup_link: &signup_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct ResetText<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct ResetHtml<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

/// The link that sets a new password, valid `minutes`.
pub fn password_reset(
    username: &str,
    email: &str,
    link: &str,
    minutes: i64,
) -> Result<Mail, askama::Error> {
    Ok(Mail {
        to: email.to_owned(),
        subject: "Reset your password".into(),
        text: ResetText {
            username,
            link,
            minutes,
        }
        .render()?,
        html: ResetHtml {
            username,
            link,
            minutes,
        }
        .render()?,
    })
}
