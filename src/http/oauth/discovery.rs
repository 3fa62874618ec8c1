//! OpenID Provider metadata (OIDC Discovery 1.0 §3), authorization server metadata
//! (RFC 8414) and the JWK Set. The metadata advertises exactly what is implemented.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::http::AppState;
use crate::mfa::{ACR_MFA, ACR_SINGLE_FACTOR};
use crate::oauth::claims::SUPPORTED;
use crate::oauth::client_assertion::SIGNING_ALGS;
use crate::oauth::{scope, Provider};

const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

pub fn metadata(p: &Provider, registration: bool) -> Value {
    let mut claims: Vec<&str> = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "sid",
        "at_hash",
    ];
    claims.extend(SUPPORTED.iter().map(|(c, _)| *c));
    let mut meta = json!({
        "issuer": p.issuer,
        "authorization_endpoint": p.endpoint("/authorize"),
        "token_endpoint": p.endpoint("/token"),
        "userinfo_endpoint": p.endpoint("/userinfo"),
        "jwks_uri": p.endpoint("/jwks.json"),
        "introspection_endpoint": p.endpoint("/introspect"),
        "revocation_endpoint": p.endpoint("/revoke"),
        "end_session_endpoint": p.endpoint("/end_session"),
        "scopes_supported": scope::KNOWN.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": [ACR_SINGLE_FACTOR, ACR_MFA],
        "authorization_response_iss_parameter_supported": true,
    });
    if registration {
        meta["registration_endpoint"] = json!(p.endpoint("/register"));
    }
    meta
}

fn cacheable(body: Value, max_age: u64) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .json(body)
}

/// `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn get_metadata(state: web::Data<AppState>) -> HttpResponse {
    cacheable(
        metadata(&state.provider, state.settings.registration.enabled),
        3600,
    )
}

/// The JWK Set. Its cache lifetime stays well inside the pre-publication window, so a relying
/// party always holds a new key before it signs anything.
pub async fn get_jwks(state: web::Data<AppState>) -> HttpResponse {
    let max_age = (state.settings.keys.prepublish_secs / 4).min(3600);
    cacheable(state.provider.keys.jwks(), max_age)
}
