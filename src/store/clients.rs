//! Queries on `clients`. List-valued columns are stored as JSON text (portable across
//! backends); this module is the only place that encodes and decodes them.

use diesel::prelude::*;

use super::schema::clients;
use super::{DbConn, StoreError};

/// A registered OAuth client as the rest of the program sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    /// SHA-256 of the secret (base64url); `None` for public clients.
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub is_public: bool,
    pub allowed_scopes: Vec<String>,
    pub skip_consent: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// RS256 (default) or ES256.
    pub id_token_signed_response_alg: String,
    /// "public" or "pairwise" (OIDC Core 8).
    pub subject_type: String,
    /// The client's public keys for private_key_jwt: a JWK Set document, or a URL.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// Seconds a rotated refresh token may be retried (confidential clients; 0 = off).
    pub refresh_grace_secs: i64,
    /// May introspect tokens issued to other clients (resource servers).
    pub may_introspect_any: bool,
    /// Every sign-in for this client needs a second factor.
    pub require_mfa: bool,
    /// SHA-256 of the RFC 7592 registration access token, for dynamically registered clients.
    pub registration_token_hash: Option<String>,
    /// Which scopes' claims also go into ID tokens: `email`, `all`, `none` or a list of
    /// scopes (see `oauth::claims::id_token_scopes`).
    pub id_token_claims: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("is_public", &self.is_public)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    token_endpoint_auth_method: String,
    is_public: bool,
    allowed_scopes: String,
    skip_consent: bool,
    created_at: i64,
    updated_at: i64,
    id_token_signed_response_alg: String,
    subject_type: String,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    refresh_grace_secs: i64,
    may_introspect_any: bool,
    registration_token_hash: Option<String>,
    require_mfa: bool,
    id_token_claims: String,
}

fn encode(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(column: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("clients.{column}: {e}")))
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            redirect_uris: decode("redirect_uris", &r.redirect_uris)?,
            post_logout_redirect_uris: decode(
                "post_logout_redirect_uris",
                &r.post_logout_redirect_uris,
            )?,
            grant_types: decode("grant_types", &r.grant_types)?,
            allowed_scopes: decode("allowed_scopes", &r.allowed_scopes)?,
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            name: r.name,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            is_public: r.is_public,
            skip_consent: r.skip_consent,
            created_at: r.created_at,
            updated_at: r.updated_at,
            id_token_signed_response_alg: r.id_token_signed_response_alg,
            subject_type: r.subject_type,
            jwks: r.jwks,
            jwks_uri: r.jwks_uri,
            refresh_grace_secs: r.refresh_grace_secs,
            may_introspect_any: r.may_introspect_any,
            require_mfa: r.require_mfa,
            registration_token_hash: r.registration_token_hash,
            id_token_claims: r.id_token_claims,
        })
    }
}

impl TryFrom<&Client> for ClientRow {
    type Error = StoreError;
    fn try_from(c: &Client) -> Result<Self, StoreError> {
        Ok(ClientRow {
            client_id: c.client_id.clone(),
            secret_hash: c.secret_hash.clone(),
            name: c.name.clone(),
            redirect_uris: encode(&c.redirect_uris)?,
            post_logout_redirect_uris: encode(&c.post_logout_redirect_uris)?,
            grant_types: encode(&c.grant_types)?,
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
            is_public: c.is_public,
            allowed_scopes: encode(&c.allowed_scopes)?,
            skip_consent: c.skip_consent,
            created_at: c.created_at,
            updated_at: c.updated_at,
            id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
            subject_type: c.subject_type.clone(),
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            refresh_grace_secs: c.refresh_grace_secs,
            may_introspect_any: c.may_introspect_any,
            require_mfa: c.require_mfa,
            registration_token_hash: c.registration_token_hash.clone(),
            id_token_claims: c.id_token_claims.clone(),
        })
    }
}

pub fn insert(conn: &mut DbConn, client: &Client) -> Result<(), StoreError> {
    let row = ClientRow::try_from(client)?;
    diesel::insert_into(clients::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// Replaces every column of an existing client.
pub fn update(conn: &mut DbConn, client: &Client) -> Result<bool, StoreError> {
    let row = ClientRow::try_from(client)?;
    Ok(diesel::update(clients::table.find(&client.client_id))
        .set(&row)
        .execute(conn)?
        == 1)
}

pub fn find(conn: &mut DbConn, client_id: &str) -> Result<Option<Client>, StoreError> {
    clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

/// The client, unless it is gone or an operator disabled it: what a token of it may still
/// be honoured for.
pub fn find_enabled(conn: &mut DbConn, client_id: &str) -> Result<Option<Client>, StoreError> {
    clients::table
        .find(client_id)
        .filter(clients::disabled.eq(false))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

pub fn list(conn: &mut DbConn) -> Result<Vec<Client>, StoreError> {
    clients::table
        .order((clients::name.asc(), clients::client_id.asc()))
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

pub fn delete(conn: &mut DbConn, client_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(clients::table.find(client_id)).execute(conn)? == 1)
}
