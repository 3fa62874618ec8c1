//! Registration rules: redirect URIs (RFC 6749 §3.1.2, RFC 8252, RFC 9700 §4.1), grant and
//! authentication-method consistency, scopes, and client key material.

use super::addresses::{private_host, AddressPolicy};
use super::{ClientError, NewClient, AUTH_METHODS, DEFAULT_SCOPES, GRANT_TYPES};

/// Whether a requested redirect URI matches a registered one, compared as strings, never as
/// parsed URLs (RFC 9700 §4.1.3): a parser would accept `:08765`, an explicit default port,
/// an upper-case scheme or host, dot segments or re-encodings as "the same" URI.
///
/// Only for a public (native) client, and only for a registered `http` loopback IP literal,
/// the port may differ (RFC 8252 §7.3: native apps listen on an ephemeral port); every other
/// byte must equal the registered string, and the requested port must be written plainly.
/// Confidential clients get the exact string.
pub fn redirect_uri_matches(registered: &str, requested: &str, public: bool) -> bool {
    if registered == requested {
        return true;
    }
    if !public {
        return false;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some((host_a, _, rest_a)), Some((host_b, port_b, rest_b))) => {
            host_a == host_b && rest_a == rest_b && port_b.is_none_or(is_plain_port)
        }
        _ => false,
    }
}

/// Splits `http://HOST[:PORT]REST` for a loopback IP literal in its canonical spelling
/// (`127.0.0.1`, `[::1]`, never `127.000.0.1`) into host, port and the rest; `None` for
/// anything else.
fn loopback_parts(uri: &str) -> Option<(&str, Option<&str>, &str)> {
    let after = uri.strip_prefix("http://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    let loopback = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback() && ip.to_string() == v6),
        None => host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback() && ip.to_string() == host),
    };
    loopback.then_some((host, port, rest))
}

/// A port in its plain decimal form: 1 to 65535, no sign, no leading zero, and not 80
/// (http's default, which the registered form without a port already reaches).
fn is_plain_port(port: &str) -> bool {
    !port.starts_with('0')
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0 && p != 80)
}

/// At most 80 characters of `uri` for an error description, so that the reason before it
/// survives the description's length cap. The mark is "..." rather than an ellipsis:
/// RFC 6749 §5.2 allows only printable ASCII in `error_description`.
pub(super) fn shorten(uri: &str) -> String {
    const MAX: usize = 80;
    if uri.chars().count() <= MAX {
        return uri.to_owned();
    }
    let mut short: String = uri.chars().take(MAX - 3).collect();
    short.push_str("...");
    short
}

pub fn validate_redirect_uri(uri: &str, public: bool) -> Result<(), ClientError> {
    let bad = |reason| ClientError::InvalidRedirectUri {
        field: "redirect_uris",
        uri: shorten(uri),
        reason,
    };
    if uri.len() > 2000 {
        return Err(bad("longer than 2000 characters"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains white space"));
    }
    let parsed = url::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            if parsed
                .host_str()
                .is_some_and(crate::config::is_loopback_host)
            {
                Ok(())
            } else {
                Err(bad("http is only allowed for a loopback host; use https"))
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" => Err(bad("scheme not allowed")),
        scheme if public && scheme.contains('.') => Ok(()),
        _ if public => Err(bad(
            "a private-use scheme must be a reverse domain name, e.g. com.example.app",
        )),
        _ => Err(bad("confidential clients must use https")),
    }
}

/// The scopes a client may ask for: as given (each a valid scope token), or the defaults.
pub(super) fn allowed_scopes(
    new: &NewClient,
    grants: &[String],
) -> Result<Vec<String>, ClientError> {
    if new.scopes.is_empty() {
        let user_facing = grants.iter().any(|g| g == "authorization_code");
        return Ok(if user_facing {
            DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        });
    }
    let joined = new.scopes.join(" ");
    let parsed = crate::oauth::scope::parse(&joined)
        .map_err(|_| ClientError::InvalidScope(joined.clone()))?;
    if parsed.is_empty() {
        return Err(ClientError::InvalidScope(joined));
    }
    Ok(parsed)
}

pub(super) fn validate(
    new: &NewClient,
    policy: AddressPolicy,
) -> Result<(Vec<String>, String), ClientError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(ClientError::InvalidName("it is empty"));
    }
    if name.chars().count() > 100 {
        return Err(ClientError::InvalidName("use at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ClientError::InvalidName(
            "control characters are not allowed",
        ));
    }
    let mut grants: Vec<String> = Vec::new();
    for g in &new.grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(ClientError::UnknownGrantType(g.clone()));
        }
        if !grants.contains(g) {
            grants.push(g.clone());
        }
    }
    if grants.is_empty() {
        grants = vec!["authorization_code".into(), "refresh_token".into()];
    }
    let method = match (&new.auth_method, new.public) {
        (Some(m), _) if !AUTH_METHODS.contains(&m.as_str()) => {
            return Err(ClientError::UnknownAuthMethod(m.clone()))
        }
        (Some(m), true) if m != "none" => {
            return Err(ClientError::Inconsistent(
                "a public client has no secret: its auth method is none",
            ))
        }
        (Some(m), false) if m == "none" => {
            return Err(ClientError::Inconsistent(
                "auth method none is only for public clients (add --public)",
            ))
        }
        (Some(m), _) => m.clone(),
        (None, true) => "none".into(),
        (None, false) => "client_secret_basic".into(),
    };
    let has = |g: &str| grants.iter().any(|x| x == g);
    if new.public && has("client_credentials") {
        return Err(ClientError::Inconsistent(
            "client_credentials needs a confidential client",
        ));
    }
    if has("refresh_token") && !has("authorization_code") {
        return Err(ClientError::Inconsistent(
            "refresh_token is only issued with authorization_code",
        ));
    }
    if has("authorization_code") && new.redirect_uris.is_empty() {
        return Err(ClientError::Inconsistent(
            "authorization_code needs at least one redirect URI",
        ));
    }
    if !has("authorization_code") && !new.redirect_uris.is_empty() {
        return Err(ClientError::Inconsistent(
            "redirect URIs are only used with authorization_code",
        ));
    }
    let lists = [
        ("redirect_uris", &new.redirect_uris),
        ("post_logout_redirect_uris", &new.post_logout_redirect_uris),
    ];
    for (field, uris) in lists {
        for uri in uris {
            validate_redirect_uri(uri, new.public).map_err(|e| match e {
                ClientError::InvalidRedirectUri { uri, reason, .. } => {
                    ClientError::InvalidRedirectUri { field, uri, reason }
                }
                other => other,
            })?;
            // Users must not be sent with their codes into a private network or to a
            // metadata service, whatever the client: in dynamic registration "public" only
            // means token_endpoint_auth_method none, and a browser app is a public web
            // client. Native apps keep http loopback (RFC 8252 §7.3) and private-use
            // schemes (§7.1), which name no network host.
            let exempt = policy.allow_private_redirect_uris || (new.public && native_redirect(uri));
            if !exempt {
                refuse_private(uri, |uri, kind| ClientError::PrivateRedirectUri {
                    field,
                    uri,
                    kind,
                })?;
            }
        }
    }
    if new.pairwise {
        // The sector (OIDC Core §8.1) is the redirect URIs' host: one host, or a client
        // could list another relying party's URI and receive its users' subjects.
        let hosts: Vec<Option<String>> = new
            .redirect_uris
            .iter()
            .map(|u| {
                url::Url::parse(u)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
            })
            .collect();
        if hosts.is_empty() || hosts.iter().any(|h| h.is_none() || *h != hosts[0]) {
            return Err(ClientError::Inconsistent(
                "a pairwise client's redirect URIs must all be on one host",
            ));
        }
    }
    if let Some(alg) = &new.id_token_alg {
        if alg != "RS256" && alg != "ES256" {
            return Err(ClientError::Inconsistent(
                "the ID token algorithm must be RS256 or ES256",
            ));
        }
    }
    if new.refresh_grace_secs != 0 && (new.public || !(1..=60).contains(&new.refresh_grace_secs)) {
        return Err(ClientError::Inconsistent(
            "a refresh grace period is 1 to 60 seconds and only for confidential clients",
        ));
    }
    if new.introspect_any && new.public {
        return Err(ClientError::Inconsistent(
            "a public client cannot introspect tokens",
        ));
    }
    match (&new.jwks, &new.jwks_uri, method.as_str()) {
        (Some(jwks), None, "private_key_jwt") => validate_jwks(jwks)?,
        (None, Some(uri), "private_key_jwt") => {
            validate_jwks_uri(uri)?;
            if !policy.allow_private_jwks_uri {
                refuse_private(uri, |uri, kind| ClientError::PrivateJwksUri { uri, kind })?;
            }
        }
        (None, None, "private_key_jwt") => {
            return Err(ClientError::Inconsistent(
                "private_key_jwt needs the client's public keys: a JWK Set or a jwks_uri",
            ))
        }
        (Some(_), Some(_), _) => {
            return Err(ClientError::Inconsistent(
                "give either jwks or jwks_uri, not both",
            ))
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(ClientError::Inconsistent(
                "client keys are only used with private_key_jwt",
            ))
        }
        (None, None, _) => {}
    }
    Ok((grants, method))
}

/// An https URL (http only on a loopback host, for development) without credentials or
/// fragment; where it resolves to is checked when it is fetched.
fn validate_jwks_uri(uri: &str) -> Result<(), ClientError> {
    let bad = |reason| ClientError::InvalidJwks(reason);
    let url = url::Url::parse(uri).map_err(|_| bad("jwks_uri is not an absolute URL"))?;
    if uri.len() > 2000
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad("jwks_uri must not carry credentials or a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(crate::config::is_loopback_host) => Ok(()),
        _ => Err(bad("jwks_uri must use https")),
    }
}

/// A native app's redirect (RFC 8252): http on a loopback host (an IP literal or
/// `localhost`, as `validate_redirect_uri` accepts), or a private-use scheme (neither http
/// nor https), which the operating system hands to an app rather than to a network host.
fn native_redirect(uri: &str) -> bool {
    match url::Url::parse(uri) {
        Ok(url) => match url.scheme() {
            "http" => url.host_str().is_some_and(crate::config::is_loopback_host),
            "https" => false,
            _ => true,
        },
        Err(_) => false,
    }
}

/// `Err(refused(uri, kind))` when `uri` names a private host (see `addresses`), or cannot
/// be parsed (then nobody can tell where it leads).
fn refuse_private(
    uri: &str,
    refused: impl FnOnce(String, &'static str) -> ClientError,
) -> Result<(), ClientError> {
    let kind = match url::Url::parse(uri) {
        Ok(url) => private_host(&url),
        Err(_) => Some("no host that can be parsed"),
    };
    match kind {
        Some(kind) => Err(refused(shorten(uri), kind)),
        None => Ok(()),
    }
}

/// A JWK Set of usable public signing keys (see `keys`): RSA or EC, no private members, at
/// most 20 keys, each `kid` at most once. Registration refuses the whole set for one bad key:
/// the registering party is there to fix it.
pub fn validate_jwks(text: &str) -> Result<(), ClientError> {
    let keys = key_list(text)?;
    let mut kids: Vec<&str> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        if let Some(e) = key_error(index, key) {
            return Err(e);
        }
        if let Some(kid) = key.get("kid").and_then(serde_json::Value::as_str) {
            if kids.contains(&kid) {
                return Err(ClientError::UnusableKey {
                    key: key_label(index, key),
                    reason: "another key of the set has the same kid".into(),
                });
            }
            kids.push(kid);
        }
    }
    josekit::jwk::JwkSet::from_bytes(text.as_bytes())
        .map_err(|_| ClientError::InvalidJwks("not a valid JWK Set"))?;
    Ok(())
}

/// A fetched JWK Set with only its usable keys, and why each other key was dropped (no key
/// material, only position, `kid` and reason). A client's published set may hold keys for
/// other uses (encryption, other algorithms); one of them must not lock the client out.
/// Fails when no key is usable.
pub fn usable_jwks(text: &str) -> Result<(String, Vec<String>), ClientError> {
    let keys = key_list(text)?;
    let mut usable = Vec::new();
    let mut dropped = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        match key_error(index, key) {
            None => usable.push(key.clone()),
            Some(e) => dropped.push(e),
        }
    }
    if usable.is_empty() {
        return Err(dropped
            .into_iter()
            .next()
            .unwrap_or(ClientError::InvalidJwks("it must hold 1 to 20 keys")));
    }
    let set = serde_json::json!({ "keys": usable }).to_string();
    josekit::jwk::JwkSet::from_bytes(set.as_bytes())
        .map_err(|_| ClientError::InvalidJwks("not a valid JWK Set"))?;
    Ok((set, dropped.iter().map(ToString::to_string).collect()))
}

/// The `keys` array of a JWK Set document: 1 to 20 entries.
fn key_list(text: &str) -> Result<Vec<serde_json::Value>, ClientError> {
    let bad = |reason| ClientError::InvalidJwks(reason);
    let set: serde_json::Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let keys = set
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or(bad("no keys array"))?;
    if keys.is_empty() || keys.len() > 20 {
        return Err(bad("it must hold 1 to 20 keys"));
    }
    Ok(keys.clone())
}

/// Why key `index` of a set cannot be registered or used, if it cannot.
fn key_error(index: usize, key: &serde_json::Value) -> Option<ClientError> {
    let kty = key.get("kty").and_then(serde_json::Value::as_str);
    if !matches!(kty, Some("RSA" | "EC")) {
        return Some(ClientError::InvalidJwks(
            "only RSA and EC keys are accepted",
        ));
    }
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| key.get(*m).is_some())
    {
        return Some(ClientError::InvalidJwks(
            "it contains private key material; register public keys only",
        ));
    }
    super::keys::problem(key).map(|reason| ClientError::UnusableKey {
        key: key_label(index, key),
        reason,
    })
}

/// "2" or "2 (kid sig-2024)": the key's position, and its `kid` when that is a plain token
/// (it is echoed into error descriptions and terminals).
fn key_label(index: usize, key: &serde_json::Value) -> String {
    let position = index + 1;
    match key.get("kid").and_then(serde_json::Value::as_str) {
        Some(kid)
            if !kid.is_empty()
                && kid.len() <= 64
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            format!("{position} (kid {kid})")
        }
        _ => position.to_string(),
    }
}

pub(super) fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in list {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
