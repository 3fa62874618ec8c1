//! Mail for an email-address change: the link to the new address, and notices to the old
//! address and to the owner of an address someone else tried to take.

use askama::Template;

use crate::mail::Mail;
use crate::store::users::UserRow;

#[derive(Template)]
#[template(path = "email/email_change_link.txt")]
struct LinkText<'a> {
    username: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "email/email_change_link.html")]
struct LinkHtml<'a> {
    username: &'a str,
    link: &'a str,
    hours: i64,
}

/// The confirmation link, to the new address: opening it proves the address works and
/// belongs to the requester.
pub fn email_change_link(
    user: &UserRow,
    new_email: &str,
    link: &str,
    hours: i64,
) -> Result<Mail, askama::Error> {
    let username = user.username.as_str();
    Ok(Mail {
        to: new_email.to_owned(),
        subject: "Confirm your new email address".into(),
        text: LinkText {
            username,
            link,
            hours,
        }
        .render()?,
        html: LinkHtml {
            username,
            link,
            hours,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/email_change_requested.txt")]
struct RequestedText<'a> {
    username: &'a str,
    new_email: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/email_change_requested.html")]
struct RequestedHtml<'a> {
    username: &'a str,
    new_email: &'a str,
    reset_link: &'a str,
}

/// To the current address: a change was asked for (with the password), so an owner whose
/// password is known to someone else hears of it before the address is gone.
pub fn email_change_requested(
    issuer: &str,
    user: &UserRow,
    new_email: &str,
) -> Result<Mail, askama::Error> {
    let reset_link = format!("{issuer}/reset");
    let username = user.username.as_str();
    Ok(Mail {
        to: user.email.clone(),
        subject: "A change of your email address was requested".into(),
        text: RequestedText {
            username,
            new_email,
            reset_link: &reset_link,
        }
        .render()?,
        html: RequestedHtml {
            username,
            new_email,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/email_in_use.txt")]
struct InUseText<'a> {
    username: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/email_in_use.html")]
struct InUseHtml<'a> {
    username: &'a str,
    reset_link: &'a str,
}

/// To the owner of an address another account tried to move to: the requester is told
/// nothing (no enumeration), so the owner is the one who learns of it.
pub fn email_in_use(issuer: &str, owner: &UserRow) -> Result<Mail, askama::Error> {
    let reset_link = format!("{issuer}/reset");
    let username = owner.username.as_str();
    Ok(Mail {
        to: owner.email.clone(),
        subject: "Someone tried to use your email address".into(),
        text: InUseText {
            username,
            reset_link: &reset_link,
        }
        .render()?,
        html: InUseHtml {
            username,
            reset_link: &reset_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/email_changed.txt")]
struct ChangedText<'a> {
    username: &'a str,
    new_email: &'a str,
    when: &'a str,
    ip: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/email_changed.html")]
struct ChangedHtml<'a> {
    username: &'a str,
    new_email: &'a str,
    when: &'a str,
    ip: Option<&'a str>,
}

/// To the old address once the change is done: the last message it gets about the
/// account, so it says what to do if the owner did not do this.
pub fn email_changed(
    user: &UserRow,
    old_email: &str,
    ip: Option<&str>,
) -> Result<Mail, askama::Error> {
    let when = crate::time::format_utc(crate::time::now());
    let (username, new_email) = (user.username.as_str(), user.email.as_str());
    Ok(Mail {
        to: old_email.to_owned(),
        subject: "Your email address was changed".into(),
        text: ChangedText {
            username,
            new_email,
            when: &when,
            ip,
        }
        .render()?,
        html: ChangedHtml {
            username,
            new_email,
            when: &when,
            ip,
        }
        .render()?,
    })
}
