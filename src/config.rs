//! Typed configuration: the built-in `config/default.toml`, then an optional file given with
//! `--config`, then `PORTCULLIS__SECTION__KEY` environment variables. Unknown keys and
//! invalid values stop the start with a message naming the key.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::crypto::envelope::Kek;
use crate::crypto::SecretString;
use crate::store::DatabaseUrl;

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
}

/// The URL may carry a Postgres password.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &DatabaseUrl::parse(&self.url).ok())
            .field("max_connections", &self.max_connections)
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
    /// Users holding one of these roles need a second factor.
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

    /// Checks every key; returns the issuer's origin.
    fn validate(&self) -> Result<String, ConfigError> {
        let origin = self.validate_issuer()?;
        let listen = self.listen_addr()?;
        if !listen.ip().is_loopback() && !self.server.allow_plain_http {
            return Err(invalid(
                "server.listen",
                format!(
                    "{listen} is not a loopback address and Portcullis serves plain HTTP; \
                     set server.allow_plain_http = true only behind a TLS-terminating proxy"
                ),
            ));
        }
        range("server.workers", self.server.workers as u64, 0, 256)?;
        range(
            "server.shutdown_timeout_secs",
            self.server.shutdown_timeout_secs,
            0,
            3600,
        )?;
        range(
            "server.max_body_bytes",
            self.server.max_body_bytes as u64,
            1024,
            16 << 20,
        )?;
        self.database_url()?;
        range(
            "database.max_connections",
            self.database.max_connections.into(),
            1,
            256,
        )?;
        range(
            "database.connect_timeout_secs",
            self.database.connect_timeout_secs,
            1,
            300,
        )?;
        self.validate_password()?;
        range(
            "session.idle_timeout_secs",
            self.session.idle_timeout_secs,
            1,
            31_536_000,
        )?;
        range(
            "session.absolute_lifetime_secs",
            self.session.absolute_lifetime_secs,
            1,
            31_536_000,
        )?;
        range(
            "session.purge_interval_secs",
            self.session.purge_interval_secs,
            1,
            86_400,
        )?;
        range(
            "setup.token_lifetime_secs",
            self.setup.token_lifetime_secs,
            60,
            86_400,
        )?;
        range(
            "lockout.account_threshold",
            self.lockout.account_threshold.into(),
            1,
            1000,
        )?;
        range("lockout.lock_secs", self.lockout.lock_secs, 1, 86_400)?;
        range("mfa.challenge_secs", self.mfa.challenge_secs, 60, 3600)?;
        range(
            "mfa.max_code_attempts",
            self.mfa.max_code_attempts.into(),
            1,
            100,
        )?;
        range(
            "lockout.ip_threshold",
            self.lockout.ip_threshold.into(),
            1,
            100_000,
        )?;
        range(
            "lockout.ip_window_secs",
            self.lockout.ip_window_secs,
            1,
            86_400,
        )?;
        range(
            "lockout.account_ceiling",
            self.lockout.account_ceiling.into(),
            1,
            100_000,
        )?;
        range(
            "lockout.ceiling_delay_ms",
            self.lockout.ceiling_delay_ms,
            1,
            60_000,
        )?;
        range(
            "lockout.ceiling_max_delay_ms",
            self.lockout.ceiling_max_delay_ms,
            self.lockout.ceiling_delay_ms,
            60_000,
        )?;
        range(
            "lockout.burst_threshold",
            self.lockout.burst_threshold.into(),
            1,
            100_000,
        )?;
        range(
            "lockout.burst_window_secs",
            self.lockout.burst_window_secs,
            60,
            7 * 86_400,
        )?;
        range(
            "lockout.source_memory_secs",
            self.lockout.source_memory_secs,
            86_400,
            365 * 86_400,
        )?;
        range(
            "reset.token_lifetime_secs",
            self.reset.token_lifetime_secs,
            1,
            86_400,
        )?;
        range(
            "signup.verification_lifetime_secs",
            self.signup.verification_lifetime_secs,
            1,
            7 * 86_400,
        )?;
        range(
            "signup.unconfirmed_lifetime_secs",
            self.signup.unconfirmed_lifetime_secs,
            self.signup.verification_lifetime_secs.max(60),
            30 * 86_400,
        )?;
        self.validate_limits()?;
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "mail.from",
                "not a mail address, e.g. \"Portcullis <id@example.com>\"",
            ));
        }
        if self.mail.transport == MailTransport::Smtp
            && self.mail.smtp_security == SmtpSecurity::None
            && !is_loopback_host(&self.mail.smtp_host)
        {
            return Err(invalid(
                "mail.smtp_security",
                "\"none\" sends mail unencrypted and is only allowed for a loopback host",
            ));
        }
        self.validate_keys()?;
        self.validate_oauth()?;
        if self.registration.enabled && self.registration.initial_access_token.expose().len() < 32 {
            return Err(invalid(
                "registration.initial_access_token",
                "dynamic registration is enabled: set an initial access token of at least 32 characters",
            ));
        }
        if self.log.level.trim().is_empty()
            || tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
        {
            return Err(invalid("log.level", "not a valid tracing filter directive"));
        }
        Ok(origin)
    }

    fn validate_issuer(&self) -> Result<String, ConfigError> {
        let url = url::Url::parse(&self.issuer)
            .map_err(|e| invalid("issuer", format!("not an absolute URL: {e}")))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(invalid(
                "issuer",
                "must use https (or http on a loopback host)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("issuer", "must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("issuer", "must not contain credentials"));
        }
        if self.issuer.ends_with('/') {
            return Err(invalid("issuer", "must not end with '/'"));
        }
        let host = url.host_str().unwrap_or_default();
        if url.scheme() == "http" && !is_loopback_host(host) && !self.server.allow_plain_http {
            return Err(invalid(
                "issuer",
                "plain http is only allowed for a loopback host (or with server.allow_plain_http)",
            ));
        }
        Ok(url.origin().ascii_serialization())
    }

    fn validate_password(&self) -> Result<(), ConfigError> {
        let p = &self.password;
        if p.min_length < 12 {
            return Err(invalid("password.min_length", "must be at least 12"));
        }
        range("password.max_length", p.max_length as u64, 128, 4096)?;
        if p.min_length > p.max_length {
            return Err(invalid(
                "password.min_length",
                "must not exceed password.max_length",
            ));
        }
        range(
            "password.argon2_memory_kib",
            p.argon2_memory_kib.into(),
            7168,
            4 << 20,
        )?;
        range(
            "password.argon2_iterations",
            p.argon2_iterations.into(),
            1,
            100,
        )?;
        range(
            "password.argon2_parallelism",
            p.argon2_parallelism.into(),
            1,
            64,
        )?;
        if u64::from(p.argon2_memory_kib) * u64::from(p.argon2_iterations) < 35_840 {
            return Err(invalid(
                "password.argon2_memory_kib",
                "memory_kib * iterations must be at least 35840 (OWASP minimum)",
            ));
        }
        range(
            "password.max_concurrent_hashes",
            p.max_concurrent_hashes as u64,
            0,
            1024,
        )?;
        Ok(())
    }
}

impl Settings {
    fn validate_keys(&self) -> Result<(), ConfigError> {
        let k = &self.keys;
        let inline = !k.encryption_key.expose().trim().is_empty();
        if inline && !k.encryption_key_file.trim().is_empty() {
            return Err(invalid(
                "keys.encryption_key",
                "set either keys.encryption_key or keys.encryption_key_file, not both",
            ));
        }
        if inline {
            Kek::from_base64(k.encryption_key.expose())
                .map_err(|e| invalid("keys.encryption_key", e.to_string()))?;
        }
        if ![2048, 3072, 4096].contains(&k.rsa_bits) {
            return Err(invalid("keys.rsa_bits", "must be 2048, 3072 or 4096"));
        }
        range(
            "keys.rotation_interval_secs",
            k.rotation_interval_secs,
            3600,
            10 * 31_536_000,
        )?;
        range("keys.prepublish_secs", k.prepublish_secs, 0, 30 * 86_400)?;
        if k.prepublish_secs >= k.rotation_interval_secs {
            return Err(invalid(
                "keys.prepublish_secs",
                "must be shorter than keys.rotation_interval_secs",
            ));
        }
        range("keys.reload_interval_secs", k.reload_interval_secs, 1, 3600)?;
        Ok(())
    }

    fn validate_oauth(&self) -> Result<(), ConfigError> {
        let o = &self.oauth;
        range(
            "oauth.authorization_code_lifetime_secs",
            o.authorization_code_lifetime_secs,
            1,
            600,
        )?;
        range(
            "oauth.access_token_lifetime_secs",
            o.access_token_lifetime_secs,
            1,
            86_400,
        )?;
        range(
            "oauth.id_token_lifetime_secs",
            o.id_token_lifetime_secs,
            1,
            86_400,
        )?;
        range(
            "oauth.refresh_token_idle_secs",
            o.refresh_token_idle_secs,
            1,
            10 * 31_536_000,
        )?;
        range(
            "oauth.refresh_token_absolute_secs",
            o.refresh_token_absolute_secs,
            1,
            10 * 31_536_000,
        )?;
        if o.refresh_token_absolute_secs < o.refresh_token_idle_secs {
            return Err(invalid(
                "oauth.refresh_token_absolute_secs",
                "must not be shorter than oauth.refresh_token_idle_secs",
            ));
        }
        range(
            "oauth.authorization_request_lifetime_secs",
            o.authorization_request_lifetime_secs,
            60,
            86_400,
        )?;
        range(
            "oauth.unauthenticated_request_lifetime_secs",
            o.unauthenticated_request_lifetime_secs,
            60,
            o.authorization_request_lifetime_secs,
        )?;
        range(
            "oauth.max_pending_requests_per_source",
            o.max_pending_requests_per_source.into(),
            1,
            100_000,
        )?;
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        range(
            "limits.mail_window_secs",
            l.mail_window_secs,
            60,
            7 * 86_400,
        )?;
        range(
            "limits.mails_per_address",
            l.mails_per_address.into(),
            1,
            1000,
        )?;
        range(
            "limits.requests_per_source",
            l.requests_per_source.into(),
            1,
            1_000_000,
        )?;
        range(
            "limits.ceremony_window_secs",
            l.ceremony_window_secs,
            60,
            86_400,
        )?;
        range(
            "limits.ceremonies_per_source",
            l.ceremonies_per_source.into(),
            1,
            1_000_000,
        )?;
        range(
            "limits.ceremonies_per_user",
            l.ceremonies_per_user.into(),
            1,
            100_000,
        )?;
        Ok(())
    }

    /// The longest time a JWT we sign stays valid: a retired key stays published this long.
    pub fn max_token_lifetime_secs(&self) -> u64 {
        self.oauth
            .access_token_lifetime_secs
            .max(self.oauth.id_token_lifetime_secs)
    }
}

fn range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(invalid(key, format!("{value} is outside {min}..={max}")));
    }
    Ok(())
}

/// `server.trusted_proxies`: each entry a CIDR without host bits (`10.0.0.0/8`) or a single
/// address (`10.0.0.5`, meaning /32 or /128). IPv4-mapped entries (`::ffff:10.0.0.5`,
/// `::ffff:10.0.0.0/104`) become the IPv4 net they mean, since peers are compared in
/// canonical form (`http::client_addr::is_trusted`). A net that trusts every address of a
/// family (`0.0.0.0/0`, `::/0`, all of IPv4-mapped space) is refused: trusting every peer's
/// forwarding headers lets any client pick its own address.
fn trusted_nets(entries: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let key = "server.trusted_proxies";
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            let net = match entry.parse::<IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => {
                    let net: ipnet::IpNet = entry.parse().map_err(|_| {
                        invalid(
                            key,
                            format!("{entry:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"),
                        )
                    })?;
                    if net.trunc() != net {
                        return Err(invalid(
                            key,
                            format!("{entry:?} has host bits set; did you mean {}?", net.trunc()),
                        ));
                    }
                    net
                }
            };
            let net = canonical_net(net).ok_or_else(|| {
                invalid(
                    key,
                    format!("{entry:?} would trust every client's forwarding headers; list only your proxies"),
                )
            })?;
            Ok(net)
        })
        .collect()
}

/// `net` in the form peers are compared in (IPv4-mapped IPv6 as IPv4), or `None` when it
/// covers all of IPv4 or all of IPv6.
fn canonical_net(net: ipnet::IpNet) -> Option<ipnet::IpNet> {
    let mapped = ipnet::Ipv6Net::new(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        .unwrap_or_default();
    let net = match net {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 && mapped.contains(&v6.network()) => {
            let v4 = v6.network().to_ipv4_mapped()?;
            ipnet::IpNet::V4(ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?)
        }
        // A shorter IPv6 prefix around the mapped space would trust all of IPv4.
        ipnet::IpNet::V6(v6) if v6.contains(&mapped) => return None,
        other => other,
    };
    (net.prefix_len() > 0).then_some(net)
}

pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
