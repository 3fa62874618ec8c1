//! Claims about the user (OIDC Core §5.1, §5.4, §5.5) and subject identifiers (§8).
//!
//! Release rules: userinfo gets every claim of the scopes the access token carries; the ID
//! token only those of the scopes the client chose (`clients.id_token_claims`, default
//! `email`), because ID tokens travel through browsers and logs. Either gets, besides, the
//! claims named in its member of the `claims` request parameter, but only when the client
//! may ask for the scope behind them (checked again here, not only when the request was
//! made). Likewise a scope the token carries releases its claims only while the client is
//! still allowed that scope: an operator who narrows a client's `allowed_scopes` stops the
//! release at once, for tokens already issued too. A claim the user has not set is left
//! out, never sent as null.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::accounts::profile::{Field, Profile};
use crate::store::clients::Client;
use crate::store::users::UserRow;

/// The scopes that release claims about the user (OIDC Core §5.4).
pub const CLAIM_SCOPES: [&str; 4] = ["profile", "email", "address", "phone"];

/// Claims this provider can release, by the scope that releases them (OIDC Core §5.4).
pub const SUPPORTED: [(&str, &str); 19] = [
    ("name", "profile"),
    ("family_name", "profile"),
    ("given_name", "profile"),
    ("middle_name", "profile"),
    ("nickname", "profile"),
    ("preferred_username", "profile"),
    ("profile", "profile"),
    ("picture", "profile"),
    ("website", "profile"),
    ("gender", "profile"),
    ("birthdate", "profile"),
    ("zoneinfo", "profile"),
    ("locale", "profile"),
    ("updated_at", "profile"),
    ("email", "email"),
    ("email_verified", "email"),
    ("address", "address"),
    ("phone_number", "phone"),
    ("phone_number_verified", "phone"),
];

/// The ID-token policy a client has when it says nothing: the `email` scope's claims,
/// which Kubernetes and many relying parties read from the ID token.
pub const DEFAULT_ID_TOKEN_CLAIMS: &str = "email";

/// Normalises a client's ID-token policy: `all`, `none`, or scopes from
/// [`CLAIM_SCOPES`] separated by spaces or commas. `Err` names the unknown word.
pub fn normalize_id_token_claims(raw: &str) -> Result<String, String> {
    let words: Vec<&str> = raw.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    match words.as_slice() {
        [] => Ok(DEFAULT_ID_TOKEN_CLAIMS.to_owned()),
        ["all"] => Ok("all".to_owned()),
        ["none"] => Ok("none".to_owned()),
        _ => {
            let mut out: Vec<&str> = Vec::new();
            for w in words {
                let Some(scope) = CLAIM_SCOPES.iter().find(|s| **s == w) else {
                    return Err(w.to_owned());
                };
                if !out.contains(scope) {
                    out.push(scope);
                }
            }
            Ok(out.join(" "))
        }
    }
}

/// The scopes whose claims also go into this client's ID tokens.
pub fn id_token_scopes(client: &Client) -> Vec<&'static str> {
    match client.id_token_claims.as_str() {
        "all" => CLAIM_SCOPES.to_vec(),
        "none" => Vec::new(),
        list => CLAIM_SCOPES
            .into_iter()
            .filter(|s| list.split(' ').any(|w| w == *s))
            .collect(),
    }
}

/// `sub` for this user at this client: the user id, or for pairwise clients a value that
/// differs per sector (the redirect URIs' host) so that clients cannot correlate users.
pub fn subject(client: &Client, user_id: &str, salt: &[u8; 32]) -> String {
    if client.subject_type != "pairwise" {
        return user_id.to_owned();
    }
    let sector = client
        .redirect_uris
        .first()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| client.client_id.clone());
    let mut h = Sha256::new();
    h.update(salt);
    h.update(sector.as_bytes());
    h.update([0]);
    h.update(user_id.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// A claim's value, or `None` when the user has not set it (the claim is then left out,
/// OIDC Core §5.3.2). `name` and `preferred_username` fall back to the username.
fn value_of(user: &UserRow, profile: &Profile, claim: &str) -> Option<Value> {
    match claim {
        "name" => Some(json!(profile.get(Field::Name).unwrap_or(&user.username))),
        "preferred_username" => Some(json!(profile
            .get(Field::PreferredUsername)
            .unwrap_or(&user.username))),
        "updated_at" => Some(json!(user.updated_at)),
        "email" => Some(json!(user.email)),
        "email_verified" => Some(json!(user.email_verified)),
        "address" => profile.address.as_ref().map(|a| json!(a)),
        "phone_number_verified" => profile
            .get(Field::PhoneNumber)
            .map(|_| json!(profile.phone_number_verified())),
        other => Field::from_claim(other)
            .and_then(|f| profile.get(f))
            .map(|v| json!(v)),
    }
}

/// The user's claims: those of `scopes`, plus those named in one member (`userinfo` or
/// `id_token`) of the `claims` request parameter; either way only if the client may (still)
/// ask for the claim's scope (`allowed`, the client's current `allowed_scopes`). The user
/// consented to every such scope (see [`scopes_for_consent`]).
pub fn for_user(
    user: &UserRow,
    profile: &Profile,
    scopes: &[&str],
    requested: Option<&Value>,
    allowed: &[String],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (claim, scope) in SUPPORTED {
        if !allowed.iter().any(|s| s == scope) {
            continue;
        }
        let asked = requested
            .and_then(Value::as_object)
            .is_some_and(|r| r.contains_key(claim));
        if asked || scopes.contains(&scope) {
            if let Some(v) = value_of(user, profile, claim) {
                out.insert(claim.to_owned(), v);
            }
        }
    }
    out
}

/// A claim in words, for the consent page.
pub fn describe(claim: &str) -> &'static str {
    match claim {
        "name" => "full name",
        "preferred_username" => "username",
        "updated_at" => "when your profile last changed",
        "email" => "email address",
        "email_verified" => "whether your email address is verified",
        "address" => "postal address",
        "phone_number_verified" => "whether your phone number is verified",
        other => Field::from_claim(other).map_or("other details", |f| f.label()),
    }
}

/// What the consent page lists for each scope the user is asked for: the scope and, in
/// words, every claim it releases (consent is remembered per scope, so the whole scope is
/// shown even when the `claims` parameter named only one of its claims).
pub fn consent_claims(scope: &str) -> String {
    let words: Vec<String> = SUPPORTED
        .iter()
        .filter(|(_, s)| *s == scope)
        .map(|(c, _)| describe(c).to_lowercase())
        .collect();
    words.join(", ")
}

/// The scopes a user must consent to for a request: those asked for, plus the scope behind
/// every claim requested by name in the `claims` parameter.
pub fn scopes_for_consent(scopes: &[String], claims_request: Option<&Value>) -> Vec<String> {
    let mut out = scopes.to_vec();
    let members = ["userinfo", "id_token"].into_iter().filter_map(|m| {
        claims_request
            .and_then(|c| c.get(m))
            .and_then(Value::as_object)
    });
    for member in members {
        for name in member.keys() {
            if let Some((_, scope)) = SUPPORTED.iter().find(|(c, _)| c == name) {
                if !out.iter().any(|s| s == scope) {
                    out.push((*scope).to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_choices_are_normalised_and_unknown_words_refused() {
        assert_eq!(normalize_id_token_claims("").unwrap(), "email");
        assert_eq!(normalize_id_token_claims(" all ").unwrap(), "all");
        assert_eq!(normalize_id_token_claims("none").unwrap(), "none");
        assert_eq!(
            normalize_id_token_claims("phone,profile phone").unwrap(),
            "phone profile"
        );
        for bad in ["openid", "all email", "none,none", "Profile"] {
            assert!(normalize_id_token_claims(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_claim_scope_is_a_known_scope() {
        for (_, scope) in SUPPORTED {
            assert!(CLAIM_SCOPES.contains(&scope));
            assert!(crate::oauth::scope::KNOWN.iter().any(|(s, _)| *s == scope));
        }
    }
}
