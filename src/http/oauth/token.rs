//! `POST /token` (RFC 6749 §3.2, §4.1.3, §5).

use actix_web::{web, HttpResponse};

use super::response::json_no_store;
use crate::http::error::oauth::{flow_error, Endpoint, OAuthJson};
use crate::http::extract::ClientAuth;
use crate::http::AppState;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::grants::authorization_code::{self, Redemption};
use crate::oauth::grants::client_credentials;
use crate::oauth::grants::refresh_token::{self, Refresh};

pub async fn post_token(
    state: web::Data<AppState>,
    ClientAuth { client, params }: ClientAuth,
) -> Result<HttpResponse, OAuthJson> {
    let owned = |name: &str| -> Result<Option<String>, OAuthError> {
        Ok(params.get(name)?.map(str::to_owned))
    };
    let provider = &state.provider;
    let issued = match params.get("grant_type")? {
        None => return Err(OAuthError::invalid_request("grant_type is required").into()),
        Some("authorization_code") => {
            let redemption = Redemption {
                code: owned("code")?
                    .ok_or_else(|| OAuthError::invalid_request("code is required"))?,
                redirect_uri: owned("redirect_uri")?,
                code_verifier: owned("code_verifier")?,
            };
            authorization_code::redeem(provider, &client, redemption).await
        }
        Some("refresh_token") => {
            let refresh = Refresh {
                refresh_token: owned("refresh_token")?
                    .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?,
                scope: owned("scope")?,
            };
            refresh_token::refresh(provider, &client, refresh).await
        }
        Some("client_credentials") => {
            client_credentials::issue(provider, &client, params.get("scope")?).await
        }
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )
            .into())
        }
    };
    let response = issued.map_err(|e| flow_error(Endpoint::Token, e))?;
    Ok(json_no_store(&response))
}
