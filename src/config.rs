//! Typed configuration: the built-in `config/default.toml`, then an optional file given with
//! `--config`, then `PORTCULLIS__SECTION__KEY` environment variables. Unknown keys and
//! invalid values stop the start with a message naming the key.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::crypto::SecretString;
use crate::store::DatabaseUrl;

mod validate;

use validate::trusted_nets;

/// The defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    #[error("configuration error: {0}")]
    Parse(Box<figment::Error>),
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub issuer: String,
    /// Derived from `issuer` by `from_figment`.
    #[serde(skip)]
    issuer_origin: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub password: PasswordSettings,
    pub session: SessionSettings,
    pub lockout: LockoutSettings,
    pub mfa: MfaSettings,
    pub signup: SignupSettings,
    pub reset: ResetSettings,
    pub limits: LimitSettings,
    pub mail: MailSettings,
    pub setup: SetupSettings,
    pub keys: KeySettings,
    pub oauth: OAuthSettings,
    pub registration: RegistrationSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub workers: usize,
    pub allow_plain_http: bool,
    pub shutdown_timeout_secs: u64,
    pub max_body_bytes: usize,
    /// One deadline for a whole request, head and body, counted from when its connection
    /// (or, on a kept-alive connection, the request) started; 408 after it.
    pub request_timeout_secs: u64,
    /// Open client connections at once, all sources together; more are answered 503.
    pub max_connections: usize,
    /// Open client connections at once from one TCP peer (IPv6: its /64); connections from
    /// `trusted_proxies` count only toward `max_connections`.
    pub max_connections_per_ip: usize,
    /// Reverse proxies (CIDRs or single addresses) whose forwarding headers are believed.
    pub trusted_proxies: Vec<String>,
    /// `trusted_proxies`, parsed by `from_figment`.
    #[serde(skip)]
    trusted_nets: Vec<ipnet::IpNet>,
}

impl ServerSettings {
    /// The networks of `trusted_proxies`.
    pub fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.trusted_nets
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// Postgres `statement_timeout` and `lock_timeout`; 0 leaves the server's settings.
    pub statement_timeout_ms: u64,
    /// How long an SQLite writer waits for the lock before "database is locked".
    pub sqlite_busy_timeout_ms: u64,
    /// The deadline of one database operation, queueing included.
    pub operation_timeout_secs: u64,
    /// Seconds between readiness probe rounds.
    pub probe_interval_secs: u64,
    /// The deadline of one probe round.
    pub probe_timeout_secs: u64,
}

impl DatabaseSettings {
    /// The bounds the store is opened with.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        use std::time::Duration;
        crate::store::StoreOptions {
            max_connections: self.max_connections,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
            sqlite_busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
            operation_timeout: Duration::from_secs(self.operation_timeout_secs),
        }
    }
}

/// The URL may carry a Postgres password.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &DatabaseUrl::parse(&self.url).ok())
            .field("max_connections", &self.max_connections)
            .field("operation_timeout_secs", &self.operation_timeout_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub min_length: usize,
    pub max_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_secs: u64,
    pub absolute_lifetime_secs: u64,
    pub purge_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    /// Consecutive failures for one account from one source (a browser the account knows,
    /// else a client address) before that source is locked out of that account.
    pub account_threshold: u32,
    /// The first lock of a source, doubling with each further failure (at most a day).
    pub lock_secs: u64,
    pub ip_threshold: u32,
    pub ip_window_secs: u64,
    /// Consecutive failures for one account from all sources together after which attempts
    /// from sources the account does not know are checked one per account-wide slot
    /// (slowed down, never locked).
    pub account_ceiling: u32,
    /// The first slot's length, in milliseconds, doubling with each further failure...
    pub ceiling_delay_ms: u64,
    /// ...up to this many milliseconds.
    pub ceiling_max_delay_ms: u64,
    /// Failures for one account within `burst_window_secs` that make a burst: its owner
    /// is told by email, once per window.
    pub burst_threshold: u32,
    pub burst_window_secs: u64,
    /// How long a source's failures are remembered after its last failure and the end of
    /// its lock, so that its lock keeps doubling instead of starting over.
    pub source_memory_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSettings {
    /// Every user needs a second factor.
    pub required: bool,
    /// Users holding one of these roles (globally or in an organization, or a role that
    /// inherits from one) need a second factor.
    pub required_roles: Vec<String>,
    /// How long a sign-in may wait between its first and second factor.
    pub challenge_secs: u64,
    /// Wrong codes allowed within one sign-in before it must start over.
    pub max_code_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupSettings {
    pub enabled: bool,
    pub allow_unverified_sign_in: bool,
    pub verification_lifetime_secs: u64,
    /// An unconfirmed self-registration is deleted this long after sign-up.
    pub unconfirmed_lifetime_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetSettings {
    pub token_lifetime_secs: u64,
}

/// Bounds on unauthenticated work (see [`crate::limits`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub mail_window_secs: u64,
    /// Mails to one address per window on unauthenticated requests.
    pub mails_per_address: u32,
    /// Sign-up and reset submissions per client address per window.
    pub requests_per_source: u32,
    pub ceremony_window_secs: u64,
    /// Passkey ceremonies started per client address per window.
    pub ceremonies_per_source: u32,
    /// Passkey ceremonies started for one account per window.
    pub ceremonies_per_user: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub outbox_dir: String,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: String,
    pub smtp_password: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupSettings {
    pub token_lifetime_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub encryption_key: SecretString,
    pub encryption_key_file: String,
    pub rsa_bits: usize,
    pub rotation_interval_secs: u64,
    pub prepublish_secs: u64,
    pub reload_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub authorization_code_lifetime_secs: u64,
    pub access_token_lifetime_secs: u64,
    pub id_token_lifetime_secs: u64,
    pub refresh_token_idle_secs: u64,
    pub refresh_token_absolute_secs: u64,
    pub authorization_request_lifetime_secs: u64,
    /// Lifetime of a pending request until someone signs in for it.
    pub unauthenticated_request_lifetime_secs: u64,
    /// Pending requests made before anyone signed in, per client address.
    pub max_pending_requests_per_source: u32,
    pub allow_private_jwks_uri: bool,
    /// Confidential clients may register redirect URIs on private hosts (development).
    pub allow_private_redirect_uris: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    pub enabled: bool,
    pub initial_access_token: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// The layered sources, before extraction; tests merge their own overrides on top.
pub fn figment(config_file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
    if let Some(path) = config_file {
        if !path.is_file() {
            return Err(ConfigError::MissingFile(path.display().to_string()));
        }
        figment = figment.merge(Toml::file(path));
    }
    Ok(figment.merge(Env::prefixed("PORTCULLIS__").split("__")))
}

impl Settings {
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(figment(config_file)?)
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))?;
        settings.issuer_origin = settings.validate()?;
        settings.server.trusted_nets = trusted_nets(&settings.server.trusted_proxies)?;
        Ok(settings)
    }

    /// Whether browsers reach us over TLS (directly or through a proxy): decides Secure and
    /// `__Host-` cookies and HSTS.
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// `scheme://host[:port]` of the issuer, which every form POST must come from.
    pub fn issuer_origin(&self) -> &str {
        &self.issuer_origin
    }

    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        DatabaseUrl::parse(&self.database.url).map_err(|m| invalid("database.url", m))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .listen
            .parse()
            .map_err(|_| invalid("server.listen", "expected IP:PORT, e.g. 127.0.0.1:8080"))
    }

    /// The longest time a JWT we sign stays valid: a retired key stays published this long.
    pub fn max_token_lifetime_secs(&self) -> u64 {
        self.oauth
            .access_token_lifetime_secs
            .max(self.oauth.id_token_lifetime_secs)
    }
}

pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
