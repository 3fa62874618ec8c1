//! Claims about the user (OIDC Core §5.1, §5.4, §5.5) and subject identifiers (§8).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::store::clients::Client;
use crate::store::users::UserRow;

/// Claims this provider can release, by the scope that releases them.
pub const SUPPORTED: [(&str, &str); 5] = [
    ("name", "profile"),
    ("preferred_username", "profile"),
    ("updated_at", "profile"),
    ("email", "email"),
    ("email_verified", "email"),
];

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

fn value_of(user: &UserRow, claim: &str) -> Option<Value> {
    match claim {
        "name" => Some(json!(user
            .display_name
            .clone()
            .unwrap_or_else(|| user.username.clone()))),
        "preferred_username" => Some(json!(user.username)),
        "updated_at" => Some(json!(user.updated_at)),
        "email" => Some(json!(user.email)),
        "email_verified" => Some(json!(user.email_verified)),
        _ => None,
    }
}

/// The user's claims for the granted `scopes`, plus those named in the `claims` request
/// member (`userinfo` or `id_token`); the user consented to both (see
/// [`scopes_for_consent`]).
pub fn for_user(
    user: &UserRow,
    scopes: &[String],
    requested: Option<&Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (claim, scope) in SUPPORTED {
        let asked = requested
            .and_then(Value::as_object)
            .is_some_and(|r| r.contains_key(claim));
        if asked || scopes.iter().any(|s| s == scope) {
            if let Some(v) = value_of(user, claim) {
                out.insert(claim.to_owned(), v);
            }
        }
    }
    out
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
