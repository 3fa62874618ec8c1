//! `GET/POST /authorize` and `GET /authorize/continue` (RFC 6749 §4.1.1, OIDC Core §3.1.2).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::response::{error_to_client, to_client};
use crate::http::error::oauth::{temporarily_unavailable, Endpoint};
use crate::http::extract::{client_ip, CurrentSession};
use crate::http::pages::see_other;
use crate::http::{AppError, AppState};
use crate::mfa::SecondStep;
use crate::oauth::authorize::{self, Next};
use crate::oauth::claims::subject;
use crate::oauth::error::OAuthError;
use crate::oauth::logout::parse_hint;
use crate::oauth::request::{self, AuthorizationRequest, Params, RequestError, ResponseTarget};
use crate::oauth::FlowError;
use crate::sessions::ActiveSession;
use crate::store::clients::{self as client_rows, Client};

pub async fn get_authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let ip = client_ip(&req);
    authorize(&state, current.session, Params::new(query.into_inner()), ip).await
}

/// The same request as a form post (OIDC Core §3.1.2.1). No CSRF token: any site may start
/// an authorization request, exactly as with GET.
pub async fn post_authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let is_form = crate::http::extract::is_form(&req);
    if !is_form {
        return Err(AppError::UnsupportedMediaType);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("The authorization request is malformed.".into()))?;
    if current.cookie_token.is_none() {
        // A cross-site POST carries no SameSite=Lax cookie, so the user would look signed
        // out; the same request as a top-level GET does carry it.
        return Ok(resend_as_get("/authorize", &pairs));
    }
    let ip = client_ip(&req);
    authorize(&state, current.session, Params::new(pairs), ip).await
}

/// 303 to `path` with `pairs` as the query string.
pub fn resend_as_get(path: &str, pairs: &[(String, String)]) -> HttpResponse {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    see_other(&format!("{path}?{query}"))
}

async fn find_client(state: &AppState, client_id: &str) -> Result<Option<Client>, AppError> {
    let id = client_id.to_owned();
    Ok(state.store.run(move |c| client_rows::find(c, &id)).await?)
}

fn invalid_request_page(message: &str) -> AppError {
    AppError::BadRequest(format!(
        "The application sent an invalid sign-in request: {message} Nothing was sent back to it."
    ))
}

async fn authorize(
    state: &AppState,
    session: Option<ActiveSession>,
    params: Params,
    ip: Option<String>,
) -> Result<HttpResponse, AppError> {
    let validated = match request::client_id(&params) {
        Ok(client_id) => match find_client(state, &client_id).await? {
            Some(client) => request::validate(&params, &client).map(|r| (r, client)),
            None => Err(RequestError::Page(
                "The application (client_id) is not registered.".into(),
            )),
        },
        Err(e) => Err(e),
    };
    let (mut req, client) = match validated {
        Ok(ok) => ok,
        Err(RequestError::Page(message)) => return Err(invalid_request_page(&message)),
        Err(RequestError::Redirect(target, error)) => {
            return Ok(error_to_client(&target, &state.provider.issuer, &error))
        }
    };
    if let Ok(Some(hint)) = params.get("id_token_hint") {
        match parse_hint(&state.provider, hint) {
            Ok(h) if h.client_id == client.client_id => req.hint_sub = Some(h.sub),
            _ => {
                let error = OAuthError::invalid_request(
                    "id_token_hint is not a valid ID token for this client",
                );
                return Ok(error_to_client(&req.target, &state.provider.issuer, &error));
            }
        }
    }
    let target = req.target.clone();
    let outcome = proceed(state, req, &client, session, Pending::New { ip }).await;
    outage_to_client(outcome, &target, &state.provider.issuer)
}

/// Once the client and its redirect URI are validated, a database outage goes back to the
/// client as `temporarily_unavailable` (RFC 6749 §4.1.2.1), logged here since no error
/// page is built; before that it stays a page (503), as every other error does.
fn outage_to_client(
    outcome: Result<HttpResponse, AppError>,
    target: &ResponseTarget,
    issuer: &str,
) -> Result<HttpResponse, AppError> {
    match outcome {
        Err(AppError::Unavailable(cause)) => {
            let endpoint = Endpoint::Authorization.as_str();
            tracing::warn!(endpoint, cause, "database unavailable");
            Ok(error_to_client(target, issuer, &temporarily_unavailable()))
        }
        other => other,
    }
}

/// The stored request being resumed, or where a new one comes from.
enum Pending {
    New { ip: Option<String> },
    Stored { id: String },
}

/// OIDC Core §3.1.2.2: a session of another user than the `id_token_hint` names does not
/// count, unless that session signed in for this very request.
fn session_for_hint(
    req: &AuthorizationRequest,
    client: &Client,
    session: Option<ActiveSession>,
    salt: &[u8; 32],
) -> Option<ActiveSession> {
    let s = session?;
    let signed_in_for_it = req.authenticated_sid.as_deref() == Some(s.sid.as_str());
    match &req.hint_sub {
        Some(sub) if !signed_in_for_it && *sub != subject(client, &s.user.id, salt) => None,
        _ => Some(s),
    }
}

/// Takes the request to its next step, storing it (a new one) or resuming it.
async fn proceed(
    state: &AppState,
    req: AuthorizationRequest,
    client: &Client,
    session: Option<ActiveSession>,
    pending: Pending,
) -> Result<HttpResponse, AppError> {
    let provider = &state.provider;
    let session = session_for_hint(&req, client, session, &provider.pairwise_salt);
    if let (Pending::Stored { id }, Some(_)) = (&pending, &session) {
        authorize::promote(provider, id).await?;
    }
    let consented = match &session {
        Some(s) => authorize::consented_scopes(&state.store, &s.user.id, &client.client_id).await?,
        None => Vec::new(),
    };
    let second = match &session {
        Some(s) => second_step(state, &s.user.id, client, &req).await?,
        None => SecondStep::None,
    };
    let next = authorize::decide(
        &req,
        session.as_ref(),
        client,
        &consented,
        second,
        crate::time::now(),
    );
    let pending_id = match (&next, pending) {
        (Ok(Next::Login) | Ok(Next::SecondFactor) | Ok(Next::Consent), Pending::New { ip }) => {
            let signed_in = session.is_some();
            Some(authorize::save_pending(provider, &req, signed_in, ip.as_deref()).await?)
        }
        (_, Pending::New { .. }) => None,
        (_, Pending::Stored { id }) => Some(id),
    };
    match (next, session) {
        (Err(error), _) => {
            if let Some(id) = &pending_id {
                authorize::discard_pending(&state.store, id).await?;
            }
            Ok(error_to_client(&req.target, &provider.issuer, &error))
        }
        (Ok(Next::Login), _) | (_, None) => Ok(see_other(&format!(
            "/login?request={}",
            pending_id.unwrap_or_default()
        ))),
        (Ok(Next::SecondFactor), Some(_)) => Ok(see_other(&format!(
            "/login/mfa/start?request={}",
            pending_id.unwrap_or_default()
        ))),
        (Ok(Next::Consent), Some(_)) => Ok(see_other(&format!(
            "/consent?request={}",
            pending_id.unwrap_or_default()
        ))),
        (Ok(Next::IssueCode), Some(session)) => {
            issue(state, &req, &session, pending_id.as_deref(), false).await
        }
    }
}

/// What signing in for `req` needs after the first factor (see [`crate::mfa::second_step`]).
pub async fn second_step(
    state: &AppState,
    user_id: &str,
    client: &Client,
    req: &AuthorizationRequest,
) -> Result<SecondStep, AppError> {
    let policy = std::sync::Arc::clone(&state.mfa.policy);
    let (user_id, client, acr) = (user_id.to_owned(), client.clone(), req.acr_demand());
    Ok(state
        .store
        .run(move |c| crate::mfa::second_step(c, &policy, &user_id, Some(&client), acr))
        .await?)
}

/// Issues a code and sends it to the client.
pub async fn issue(
    state: &AppState,
    req: &AuthorizationRequest,
    session: &ActiveSession,
    pending: Option<&str>,
    consent_given: bool,
) -> Result<HttpResponse, AppError> {
    match authorize::issue_code(&state.provider, req, session, pending, consent_given).await {
        Ok(code) => Ok(to_client(
            &req.target,
            &state.provider.issuer,
            vec![("code", code)],
        )),
        Err(FlowError::OAuth(e)) => Err(AppError::BadRequest(e.description().to_owned())),
        Err(FlowError::Store(e)) => Err(e.into()),
        Err(FlowError::Keys(e)) => Err(AppError::unexpected(e)),
    }
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    #[serde(default)]
    request: String,
}

/// A stored request and its client, or the page to show when it is gone.
pub async fn load_pending(
    state: &AppState,
    id: &str,
) -> Result<(AuthorizationRequest, i64, Client), AppError> {
    let expired = || {
        AppError::BadRequest(
            "This sign-in request has expired or was already completed. Go back to the \
             application and start again."
                .into(),
        )
    };
    let (req, created) = authorize::load_pending(&state.store, id)
        .await?
        .ok_or_else(expired)?;
    let client = find_client(state, &req.client_id)
        .await?
        .ok_or_else(expired)?;
    Ok((req, created, client))
}

/// Where sign-in sends the browser back to, to finish a stored request.
pub async fn get_continue(
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<ContinueQuery>,
) -> Result<HttpResponse, AppError> {
    let (req, _, client) = load_pending(&state, &query.request).await?;
    let pending = Pending::Stored {
        id: query.request.clone(),
    };
    let target = req.target.clone();
    let outcome = proceed(&state, req, &client, current.session, pending).await;
    outage_to_client(outcome, &target, &state.provider.issuer)
}
