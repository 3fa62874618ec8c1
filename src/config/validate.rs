//! Validation of [`Settings`]: every key's range and cross-key rule, and the parsing of
//! `server.trusted_proxies`.

use std::net::IpAddr;

use super::{invalid, is_loopback_host, ConfigError, MailTransport, Settings, SmtpSecurity};
use crate::crypto::envelope::Kek;

impl Settings {
    /// Checks every key; returns the issuer's origin.
    pub(super) fn validate(&self) -> Result<String, ConfigError> {
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
        range(
            "server.request_timeout_secs",
            self.server.request_timeout_secs,
            1,
            3600,
        )?;
        range(
            "server.max_connections",
            self.server.max_connections as u64,
            1,
            1_000_000,
        )?;
        range(
            "server.max_connections_per_ip",
            self.server.max_connections_per_ip as u64,
            1,
            self.server.max_connections as u64,
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
        self.validate_database_bounds()?;
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

    /// The timeouts that bound database work (README "When the database fails").
    fn validate_database_bounds(&self) -> Result<(), ConfigError> {
        let db = &self.database;
        if db.statement_timeout_ms != 0 {
            range(
                "database.statement_timeout_ms",
                db.statement_timeout_ms,
                100,
                600_000,
            )?;
        }
        range(
            "database.sqlite_busy_timeout_ms",
            db.sqlite_busy_timeout_ms,
            0,
            600_000,
        )?;
        range(
            "database.operation_timeout_secs",
            db.operation_timeout_secs,
            1,
            600,
        )?;
        range(
            "database.probe_interval_secs",
            db.probe_interval_secs,
            1,
            3600,
        )?;
        range("database.probe_timeout_secs", db.probe_timeout_secs, 1, 60)?;
        Ok(())
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
pub(super) fn trusted_nets(entries: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
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
