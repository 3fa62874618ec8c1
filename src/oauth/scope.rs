//! Scopes (RFC 6749 §3.3): parsing, checking against what a client may ask for, and the
//! words shown on the consent page.

use super::error::{ErrorCode, OAuthError};

pub const OPENID: &str = "openid";
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The scopes this provider knows, with their meaning in plain words.
pub const KNOWN: [(&str, &str); 6] = [
    ("openid", "Confirm who you are (your account identifier)"),
    (
        "profile",
        "See your name, username and other profile details",
    ),
    ("email", "See your email address and whether it is verified"),
    ("address", "See your postal address"),
    ("phone", "See your phone number and whether it is verified"),
    (
        "offline_access",
        "Stay connected while you are away (until you revoke it)",
    ),
];

/// Parses a space-delimited scope string: each token is printable ASCII without `"` or `\`
/// (RFC 6749 §3.3); duplicates are dropped; order is kept.
pub fn parse(raw: &str) -> Result<Vec<String>, OAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "malformed scope"));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

/// Checks that every requested scope is known and allowed for the client.
pub fn check_allowed(requested: &[String], allowed: &[String]) -> Result<(), OAuthError> {
    match requested.iter().find(|s| !allowed.contains(s)) {
        Some(s) => Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope {s} is not allowed for this client"),
        )),
        None => Ok(()),
    }
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn describe(scope: &str) -> &str {
    KNOWN
        .iter()
        .find(|(name, _)| *name == scope)
        .map_or(scope, |(_, words)| words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_drops_duplicates_and_empty_tokens() {
        assert_eq!(parse("openid  email openid").unwrap(), ["openid", "email"]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for bad in ["open\"id", "a\\b", "tab\tbed", "ünï"] {
            assert_eq!(
                parse(bad).unwrap_err().code,
                ErrorCode::InvalidScope,
                "{bad}"
            );
        }
    }

    #[test]
    fn only_allowed_scopes_pass() {
        let allowed = vec!["openid".to_string(), "email".to_string()];
        assert!(check_allowed(&["openid".into()], &allowed).is_ok());
        assert!(check_allowed(&["openid".into(), "admin".into()], &allowed).is_err());
    }
}
