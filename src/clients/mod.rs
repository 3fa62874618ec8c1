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
    /// `field` is the metadata name of the list holding `uri` (`redirect_uris` or
    /// `post_logout_redirect_uris`); `uri` is already shortened for echoing.
    #[error("invalid {field} entry: {reason}: {uri}")]
    InvalidRedirectUri {
        field: &'static str,
        uri: String,
        reason: &'static str,
    },
    #[error(
        "unknown grant type {0} (use authorization_code, refresh_token or client_credentials)"
    )]
    UnknownGrantType(String),
    #[error("unknown token endpoint auth method {0} (use client_secret_basic, client_secret_post, private_key_jwt or none)")]
    UnknownAuthMethod(String),
    #[error("{0}")]
    Inconsistent(&'static str),
    #[error("invalid scope {0}")]
    InvalidScope(String),
    #[error("invalid JWK Set: {0}")]
    InvalidJwks(&'static str),
    #[error("invalid JWK Set: key {key} cannot be used: {reason}")]
    UnusableKey { key: String, reason: String },
    #[error("invalid {field} entry: it names {kind}; redirect URIs must name a public host (only public clients may use http on a loopback IP address or localhost): {uri}")]
    PrivateRedirectUri {
        field: &'static str,
        uri: String,
        kind: &'static str,
    },
    #[error(
        "invalid jwks_uri: it names {kind}; client keys are only fetched from public hosts: {uri}"
    )]
    PrivateJwksUri { uri: String, kind: &'static str },
    #[error("invalid ID token claims {0}: use email, all, none, or scopes among profile, email, address, phone")]
    InvalidIdTokenClaims(String),
    #[error("no client with id {0}")]
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
/// What a sign-in client may ask for unless told otherwise; the user still consents to each.
pub const DEFAULT_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

mod addresses;
mod keys;
mod validate;

pub use addresses::AddressPolicy;
use validate::{allowed_scopes, dedup, validate};
pub use validate::{redirect_uri_matches, usable_jwks, validate_jwks, validate_redirect_uri};

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
    /// address phone offline_access) for clients with a user-facing grant, none otherwise.
    pub scopes: Vec<String>,
    /// RS256 (default) or ES256.
    pub id_token_alg: Option<String>,
    /// Pairwise subject identifiers (OIDC Core §8.1) instead of the user id.
    pub pairwise: bool,
    /// Seconds a rotated refresh token may be presented again (confidential clients only).
    pub refresh_grace_secs: i64,
    /// May introspect any client's tokens (a resource server).
    pub introspect_any: bool,
    /// Every sign-in for this client needs a second factor.
    pub require_mfa: bool,
    /// The client's public keys (a JWK Set document), for private_key_jwt...
    pub jwks: Option<String>,
    /// ...or where to fetch them (https).
    pub jwks_uri: Option<String>,
    /// Which scopes' claims also go into the ID token: `email` (when `None`), `all`,
    /// `none`, or scopes separated by spaces or commas.
    pub id_token_claims: Option<String>,
}

/// A freshly registered client and, for confidential clients, its secret (never stored).
pub struct Registered {
    pub client: Client,
    pub secret: Option<SecretString>,
    /// RFC 7592 registration access token, for dynamically registered clients.
    pub registration_token: Option<SecretString>,
}

/// Validates `new` into a client record with no secret; timestamps are `now` unless
/// `created_at` says otherwise.
fn build(
    new: &NewClient,
    client_id: String,
    created_at: Option<i64>,
    policy: AddressPolicy,
) -> Result<Client, ClientError> {
    let (grant_types, method) = validate(new, policy)?;
    let allowed_scopes = allowed_scopes(new, &grant_types)?;
    let id_token_claims = crate::oauth::claims::normalize_id_token_claims(
        new.id_token_claims.as_deref().unwrap_or_default(),
    )
    .map_err(ClientError::InvalidIdTokenClaims)?;
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
        require_mfa: new.require_mfa,
        id_token_claims,
    })
}

/// Whether the client authenticates with a shared secret.
fn uses_secret(client: &Client) -> bool {
    matches!(
        client.token_endpoint_auth_method.as_str(),
        "client_secret_basic" | "client_secret_post"
    )
}

/// Registers a client without judging its hosts ([`AddressPolicy::ANY`]). For tests and
/// fixtures only: it would let anyone redirect into a private network or make Portcullis
/// fetch keys from one. The CLI and dynamic registration use [`register_with`] and the
/// operator's policy.
#[doc(hidden)]
pub async fn register_unchecked(
    store: &Store,
    new: NewClient,
    actor: Actor,
) -> Result<Registered, ClientError> {
    register_with(store, new, actor, false, AddressPolicy::ANY).await
}

/// Registers a client if its URLs name only hosts `policy` allows. With
/// `management_token`, also issues an RFC 7592 registration access token (dynamic
/// registration), stored as a hash like the secret. Nothing is written when it is refused.
pub async fn register_with(
    store: &Store,
    new: NewClient,
    actor: Actor,
    management_token: bool,
    policy: AddressPolicy,
) -> Result<Registered, ClientError> {
    let mut client = build(&new, random::identifier(), None, policy)?;
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
/// token; a client that switches to a secret-based method gets a new secret. The same rules
/// as at registration apply, `policy` included.
pub async fn update(
    store: &Store,
    current: &Client,
    new: NewClient,
    actor: Actor,
    policy: AddressPolicy,
) -> Result<Registered, ClientError> {
    let mut client = build(
        &new,
        current.client_id.clone(),
        Some(current.created_at),
        policy,
    )?;
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
        require_mfa: false,
        id_token_claims: "email".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules under the default (strict) address policy.
    fn validate(new: &NewClient) -> Result<(Vec<String>, String), ClientError> {
        validate::validate(new, AddressPolicy::default())
    }

    #[test]
    fn loopback_redirect_uris_match_on_any_port_for_public_clients_only() {
        for (registered, requested) in [
            ("http://127.0.0.1/cb", "http://127.0.0.1:53219/cb"),
            ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9/cb"),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1/cb"),
            ("http://[::1]/cb", "http://[::1]:4000/cb"),
            (
                "http://127.0.0.1:8765/cb?x=1",
                "http://127.0.0.1:1234/cb?x=1",
            ),
        ] {
            assert!(
                redirect_uri_matches(registered, requested, true),
                "{registered} {requested}"
            );
            // RFC 9700 §4.1.3: a confidential client gets the exact string.
            assert!(
                !redirect_uri_matches(registered, requested, false),
                "{registered} {requested}"
            );
        }
        for public in [true, false] {
            assert!(redirect_uri_matches(
                "http://127.0.0.1:8765/cb",
                "http://127.0.0.1:8765/cb",
                public
            ));
        }
    }

    #[test]
    fn only_the_registered_string_matches_never_a_normalised_url() {
        let registered = "http://127.0.0.1:8765/cb";
        for requested in [
            "http://127.0.0.1:08765/cb",
            "http://127.0.0.1:80/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:+8765/cb",
            "http://127.0.0.1:65536/cb",
            "HTTP://127.0.0.1:8765/cb",
            "Http://127.0.0.1:9000/cb",
            "http://127.000.0.1:8765/cb",
            "http://127.1:8765/cb",
            "http://0x7f.0.0.1:8765/cb",
            "http://127.0.0.2:8765/cb",
            "http://localhost:8765/cb",
            "http://127.0.0.1:8765/cb2",
            "http://127.0.0.1:8765/CB",
            "http://127.0.0.1:8765/./cb",
            "http://127.0.0.1:8765/x/../cb",
            "http://127.0.0.1:8765/%63b",
            "http://127.0.0.1:8765/cb?x=1",
            "http://127.0.0.1:8765/cb#f",
            "http://127.0.0.1:8765/cb/",
            "http://u@127.0.0.1:8765/cb",
            "https://127.0.0.1:8765/cb",
        ] {
            for public in [true, false] {
                assert!(
                    !redirect_uri_matches(registered, requested, public),
                    "{requested} (public: {public})"
                );
            }
        }
        for (registered, requested) in [
            ("http://[::1]:8765/cb", "http://[0:0:0:0:0:0:0:1]:8765/cb"),
            ("http://[::1]/cb", "http://[::1]:08765/cb"),
            ("http://localhost/cb", "http://localhost:5000/cb"),
            (
                "https://app.example.com/cb",
                "https://app.example.com:443/cb",
            ),
            ("https://app.example.com/cb", "HTTPS://app.example.com/cb"),
            ("https://app.example.com/cb", "https://APP.example.com/cb"),
            ("https://app.example.com/cb", "https://app.example.com/cb/"),
            (
                "https://app.example.com/cb",
                "https://app.example.com:444/cb",
            ),
            ("com.example.app:/cb", "com.example.app:/cb/"),
        ] {
            for public in [true, false] {
                assert!(
                    !redirect_uri_matches(registered, requested, public),
                    "{registered} {requested} (public: {public})"
                );
            }
        }
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
