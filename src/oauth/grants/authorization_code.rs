//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6,
//! RFC 9700 §2.1.1, §4.8).
//!
//! Invariants: a code is marked used before anything else is checked, so a failed
//! redemption burns it and of two concurrent redemptions exactly one proceeds; a second use
//! revokes the grant and every token issued from it (RFC 6749 §4.1.2); the code is bound to
//! its client, redirect URI (which must be sent again, identical) and PKCE challenge; a
//! verifier sent for a code that had no challenge is refused (PKCE downgrade, RFC 9700 §4.8.2).

use crate::audit::Actor;
use crate::crypto::token;
use crate::oauth::error::{FlowError, OAuthError};
use crate::oauth::tokens::{self, TokenResponse};
use crate::oauth::{pkce, scope, Provider};
use crate::store;
use crate::store::clients::Client;
use crate::store::grants::{self, CodeRow, CodeUse};

pub struct Redemption {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

pub async fn redeem(
    provider: &Provider,
    client: &Client,
    r: Redemption,
) -> Result<TokenResponse, FlowError> {
    super::require_grant(client, "authorization_code")?;
    if !token::is_well_formed(&r.code) {
        return Err(OAuthError::invalid_grant("invalid authorization code").into());
    }
    let code_hash = token::hash(&r.code);
    let provider2 = provider.clone();
    let client = client.clone();
    // One transaction: of two concurrent redemptions, the second waits for the first and then
    // sees the code used (and revokes what the first issued). Validation failures commit too,
    // so a failed attempt burns the code.
    let outcome = provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let row = match grants::use_code(c, &code_hash, now)? {
                    CodeUse::Unknown => {
                        return Ok(Err(OAuthError::invalid_grant("invalid authorization code")))
                    }
                    CodeUse::Replayed(row) => {
                        super::revoke_family(
                            c,
                            &row.grant_id,
                            &Actor::System,
                            "authorization code reused",
                        )?;
                        return Ok(Err(OAuthError::invalid_grant(
                            "authorization code was already used",
                        )));
                    }
                    CodeUse::First(row) => row,
                };
                if let Err(e) = check(&row, &client, &r, now) {
                    return Ok(Err(e));
                }
                let Some(grant) =
                    grants::find_grant(c, &row.grant_id)?.filter(|g| g.revoked_at.is_none())
                else {
                    return Ok(Err(OAuthError::invalid_grant("the grant was revoked")));
                };
                let scopes = scope::parse(&grant.scope)?;
                let with_refresh = tokens::wants_refresh_token(&client, &scopes);
                // A refusal (say, the user was disabled) still commits: the code stays burned.
                tokens::mint(
                    c,
                    &provider2,
                    &client,
                    &grant,
                    row.nonce.as_deref(),
                    with_refresh,
                )
                .map(Ok)
                .or_else(refusal)
            })
        })
        .await?;
    Ok(outcome?)
}

/// Turns a protocol refusal into a committed outcome; anything else rolls back.
pub fn refusal<T>(e: FlowError) -> Result<Result<T, OAuthError>, FlowError> {
    match e {
        FlowError::OAuth(e) => Ok(Err(e)),
        other => Err(other),
    }
}

/// The code's bindings: client, expiry, redirect URI, PKCE.
fn check(row: &CodeRow, client: &Client, r: &Redemption, now: i64) -> Result<(), OAuthError> {
    if row.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    match r.redirect_uri.as_deref() {
        Some(uri) if uri == row.redirect_uri => {}
        Some(_) => return Err(OAuthError::invalid_grant("redirect_uri does not match")),
        None => return Err(OAuthError::invalid_request("redirect_uri is required")),
    }
    match (&row.code_challenge, r.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("code_verifier does not match")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "no code_challenge was sent with this code",
        )),
        (None, None) => Ok(()),
    }
}
