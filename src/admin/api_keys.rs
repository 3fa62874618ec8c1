//! API keys: how automation calls the admin API without a browser session.
//!
//! A key reads `pcl_<id>_<secret>`: `id` is 24 lower-case hex digits (public; it names the
//! row and appears in listings and logs), `secret` is 256 random bits in base64url (43
//! characters). The id's alphabet has no `_`, so the separator is unambiguous although the
//! secret may contain `_`. Invariants:
//! - only SHA-256 of a secret is stored; the whole key is returned once, at creation or
//!   rotation, and never logged or audited;
//! - a presented key is parsed strictly before any database work, then looked up by id
//!   once and compared in constant time with the current secret and, until
//!   `previous_expires_at`, the previous one (the rotation overlap);
//! - every refusal (malformed, unknown, wrong secret, revoked, expired, address outside
//!   the allow-list, owner gone or disabled) is the one [`ApiKeyError::Refused`] to the
//!   caller; only the log says which;
//! - a key acts with its role's permissions (inside its organization when it has one),
//!   never more than its owner holds at the time of use; creating a key whose role
//!   exceeds its owner's permissions is refused;
//! - a use is recorded (`last_used_at`, `last_used_ip`) at most once per
//!   [`LAST_USED_WINDOW_SECS`] per key, so a busy automation does not write per request;
//! - every creation, rotation and revocation is audited in its own transaction.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::json;

use crate::admin::permissions::{BuiltinRole, Permission};
use crate::audit::{self, Actor, Event};
use crate::crypto::{random, token, SecretString};
use crate::store::api_keys::{self as rows, ApiKeyListing, ApiKeyRow};
use crate::store::{self, DbConn, Store, StoreError};

/// What every key starts with, so that secret scanners and people recognise it.
pub const PREFIX: &str = "pcl_";
/// Length of the public id in hex digits (96 bits).
const ID_HEX_LEN: usize = 24;
/// Length of the whole key: prefix, id, `_`, 43-character secret.
const KEY_LEN: usize = PREFIX.len() + ID_HEX_LEN + 1 + 43;
/// A use is recorded at most this often per key.
pub const LAST_USED_WINDOW_SECS: i64 = 60;
/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Most CIDR ranges one key may list.
pub const MAX_CIDRS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// The one answer to a presented key that does not work; the reason is for the log.
    #[error("invalid API key")]
    Refused(Refusal),
    #[error("invalid API key name: {0}")]
    InvalidName(&'static str),
    #[error("invalid address range {value:?}: {reason}")]
    InvalidCidr { value: String, reason: String },
    #[error("too many address ranges: at most {MAX_CIDRS}")]
    TooManyCidrs,
    #[error("no organization named {0:?}")]
    UnknownOrg(String),
    #[error("no role named {0:?} here: use a global role or one of the organization's roles")]
    UnknownRole(String),
    #[error("the role super_admin is global: it cannot be given to a key of an organization")]
    SuperAdminInOrg,
    #[error("no user named {0:?}")]
    UnknownOwnerUser(String),
    #[error("no client with id {0:?}")]
    UnknownOwnerClient(String),
    #[error("the owner is disabled")]
    OwnerDisabled,
    #[error("the role holds permissions the owner lacks: {}", .0.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "))]
    ExceedsOwner(Vec<Permission>),
    #[error("no API key with id {0:?}")]
    NotFound(String),
    #[error("the API key {0} is revoked")]
    Revoked(String),
    #[error("the API key {0} has expired")]
    Expired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented key was refused: for logs and tests, never for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownId,
    WrongSecret,
    Revoked,
    Expired,
    AddressNotAllowed,
    OwnerUnusable,
}

impl Refusal {
    fn name(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UnknownId => "unknown_id",
            Refusal::WrongSecret => "wrong_secret",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::AddressNotAllowed => "address_not_allowed",
            Refusal::OwnerUnusable => "owner_unusable",
        }
    }
}

/// Whose permissions bound a key's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(String),
    Client(String),
}

/// The owner as the operator names it: a username or a client_id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerName {
    Username(String),
    ClientId(String),
}

/// A request to create a key. Names, not ids: this is what an operator types.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    pub role: String,
    pub org: Option<String>,
    pub owner: Option<OwnerName>,
    pub expires_in: Option<Duration>,
    pub allowed_cidrs: Vec<String>,
}

/// A new key or a new secret: the only time the whole key exists outside the caller.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub id: String,
    pub key: SecretString,
    /// After a rotation, until when the previous secret still works.
    pub previous_valid_until: Option<i64>,
}

/// Who is calling with a valid key, and what it may do now.
#[derive(Debug, Clone)]
pub struct ApiKeyCaller {
    pub key_id: String,
    pub name: String,
    pub org_id: Option<String>,
    pub owner: Option<Owner>,
    pub permissions: BTreeSet<Permission>,
}

impl ApiKeyCaller {
    /// Whether the key may use `permission` globally (`org` = `None`) or inside the
    /// organization `org` (by id), like `Grants::allows`: a key of an organization acts
    /// only inside it; a global key acts everywhere. Deny by default.
    pub fn allows(&self, permission: Permission, org: Option<&str>) -> bool {
        let in_scope = match &self.org_id {
            None => true,
            Some(own) => org == Some(own.as_str()),
        };
        in_scope && self.permissions.contains(&permission)
    }
}

/// The parts of a presented key that passed the strict format check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

/// Splits `pcl_<id>_<secret>`; anything else (other prefix, upper-case id, truncated,
/// padded, whitespace) is `None`.
pub fn parse(raw: &str) -> Option<ParsedKey<'_>> {
    if raw.len() != KEY_LEN {
        return None;
    }
    let rest = raw.strip_prefix(PREFIX)?;
    let (id, rest) = rest.split_at_checked(ID_HEX_LEN)?;
    let secret = rest.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (id_ok && token::is_well_formed(secret)).then_some(ParsedKey { id, secret })
}

fn new_id() -> String {
    random::bytes::<{ ID_HEX_LEN / 2 }>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn compose(id: &str, secret: &str) -> String {
    format!("{PREFIX}{id}_{secret}")
}

/// Checks a key's name: 1 to [`MAX_NAME_CHARS`] characters, no control characters, not
/// only spaces.
pub fn validate_name(name: &str) -> Result<(), ApiKeyError> {
    if name.trim().is_empty() {
        return Err(ApiKeyError::InvalidName("it is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiKeyError::InvalidName("it is longer than 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiKeyError::InvalidName("it contains control characters"));
    }
    Ok(())
}

/// Reads an allow-list entry: a CIDR range with no host bits set, or one address. An
/// IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) is stored as the IPv4 range it means,
/// because client addresses are compared in their canonical form.
pub fn parse_cidr(value: &str) -> Result<IpNet, ApiKeyError> {
    let invalid = |reason: String| ApiKeyError::InvalidCidr {
        value: value.chars().take(64).collect(),
        reason,
    };
    let net: IpNet = if value.contains('/') {
        value
            .parse()
            .map_err(|_| invalid("write a range like 10.0.0.0/8 or 2001:db8::/32".into()))?
    } else {
        let addr: IpAddr = value
            .parse()
            .map_err(|_| invalid("write a range like 10.0.0.0/8 or an address".into()))?;
        IpNet::from(addr)
    };
    if net.trunc() != net {
        return Err(invalid(format!(
            "it has host bits set; the range is {}",
            net.trunc()
        )));
    }
    Ok(canonical_net(net))
}

fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.network().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            if let Ok(mapped) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(mapped);
            }
        }
    }
    net
}

/// Whether `addr` may use a key with this allow-list: an empty list allows every address,
/// an unreadable one (`None`) none.
fn address_allowed(allowed: Option<&[IpNet]>, addr: IpAddr) -> bool {
    let addr = addr.to_canonical();
    allowed.is_some_and(|list| list.is_empty() || list.iter().any(|net| net.contains(&addr)))
}

fn parse_cidrs(values: &[String]) -> Result<Vec<IpNet>, ApiKeyError> {
    let mut nets = Vec::new();
    for v in values {
        let net = parse_cidr(v)?;
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    if nets.len() > MAX_CIDRS {
        return Err(ApiKeyError::TooManyCidrs);
    }
    Ok(nets)
}

/// The stored allow-list; `None` when it cannot be read, which allows nothing rather than
/// everything (only this module writes it, from parsed ranges).
fn stored_cidrs(row: &ApiKeyRow) -> Option<Vec<IpNet>> {
    let list: Vec<String> = serde_json::from_str(&row.allowed_cidrs).ok()?;
    list.iter().map(|s| s.parse().ok()).collect()
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Creates a key. Everything is checked before anything is written: a refused request
/// leaves no row and no audit event.
pub async fn create(
    store: &Store,
    new: NewApiKey,
    actor: Actor,
    now: i64,
) -> Result<IssuedApiKey, ApiKeyError> {
    validate_name(&new.name)?;
    let cidrs = parse_cidrs(&new.allowed_cidrs)?;
    let cidr_texts: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
    let id = new_id();
    let secret = random::secret_token();
    let secret_hash = token::hash(&secret);
    let expires_at = new.expires_in.map(|d| now.saturating_add(seconds(d)));
    let key_id = id.clone();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let org_id = match &new.org {
                    Some(name) => Some(
                        rows::find_org_id(c, name)?
                            .ok_or_else(|| ApiKeyError::UnknownOrg(name.clone()))?,
                    ),
                    None => None,
                };
                let role = rows::find_role(c, &new.role, org_id.as_deref())?
                    .ok_or_else(|| ApiKeyError::UnknownRole(new.role.clone()))?;
                if org_id.is_some() && role.id == BuiltinRole::SuperAdmin.id() {
                    return Err(ApiKeyError::SuperAdminInOrg);
                }
                let owner = match &new.owner {
                    None => None,
                    Some(name) => Some(resolve_owner(c, name)?),
                };
                if let Some(owner) = &owner {
                    let wanted = resolve::role_permissions(c, &role.id, org_id.as_deref())?;
                    let held = resolve::holder_permissions(c, owner, org_id.as_deref(), now)?;
                    let missing: Vec<Permission> = wanted.difference(&held).copied().collect();
                    if !missing.is_empty() {
                        return Err(ApiKeyError::ExceedsOwner(missing));
                    }
                }
                let (owner_user_id, owner_client_id) = match &owner {
                    Some(Owner::User(id)) => (Some(id.clone()), None),
                    Some(Owner::Client(id)) => (None, Some(id.clone())),
                    None => (None, None),
                };
                let row = ApiKeyRow {
                    id: id.clone(),
                    name: new.name.clone(),
                    secret_hash,
                    previous_secret_hash: None,
                    previous_expires_at: None,
                    owner_user_id,
                    owner_client_id,
                    role_id: role.id.clone(),
                    org_id,
                    allowed_cidrs: json!(cidr_texts).to_string(),
                    created_by: actor.as_column(),
                    created_at: now,
                    expires_at,
                    revoked_at: None,
                    last_used_at: None,
                    last_used_ip: None,
                };
                rows::insert(c, &row)?;
                audit::record(
                    c,
                    Event {
                        action: "apikey.created",
                        actor: &actor,
                        target: Some(&row.id),
                        ip: None,
                        detail: json!({
                            "name": row.name,
                            "role": row.role_id,
                            "org_id": row.org_id,
                            "owner_user_id": row.owner_user_id,
                            "owner_client_id": row.owner_client_id,
                            "expires_at": row.expires_at,
                            "allowed_cidrs": cidr_texts,
                        }),
                    },
                )?;
                Ok(())
            })
        })
        .await?;
    Ok(IssuedApiKey {
        key: SecretString::new(compose(&key_id, &secret)),
        id: key_id,
        previous_valid_until: None,
    })
}

fn resolve_owner(conn: &mut DbConn, name: &OwnerName) -> Result<Owner, ApiKeyError> {
    match name {
        OwnerName::Username(username) => {
            let user = store::users::find_by_username(conn, username)?
                .ok_or_else(|| ApiKeyError::UnknownOwnerUser(username.clone()))?;
            if user.disabled {
                return Err(ApiKeyError::OwnerDisabled);
            }
            Ok(Owner::User(user.id))
        }
        OwnerName::ClientId(client_id) => match rows::client_enabled(conn, client_id)? {
            None => Err(ApiKeyError::UnknownOwnerClient(client_id.clone())),
            Some(false) => Err(ApiKeyError::OwnerDisabled),
            Some(true) => Ok(Owner::Client(client_id.clone())),
        },
    }
}

/// Every key (of one organization), newest first, with names; never a secret.
pub async fn list(store: &Store, org: Option<String>) -> Result<Vec<ApiKeyListing>, ApiKeyError> {
    store
        .run(move |conn| {
            let org_id = match &org {
                Some(name) => Some(
                    rows::find_org_id(conn, name)?
                        .ok_or_else(|| ApiKeyError::UnknownOrg(name.clone()))?,
                ),
                None => None,
            };
            Ok(rows::list(conn, org_id.as_deref())?)
        })
        .await
}

/// The allow-list of a listed key, as stored (canonical ranges).
pub fn allowed_cidrs(row: &ApiKeyRow) -> Vec<String> {
    stored_cidrs(row)
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Whether a key was revoked by this call or already before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyRevoked,
}

/// Revokes a key at once: the next request with it (or its previous secret) is refused.
pub async fn revoke(
    store: &Store,
    id: &str,
    actor: Actor,
    now: i64,
) -> Result<Revocation, ApiKeyError> {
    let id = id.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if rows::find(c, &id)?.is_none() {
                    return Err(ApiKeyError::NotFound(id.clone()));
                }
                if !rows::revoke(c, &id, now)? {
                    return Ok(Revocation::AlreadyRevoked);
                }
                audit::record(
                    c,
                    Event {
                        action: "apikey.revoked",
                        actor: &actor,
                        target: Some(&id),
                        ip: None,
                        detail: json!({}),
                    },
                )?;
                Ok(Revocation::Revoked)
            })
        })
        .await
}

/// Gives a key a new secret. The previous one keeps working for `overlap` (none: it stops
/// at once), so automation can be updated without an outage; an older previous secret
/// stops now.
pub async fn rotate(
    store: &Store,
    id: &str,
    overlap: Option<Duration>,
    actor: Actor,
    now: i64,
) -> Result<IssuedApiKey, ApiKeyError> {
    let id = id.to_owned();
    let secret = random::secret_token();
    let new_hash = token::hash(&secret);
    let previous_until = overlap.map(|d| now.saturating_add(seconds(d)));
    let key_id = id.clone();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let row = rows::find(c, &id)?.ok_or_else(|| ApiKeyError::NotFound(id.clone()))?;
                if row.revoked_at.is_some() {
                    return Err(ApiKeyError::Revoked(id.clone()));
                }
                if row.expires_at.is_some_and(|t| t <= now) {
                    return Err(ApiKeyError::Expired(id.clone()));
                }
                if !rows::rotate(c, &id, &row.secret_hash, &new_hash, previous_until)? {
                    // Revoked or rotated between the read and the write (Postgres only;
                    // SQLite writers are serialised): report it as the state now is.
                    return Err(ApiKeyError::Revoked(id.clone()));
                }
                audit::record(
                    c,
                    Event {
                        action: "apikey.rotated",
                        actor: &actor,
                        target: Some(&id),
                        ip: None,
                        detail: json!({ "previous_valid_until": previous_until }),
                    },
                )?;
                Ok(())
            })
        })
        .await?;
    Ok(IssuedApiKey {
        key: SecretString::new(compose(&key_id, &secret)),
        id: key_id,
        previous_valid_until: previous_until,
    })
}

/// Checks a presented key for a request from `client_addr` at `now` and returns who is
/// calling with which permissions. One lookup by id; no write unless the last recorded use
/// is older than [`LAST_USED_WINDOW_SECS`].
pub async fn authenticate(
    store: &Store,
    raw_key: &str,
    client_addr: IpAddr,
    now: i64,
) -> Result<ApiKeyCaller, ApiKeyError> {
    let Some(parsed) = parse(raw_key) else {
        tracing::info!(reason = Refusal::Malformed.name(), "API key refused");
        return Err(ApiKeyError::Refused(Refusal::Malformed));
    };
    let id = parsed.id.to_owned();
    let presented_hash = token::hash(parsed.secret);
    let addr = client_addr.to_canonical();
    let result = store
        .run(move |conn| check(conn, &id, &presented_hash, addr, now))
        .await;
    if let Err(ApiKeyError::Refused(reason)) = &result {
        tracing::info!(key_id = parsed.id, reason = reason.name(), %addr, "API key refused");
    }
    result
}

fn check(
    conn: &mut DbConn,
    id: &str,
    presented_hash: &str,
    addr: IpAddr,
    now: i64,
) -> Result<ApiKeyCaller, ApiKeyError> {
    let refused = |r| Err(ApiKeyError::Refused(r));
    let Some(row) = rows::find(conn, id)? else {
        return refused(Refusal::UnknownId);
    };
    // Both comparisons always run, so the time taken does not say which secret matched.
    let current = token::constant_time_eq(&row.secret_hash, presented_hash);
    let previous = row
        .previous_secret_hash
        .as_deref()
        .map(|h| token::constant_time_eq(h, presented_hash))
        .unwrap_or(false);
    let previous_live = row.previous_expires_at.is_some_and(|t| t > now);
    if !(current || (previous && previous_live)) {
        return refused(Refusal::WrongSecret);
    }
    if row.revoked_at.is_some() {
        return refused(Refusal::Revoked);
    }
    if row.expires_at.is_some_and(|t| t <= now) {
        return refused(Refusal::Expired);
    }
    if !address_allowed(stored_cidrs(&row).as_deref(), addr) {
        return refused(Refusal::AddressNotAllowed);
    }
    let owner = match (&row.owner_user_id, &row.owner_client_id) {
        (Some(user), _) => Some(Owner::User(user.clone())),
        (None, Some(client)) => Some(Owner::Client(client.clone())),
        (None, None) => None,
    };
    let owner_usable = match &owner {
        None => true,
        Some(Owner::User(u)) => rows::user_enabled(conn, u)? == Some(true),
        Some(Owner::Client(c)) => rows::client_enabled(conn, c)? == Some(true),
    };
    if !owner_usable {
        return refused(Refusal::OwnerUnusable);
    }
    let mut permissions = resolve::role_permissions(conn, &row.role_id, row.org_id.as_deref())?;
    if let Some(owner) = &owner {
        let held = resolve::holder_permissions(conn, owner, row.org_id.as_deref(), now)?;
        permissions.retain(|p| held.contains(p));
    }
    if row
        .last_used_at
        .is_none_or(|t| t <= now - LAST_USED_WINDOW_SECS)
    {
        rows::touch(
            conn,
            &row.id,
            &addr.to_string(),
            now,
            now - LAST_USED_WINDOW_SECS,
        )?;
    }
    Ok(ApiKeyCaller {
        key_id: row.id,
        name: row.name,
        org_id: row.org_id,
        owner,
        permissions,
    })
}

/// A key's side of permission resolution, on top of `admin::rbac`.
mod resolve {
    use super::*;
    use crate::admin::rbac::{self, Holder, Scope};

    /// What a key's role grants where the key acts: everything it holds for a global key;
    /// inside an organization, never a global-only permission (as for an assignment there).
    pub(super) fn role_permissions(
        conn: &mut DbConn,
        role_id: &str,
        org_id: Option<&str>,
    ) -> Result<BTreeSet<Permission>, StoreError> {
        let mut perms = rbac::permissions_of_role(conn, role_id)?;
        if org_id.is_some() {
            perms.retain(|p| !p.is_global_only());
        }
        Ok(perms)
    }

    /// What the owner may do where the key acts, at `now`.
    pub(super) fn holder_permissions(
        conn: &mut DbConn,
        owner: &Owner,
        org_id: Option<&str>,
        now: i64,
    ) -> Result<BTreeSet<Permission>, StoreError> {
        let holder = match owner {
            Owner::User(id) => Holder::User(id),
            Owner::Client(id) => Holder::Client(id),
        };
        let scope = org_id.map_or(Scope::Global, Scope::Org);
        let grants = rbac::effective_permissions(conn, holder, scope, now)?;
        Ok(match org_id {
            None => grants.global(),
            Some(org) => grants.in_org(org),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        compose(&new_id(), &random::secret_token())
    }

    #[test]
    fn a_fresh_key_parses_into_its_id_and_secret() {
        let id = new_id();
        let secret = random::secret_token();
        let raw = compose(&id, &secret);
        assert_eq!(raw.len(), KEY_LEN);
        assert_eq!(
            parse(&raw),
            Some(ParsedKey {
                id: &id,
                secret: &secret
            })
        );
    }

    #[test]
    fn a_secret_with_underscores_still_splits_after_the_id() {
        let id = new_id();
        let secret = format!("_{}_", "a".repeat(41));
        let raw = compose(&id, &secret);
        assert_eq!(parse(&raw).map(|p| p.secret), Some(secret.as_str()));
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        let good = key();
        let truncated = &good[..good.len() - 1];
        let longer = format!("{good}A");
        let other_prefix = good.replacen("pcl_", "pck_", 1);
        let upper_id = format!("PCL_{}", &good[4..]);
        let upper_hex = format!("pcl_{}{}", good[4..28].to_uppercase(), &good[28..]);
        let no_separator = format!("{}-{}", &good[..28], &good[29..]);
        let bad_secret_char = format!("{}={}", &good[..29], &good[30..]);
        let non_hex_id = format!("pcl_g{}", &good[5..]);
        let spaced = format!(" {}", &good[1..]);
        let padded = format!("{}=", &good[..good.len() - 1]);
        for bad in [
            "",
            "pcl_",
            truncated,
            &longer,
            &other_prefix,
            &upper_id,
            &upper_hex,
            &no_separator,
            &bad_secret_char,
            &non_hex_id,
            &spaced,
            &padded,
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // Multi-byte characters at the split points must not panic.
        let mut multibyte = "é".repeat(KEY_LEN / 2);
        multibyte.truncate(KEY_LEN);
        assert_eq!(parse(&multibyte), None);
        let mixed = format!("pcl_{}é{}", "a".repeat(23), "b".repeat(43));
        assert_eq!(parse(&mixed), None);
    }

    #[test]
    fn names_must_be_short_printable_and_not_blank() {
        assert!(validate_name("ci deploy").is_ok());
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        for bad in ["", "   ", "a\nb", "tab\there"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn ranges_and_addresses_are_read_canonically() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(
            parse_cidr("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_cidr("::ffff:10.0.0.0/104").unwrap().to_string(),
            "10.0.0.0/8"
        );
        for bad in [
            "",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0/8",
            "host.example",
            "10.0.0.0/",
            "2001:db8::1/32",
            " 10.0.0.0/8",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_matched_in_canonical_form() {
        let allowed = vec![
            parse_cidr("10.0.0.0/8").unwrap(),
            parse_cidr("2001:db8::/32").unwrap(),
        ];
        let ok = |s: &str| address_allowed(Some(&allowed), s.parse().unwrap());
        assert!(ok("10.1.2.3"));
        assert!(ok("::ffff:10.1.2.3"));
        assert!(ok("2001:db8::5"));
        assert!(!ok("11.0.0.1"));
        assert!(!ok("::ffff:11.0.0.1"));
        assert!(!ok("2001:db9::1"));
        assert!(address_allowed(Some(&[]), "203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn an_unreadable_stored_allow_list_allows_nothing() {
        let mut row = ApiKeyRow {
            id: new_id(),
            name: "x".into(),
            secret_hash: String::new(),
            previous_secret_hash: None,
            previous_expires_at: None,
            owner_user_id: None,
            owner_client_id: None,
            role_id: "auditor".into(),
            org_id: None,
            allowed_cidrs: "not json".into(),
            created_by: None,
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        };
        let any: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(!address_allowed(stored_cidrs(&row).as_deref(), any));
        row.allowed_cidrs = r#"["10.0.0.0/8", "junk"]"#.into();
        assert!(!address_allowed(stored_cidrs(&row).as_deref(), any));
        row.allowed_cidrs = "[]".into();
        assert!(address_allowed(stored_cidrs(&row).as_deref(), any));
    }
}
