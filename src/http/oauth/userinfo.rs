//! `GET/POST /userinfo` (OIDC Core §5.3, RFC 6750).
//!
//! The access token comes in the Authorization header, or for POST in the form body
//! (RFC 6750 §2.2); never in the query string ([`crate::http::extract::bearer`]). What it
//! must be, and what it entitles to, is [`crate::oauth::userinfo`]'s to decide.

use actix_web::{web, HttpResponse};

use super::response::json_no_store;
use crate::http::error::oauth::{flow_error, BearerChallenge, Endpoint};
use crate::http::extract::{Bearer, BearerOrForm, Credential};
use crate::http::AppState;
use crate::oauth::userinfo;

async fn respond(
    state: &AppState,
    credential: Credential,
) -> Result<HttpResponse, BearerChallenge> {
    let token = credential.access_token()?;
    let claims = userinfo::userinfo(&state.provider, &token)
        .await
        .map_err(|e| flow_error(Endpoint::Userinfo, e))?;
    Ok(json_no_store(&claims))
}

pub async fn get_userinfo(
    state: web::Data<AppState>,
    Bearer(credential): Bearer,
) -> Result<HttpResponse, BearerChallenge> {
    respond(&state, credential).await
}

pub async fn post_userinfo(
    state: web::Data<AppState>,
    BearerOrForm(credential): BearerOrForm,
) -> Result<HttpResponse, BearerChallenge> {
    respond(&state, credential).await
}
