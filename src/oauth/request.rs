//! Authorization requests (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): strict parsing and
//! validation against the client.
//!
//! Invariants: nothing is ever sent to a redirect URI before the client is known and the
//! redirect URI is an exact string match of a registered one (RFC 9700 §4.1.3; for public
//! native clients a registered loopback IP literal may differ in port only, RFC 8252 §7.3),
//! whatever else is wrong with the request: until then every error is shown as a page. A parameter sent twice is an error (RFC 6749 §3.1); unknown
//! parameters are ignored; every parameter has a length limit.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ErrorCode, OAuthError};
use super::{pkce, scope};
use crate::store::clients::Client;

/// Parameters of a request, as name/value pairs in arrival order.
pub struct Params(Vec<(String, String)>);

/// Upper bounds on parameter lengths, in bytes. `state` is generous: clients pack data in
/// it and must get it back byte for byte.
const LIMITS: [(&str, usize); 17] = [
    ("client_id", 256),
    ("redirect_uri", 2000),
    ("response_type", 64),
    ("response_mode", 32),
    ("scope", 1000),
    ("state", 4096),
    ("nonce", 512),
    ("code_challenge", 128),
    ("code_challenge_method", 16),
    ("prompt", 64),
    ("max_age", 10),
    ("login_hint", 256),
    ("acr_values", 512),
    ("ui_locales", 256),
    ("claims", 4096),
    ("display", 16),
    ("id_token_hint", 8192),
];

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    /// The single value of `name`; an error if it appears more than once.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        Ok(first)
    }

    fn check_all(&self) -> Result<(), OAuthError> {
        for (name, limit) in LIMITS {
            if let Some(value) = self.get(name)? {
                if value.len() > limit {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter {name} is too long"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// Where and how an authorization response (success or error) goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseTarget {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

/// A validated authorization request, as stored while the user signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub target: ResponseTarget,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// A preference list (OIDC Core §3.1.2.1): it never makes a second factor compulsory;
    /// see [`AuthorizationRequest::acr_demand`].
    pub acr_values: Vec<String>,
    /// The OIDC `claims` request parameter (§5.5), already parsed.
    pub claims: Option<Value>,
    pub ui_locales: Option<String>,
    /// The session that signed in for this request (set by the login page), which
    /// satisfies `prompt=login` and `max_age`.
    #[serde(default)]
    pub authenticated_sid: Option<String>,
    /// `sub` of the `id_token_hint`, once verified: the user the client expects.
    #[serde(default)]
    pub hint_sub: Option<String>,
}

impl AuthorizationRequest {
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == scope::OPENID)
    }

    /// The values of an `acr` requested as essential in the `claims` parameter's `id_token`
    /// member (OIDC Core §5.5.1.1: `value` or `values`); `None` when acr is not essential.
    /// A value that is not a string counts as one this provider does not know.
    pub fn essential_acr(&self) -> Option<Vec<String>> {
        let acr = self.claims.as_ref()?.get("id_token")?.get("acr")?;
        if acr.get("essential") != Some(&Value::Bool(true)) {
            return None;
        }
        let as_string = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        // A malformed `values` (not an array) is not ignored: a lone string is taken as
        // the one value, anything else as a value nobody knows.
        let mut values: Vec<String> = match acr.get("values") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.iter().map(as_string).collect(),
            Some(other) => vec![as_string(other)],
        };
        if let Some(v) = acr.get("value") {
            values.push(as_string(v));
        }
        Some(values)
    }

    /// What this request demands of the authentication: only an essential acr demands.
    pub fn acr_demand(&self) -> crate::mfa::AcrDemand {
        crate::mfa::AcrDemand::essential(self.essential_acr().as_deref())
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum RequestError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Page(String),
    /// Tell the client, at its redirect URI.
    Redirect(ResponseTarget, OAuthError),
}

/// The client id, before anything else: needed to find the client.
pub fn client_id(params: &Params) -> Result<String, RequestError> {
    match params.get("client_id") {
        Ok(Some(id)) if !id.is_empty() && id.len() <= 256 => Ok(id.to_owned()),
        Ok(_) => Err(RequestError::Page(
            "The request has no valid client_id.".into(),
        )),
        Err(_) => Err(RequestError::Page(
            "The client_id parameter is repeated.".into(),
        )),
    }
}

fn redirect_uri(params: &Params, client: &Client) -> Result<String, RequestError> {
    let uri = match params.get("redirect_uri") {
        Ok(Some(uri)) if !uri.is_empty() => uri,
        Ok(_) => {
            return Err(RequestError::Page(
                "The request has no redirect_uri.".into(),
            ))
        }
        Err(_) => {
            return Err(RequestError::Page(
                "The redirect_uri parameter is repeated.".into(),
            ))
        }
    };
    if !client
        .redirect_uris
        .iter()
        .any(|registered| crate::clients::redirect_uri_matches(registered, uri, client.is_public))
    {
        return Err(RequestError::Page(
            "The redirect_uri is not registered for this application.".into(),
        ));
    }
    Ok(uri.to_owned())
}

/// Validates a request for `client` (already found by [`client_id`]).
pub fn validate(params: &Params, client: &Client) -> Result<AuthorizationRequest, RequestError> {
    let redirect_uri = redirect_uri(params, client)?;
    // A repeated state cannot be echoed faithfully; the error then goes without one.
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let mode = match params.get("response_mode") {
        Ok(None) | Ok(Some("query")) => Ok(ResponseMode::Query),
        Ok(Some("form_post")) => Ok(ResponseMode::FormPost),
        Ok(Some(_)) => Err(OAuthError::invalid_request("unsupported response_mode")),
        Err(e) => Err(e),
    };
    let target = ResponseTarget {
        redirect_uri,
        response_mode: *mode.as_ref().unwrap_or(&ResponseMode::Query),
        state,
    };
    let fail = |e: OAuthError| RequestError::Redirect(target.clone(), e);
    mode.map_err(fail)?;
    validate_rest(params, client, target.clone()).map_err(fail)
}

fn validate_rest(
    params: &Params,
    client: &Client,
    target: ResponseTarget,
) -> Result<AuthorizationRequest, OAuthError> {
    params.check_all()?;
    if params.get("request")?.is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri")?.is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match params.get("response_type")? {
        None => return Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scopes = scope::parse(params.get("scope")?.unwrap_or(""))?;
    scope::check_allowed(&scopes, &client.allowed_scopes)?;
    let code_challenge = match (
        params.get("code_challenge")?,
        params.get("code_challenge_method")?,
    ) {
        (None, None) if client.is_public => {
            return Err(OAuthError::invalid_request(
                "PKCE (code_challenge with S256) is required",
            ))
        }
        (None, None) => None,
        (None, Some(_)) => return Err(OAuthError::invalid_request("code_challenge is missing")),
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            ))
        }
        (Some(c), Some("S256")) if pkce::is_valid_challenge(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(OAuthError::invalid_request("malformed code_challenge"))
        }
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "unsupported code_challenge_method",
            ))
        }
    };
    let (prompt_none, prompt_login, prompt_consent) = parse_prompt(params.get("prompt")?)?;
    let max_age = match params.get("max_age")? {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer")
        })?),
    };
    let claims = match params.get("claims")? {
        None => None,
        Some(raw) => Some(parse_claims(raw)?),
    };
    // Claims asked for by name count against the client's allowed scopes too.
    scope::check_allowed(
        &super::claims::scopes_for_consent(&scopes, claims.as_ref()),
        &client.allowed_scopes,
    )?;
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        target,
        scopes,
        nonce: params.get("nonce")?.map(str::to_owned),
        code_challenge,
        prompt_none,
        prompt_login,
        prompt_consent,
        max_age,
        login_hint: params.get("login_hint")?.map(str::to_owned),
        acr_values: params
            .get("acr_values")?
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        claims,
        ui_locales: params.get("ui_locales")?.map(str::to_owned),
        authenticated_sid: None,
        hint_sub: None,
    })
}

/// Returns (none, login, consent); `select_account` counts as login (one account per
/// browser: choosing another means signing in again).
fn parse_prompt(raw: Option<&str>) -> Result<(bool, bool, bool), OAuthError> {
    let Some(raw) = raw else {
        return Ok((false, false, false));
    };
    let values: Vec<&str> = raw.split(' ').filter(|v| !v.is_empty()).collect();
    let (mut none, mut login, mut consent) = (false, false, false);
    for v in &values {
        match *v {
            "none" => none = true,
            "login" | "select_account" => login = true,
            "consent" => consent = true,
            _ => {
                return Err(OAuthError::invalid_request(format!(
                    "unsupported prompt value {v}"
                )))
            }
        }
    }
    if none && values.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok((none, login, consent))
}

/// OIDC Core §5.5: a JSON object with optional `userinfo` and `id_token` members, each an
/// object of claim names to null or an object.
fn parse_claims(raw: &str) -> Result<Value, OAuthError> {
    let bad = || OAuthError::invalid_request("claims must be a JSON object per OIDC Core 5.5");
    let value: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let object = value.as_object().ok_or_else(bad)?;
    for (member, requested) in object {
        if member != "userinfo" && member != "id_token" {
            continue;
        }
        let requested = requested.as_object().ok_or_else(bad)?;
        if requested.values().any(|v| !(v.is_null() || v.is_object())) {
            return Err(bad());
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
