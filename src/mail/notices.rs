//! Security notices sent to a user after changes to their account.

use askama::Template;

use super::Mail;

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
