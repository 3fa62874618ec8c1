//! OAuth client registration rules.
//!
//! Invariants: a client secret is 256-bit random, shown once and stored only as SHA-256;
//! public clients have no secret and authenticate with `none` (PKCE instead), confidential
//! clients never use `none`; redirect URIs are absolute, fragment-free and either https,
//! http on a loopback host (RFC 8252 §7.3), or a private-use scheme for public native apps
//! (RFC 8252 §7.1). They are stored as given and later compared as exact strings.

use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::crypto::{random, token, SecretString};
use crate::store::clients::{self as rows, Client};
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid client name: {0}")]
    InvalidName(&'static str),
    #[error("invalid redirect URI {uri:?}: {reason}")]
    InvalidRedirectUri { uri: String, reason: &'static str },
    #[error(
        "unknown grant type {0:?} (use authorization_code, refresh_token or client_credentials)"
    )]
    UnknownGrantType(String),
    #[error("unknown token endpoint auth method {0:?} (use client_secret_basic, client_secret_post, private_key_jwt or none)")]
    UnknownAuthMethod(String),
    #[error("{0}")]
    Inconsistent(&'static str),
    #[error("invalid scope {0:?}")]
    InvalidScope(String),
    #[error("invalid JWK Set: {0}")]
    InvalidJwks(&'static str),
    #[error("no client with id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
pub const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

#[derive(Debug, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty means authorization_code + refresh_token.
    pub grant_types: Vec<String>,
    /// `None` means `none` for public and `client_secret_basic` for confidential clients.
    pub auth_method: Option<String>,
    pub public: bool,
    pub skip_consent: bool,
    /// Scopes the client may request; empty means the user scopes (openid profile email
    /// offline_access) for clients with a user-facing grant, none otherwise.
    pub scopes: Vec<String>,
    /// RS256 (default) or ES256.
    pub id_token_alg: Option<String>,
    /// Pairwise subject identifiers (OIDC Core §8.1) instead of the user id.
    pub pairwise: bool,
    /// Seconds a rotated refresh token may be presented again (confidential clients only).
    pub refresh_grace_secs: i64,
    /// May introspect any client's tokens (a resource server).
    pub introspect_any: bool,
    /// The client's public keys (a JWK Set document), for private_key_jwt...
    pub jwks: Option<String>,
    /// ...or where to fetch them (https).
    pub jwks_uri: Option<String>,
}

/// A freshly registered client and, for confidential clients, its secret (never stored).
pub struct Registered {
    pub client: Client,
    pub secret: Option<SecretString>,
    /// RFC 7592 registration access token, for dynamically registered clients.
    pub registration_token: Option<SecretString>,
}

/// Whether a requested redirect URI matches a registered one: the exact string, except that
/// for loopback IP addresses over http any port is allowed (RFC 8252 §7.3: native apps
/// listen on an ephemeral port).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let loopback_ip = |u: &url::Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    match (url::Url::parse(registered), url::Url::parse(requested)) {
        (Ok(mut a), Ok(mut b)) if loopback_ip(&a) && loopback_ip(&b) => {
            let _ = a.set_port(None);
            let _ = b.set_port(None);
            a == b && requested.starts_with("http://") && !requested.contains('#')
        }
        _ => false,
    }
}

pub fn validate_redirect_uri(uri: &str, public: bool) -> Result<(), ClientError> {
    let bad = |reason| ClientError::InvalidRedirectUri {
        uri: uri.to_owned(),
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
fn allowed_scopes(new: &NewClient, grants: &[String]) -> Result<Vec<String>, ClientError> {
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

fn validate(new: &NewClient) -> Result<(Vec<String>, String), ClientError> {
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
    for uri in new
        .redirect_uris
        .iter()
        .chain(&new.post_logout_redirect_uris)
    {
        validate_redirect_uri(uri, new.public)?;
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
        (None, Some(uri), "private_key_jwt") => validate_jwks_uri(uri)?,
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

/// A JWK Set of public signing keys: RSA or EC, no private members, at most 20 keys.
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

pub fn validate_jwks(text: &str) -> Result<(), ClientError> {
    let bad = |reason| ClientError::InvalidJwks(reason);
    let set: serde_json::Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let keys = set
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or(bad("no \"keys\" array"))?;
    if keys.is_empty() || keys.len() > 20 {
        return Err(bad("it must hold 1 to 20 keys"));
    }
    for key in keys {
        let kty = key.get("kty").and_then(serde_json::Value::as_str);
        if !matches!(kty, Some("RSA" | "EC")) {
            return Err(bad("only RSA and EC keys are accepted"));
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| key.get(*m).is_some())
        {
            return Err(bad(
                "it contains private key material; register public keys only",
            ));
        }
    }
    josekit::jwk::JwkSet::from_bytes(text.as_bytes()).map_err(|_| bad("not a valid JWK Set"))?;
    Ok(())
}

fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in list {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// Validates `new` into a client record with no secret; timestamps are `now` unless
/// `created_at` says otherwise.
fn build(
    new: &NewClient,
    client_id: String,
    created_at: Option<i64>,
) -> Result<Client, ClientError> {
    let (grant_types, method) = validate(new)?;
    let allowed_scopes = allowed_scopes(new, &grant_types)?;
    let now = crate::time::now();
    Ok(Client {
        client_id,
        secret_hash: None,
        name: new.name.trim().to_owned(),
        redirect_uris: dedup(&new.redirect_uris),
        post_logout_redirect_uris: dedup(&new.post_logout_redirect_uris),
        grant_types,
        token_endpoint_auth_method: method,
        is_public: new.public,
        allowed_scopes,
        skip_consent: new.skip_consent,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
        id_token_signed_response_alg: new.id_token_alg.clone().unwrap_or_else(|| "RS256".into()),
        subject_type: if new.pairwise { "pairwise" } else { "public" }.into(),
        jwks: new.jwks.clone(),
        jwks_uri: new.jwks_uri.clone(),
        refresh_grace_secs: new.refresh_grace_secs,
        may_introspect_any: new.introspect_any,
        registration_token_hash: None,
    })
}

/// Whether the client authenticates with a shared secret.
fn uses_secret(client: &Client) -> bool {
    matches!(
        client.token_endpoint_auth_method.as_str(),
        "client_secret_basic" | "client_secret_post"
    )
}

/// Registers a client. With `management_token`, also issues an RFC 7592 registration access
/// token (dynamic registration), stored as a hash like the secret.
pub async fn register(
    store: &Store,
    new: NewClient,
    actor: Actor,
) -> Result<Registered, ClientError> {
    register_with(store, new, actor, false).await
}

pub async fn register_with(
    store: &Store,
    new: NewClient,
    actor: Actor,
    management_token: bool,
) -> Result<Registered, ClientError> {
    let mut client = build(&new, random::identifier(), None)?;
    let secret = uses_secret(&client).then(random::secret_token);
    client.secret_hash = secret.as_deref().map(token::hash);
    let registration_token = management_token.then(random::secret_token);
    client.registration_token_hash = registration_token.as_deref().map(token::hash);
    let stored = client.clone();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                rows::insert(c, &stored)?;
                audit::record(
                    c,
                    Event {
                        action: "client.created",
                        actor: &actor,
                        target: Some(&stored.client_id),
                        ip: None,
                        detail: json!({
                            "name": stored.name,
                            "public": stored.is_public,
                            "dynamic": stored.registration_token_hash.is_some(),
                        }),
                    },
                )
            })
        })
        .await?;
    Ok(Registered {
        client,
        secret: secret.map(SecretString::new),
        registration_token: registration_token.map(SecretString::new),
    })
}

/// Replaces a client's metadata (RFC 7592 §2.2), keeping its id, secret and management
/// token; a client that switches to a secret-based method gets a new secret.
pub async fn update(
    store: &Store,
    current: &Client,
    new: NewClient,
    actor: Actor,
) -> Result<Registered, ClientError> {
    let mut client = build(&new, current.client_id.clone(), Some(current.created_at))?;
    let mut secret = None;
    if uses_secret(&client) {
        match &current.secret_hash {
            Some(hash) => client.secret_hash = Some(hash.clone()),
            None => {
                let fresh = random::secret_token();
                client.secret_hash = Some(token::hash(&fresh));
                secret = Some(SecretString::new(fresh));
            }
        }
    }
    client.registration_token_hash = current.registration_token_hash.clone();
    let stored = client.clone();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                rows::update(c, &stored)?;
                audit::record(
                    c,
                    Event {
                        action: "client.updated",
                        actor: &actor,
                        target: Some(&stored.client_id),
                        ip: None,
                        detail: json!({ "name": stored.name }),
                    },
                )
            })
        })
        .await?;
    Ok(Registered {
        client,
        secret,
        registration_token: None,
    })
}

pub async fn list(store: &Store) -> Result<Vec<Client>, ClientError> {
    Ok(store.run(rows::list).await?)
}

pub async fn remove(store: &Store, client_id: &str, actor: Actor) -> Result<(), ClientError> {
    let id = client_id.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if !rows::delete(c, &id)? {
                    return Err(ClientError::NotFound(id.clone()));
                }
                audit::record(
                    c,
                    Event {
                        action: "client.removed",
                        actor: &actor,
                        target: Some(&id),
                        ip: None,
                        detail: json!({}),
                    },
                )?;
                Ok(())
            })
        })
        .await
}

/// Checks a presented secret against the stored hash in constant time.
pub fn secret_matches(client: &Client, presented: &str) -> bool {
    client
        .secret_hash
        .as_deref()
        .is_some_and(|stored| token::constant_time_eq(stored, &token::hash(presented)))
}

/// A confidential web client with the default scopes, for unit tests elsewhere.
#[cfg(test)]
pub fn example_client() -> Client {
    Client {
        client_id: "c1".into(),
        secret_hash: None,
        name: "App".into(),
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        token_endpoint_auth_method: "client_secret_basic".into(),
        is_public: false,
        allowed_scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        skip_consent: false,
        created_at: 0,
        updated_at: 0,
        id_token_signed_response_alg: "RS256".into(),
        subject_type: "public".into(),
        jwks: None,
        jwks_uri: None,
        refresh_grace_secs: 0,
        may_introspect_any: false,
        registration_token_hash: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_uris_match_on_any_port_and_nothing_else_does() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53219/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]/cb",
            "http://[::1]:4000/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5000/cb2"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.2/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:5000/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example.com/cb",
            "https://app.example.com:444/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb/"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5000/cb?x=1"
        ));
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(validate_redirect_uri("https://app.example.com/cb", false).is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:9000/cb", false).is_ok());
        assert!(validate_redirect_uri("http://localhost/cb", true).is_ok());
        assert!(validate_redirect_uri("http://[::1]:8000/cb", true).is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth", true).is_ok());
        for (uri, public) in [
            ("http://app.example.com/cb", false),
            ("https://app.example.com/cb#frag", false),
            ("/relative", false),
            ("https://user:pw@app.example.com/cb", false),
            ("javascript:alert(1)", true),
            ("myapp:/cb", true),
            ("com.example.app:/oauth", false),
            ("https://app.example.com/c b", false),
        ] {
            assert!(validate_redirect_uri(uri, public).is_err(), "{uri}");
        }
    }

    #[test]
    fn public_and_confidential_rules() {
        let base = || NewClient {
            name: "App".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            ..NewClient::default()
        };
        let (grants, method) = validate(&base()).unwrap();
        assert_eq!(grants, ["authorization_code", "refresh_token"]);
        assert_eq!(method, "client_secret_basic");
        let (_, method) = validate(&NewClient {
            public: true,
            ..base()
        })
        .unwrap();
        assert_eq!(method, "none");
        assert!(validate(&NewClient {
            auth_method: Some("none".into()),
            ..base()
        })
        .is_err());
        assert!(validate(&NewClient {
            public: true,
            auth_method: Some("client_secret_post".into()),
            ..base()
        })
        .is_err());
        assert!(validate(&NewClient {
            public: true,
            grant_types: vec!["client_credentials".into()],
            redirect_uris: vec![],
            ..base()
        })
        .is_err());
        assert!(validate(&NewClient {
            redirect_uris: vec![],
            ..base()
        })
        .is_err());
        assert!(validate(&NewClient {
            grant_types: vec!["implicit".into()],
            ..base()
        })
        .is_err());
        let (grants, _) = validate(&NewClient {
            grant_types: vec!["client_credentials".into()],
            redirect_uris: vec![],
            ..base()
        })
        .unwrap();
        assert_eq!(grants, ["client_credentials"]);
    }
}
