use figment::providers::{Format, Toml};
use figment::Figment;

use super::*;

/// The error message for settings that must be refused.
fn refused(toml: &str) -> String {
    with(toml).unwrap_err().to_string()
}

fn with(toml: &str) -> Result<Settings, ConfigError> {
    Settings::from_figment(Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(toml)))
}

#[test]
fn the_shipped_defaults_are_valid() {
    let s = with("").unwrap();
    assert_eq!(s.issuer, "http://localhost:8080");
    assert_eq!(s.issuer_origin(), "http://localhost:8080");
    assert_eq!(s.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
    assert!(s.server.trusted_proxies().is_empty());
    assert!(
        crate::mfa::passkeys::Passkeys::new(&s.issuer)
            .unwrap()
            .is_enabled(),
        "passkeys work with the default issuer (WebAuthn needs a domain, not an IP)"
    );
    assert!(!s.is_https());
    assert_eq!(s.password.min_length, 15);
}

#[test]
fn an_unknown_key_is_an_error_that_names_it() {
    let err = refused("[server]\nlisten_port = 9000\n");
    assert!(err.contains("listen_port"), "{err}");
    let err = refused("[nonsense]\nx = 1\n");
    assert!(err.contains("nonsense"), "{err}");
}

#[test]
fn a_wrongly_typed_value_names_the_key() {
    let err = refused("[session]\nidle_timeout_secs = \"soon\"\n");
    assert!(err.contains("session.idle_timeout_secs"), "{err}");
}

#[test]
fn password_minimum_cannot_go_below_twelve() {
    let err = refused("[password]\nmin_length = 11\n");
    assert!(err.contains("password.min_length"), "{err}");
    assert!(with("[password]\nmin_length = 12\n").is_ok());
}

#[test]
fn weak_argon2_parameters_are_refused() {
    let err = refused("[password]\nargon2_memory_kib = 8192\nargon2_iterations = 1\n");
    assert!(err.contains("password.argon2_memory_kib"), "{err}");
}

#[test]
fn plain_http_off_loopback_is_refused_unless_allowed() {
    let err = refused("issuer = \"http://id.example.com\"\n");
    assert!(err.contains("`issuer`"), "{err}");
    let err = refused("[server]\nlisten = \"0.0.0.0:8080\"\n");
    assert!(err.contains("server.listen"), "{err}");
    let ok = with(
        "issuer = \"https://id.example.com\"\n[server]\nlisten = \"0.0.0.0:8080\"\nallow_plain_http = true\n",
    )
    .unwrap();
    assert!(ok.is_https());
    assert_eq!(ok.issuer_origin(), "https://id.example.com");
}

#[test]
fn issuer_shape_is_checked() {
    for bad in [
        "https://id.example.com/",
        "https://id.example.com?x=1",
        "ftp://id.example.com",
        "not a url",
    ] {
        let err = refused(&format!("issuer = \"{bad}\"\n"));
        assert!(err.contains("`issuer`"), "{bad}: {err}");
    }
}

#[test]
fn database_url_needs_a_known_scheme() {
    let err = refused("[database]\nurl = \"mysql://x\"\n");
    assert!(err.contains("database.url"), "{err}");
    assert!(with("[database]\nurl = \"postgres://u@127.0.0.1/db\"\n").is_ok());
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Settings::load(Some(Path::new("/nonexistent/portcullis.toml")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/portcullis.toml"), "{err}");
}

#[test]
fn the_key_encryption_key_is_checked() {
    let err = refused("[keys]\nencryption_key = \"c2hvcnQ\"\n");
    assert!(err.contains("keys.encryption_key"), "{err}");
    let kek = crate::crypto::envelope::Kek::generate().to_base64();
    assert!(with(&format!("[keys]\nencryption_key = \"{kek}\"\n")).is_ok());
    let both = refused(&format!(
        "[keys]\nencryption_key = \"{kek}\"\nencryption_key_file = \"/run/kek\"\n"
    ));
    assert!(both.contains("not both"), "{both}");
    let secret_free = format!(
        "{:?}",
        with(&format!("[keys]\nencryption_key = \"{kek}\"\n")).unwrap()
    );
    assert!(
        !secret_free.contains(&kek),
        "Debug output must not show the KEK"
    );
}

#[test]
fn key_rotation_settings_are_consistent() {
    let err = refused("[keys]\nrsa_bits = 1024\n");
    assert!(err.contains("keys.rsa_bits"), "{err}");
    let err = refused("[keys]\nrotation_interval_secs = 7200\nprepublish_secs = 7200\n");
    assert!(err.contains("keys.prepublish_secs"), "{err}");
}

#[test]
fn dynamic_registration_needs_a_strong_initial_access_token() {
    let err = refused("[registration]\nenabled = true\n");
    assert!(err.contains("registration.initial_access_token"), "{err}");
    let token = "x".repeat(32);
    let ok = with(&format!(
        "[registration]\nenabled = true\ninitial_access_token = \"{token}\"\n"
    ))
    .unwrap();
    assert!(
        !format!("{ok:?}").contains(&token),
        "Debug output must not show the token"
    );
}

#[test]
fn mail_settings_are_checked() {
    let err = refused("[mail]\nfrom = \"not an address\"\n");
    assert!(err.contains("mail.from"), "{err}");
    let err = refused("[mail]\ntransport = \"smtp\"\nsmtp_host = \"mail.example.com\"\nsmtp_security = \"none\"\n");
    assert!(err.contains("mail.smtp_security"), "{err}");
    assert!(with(
        "[mail]\ntransport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_security = \"none\"\n"
    )
    .is_ok());
    let err = refused("[mail]\ntransport = \"pigeon\"\n");
    assert!(err.contains("mail.transport"), "{err}");
    let err = refused("[lockout]\naccount_threshold = 0\n");
    assert!(err.contains("lockout.account_threshold"), "{err}");
}

#[test]
fn trusted_proxies_are_cidrs_or_addresses() {
    let s =
        with("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n")
            .unwrap();
    let nets: Vec<String> = s
        .server
        .trusted_proxies()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.1/8", ""] {
        let err = refused(&format!("[server]\ntrusted_proxies = [\"{bad}\"]\n"));
        assert!(err.contains("server.trusted_proxies"), "{bad}: {err}");
    }
    let err = refused("[server]\ntrusted_proxies = \"10.0.0.0/8\"\n");
    assert!(err.contains("trusted_proxies"), "{err}");
}

#[test]
fn ipv4_mapped_trusted_proxies_become_ipv4_nets() {
    let s = with(
        "[server]\ntrusted_proxies = [\"::ffff:10.0.0.5\", \"::ffff:10.1.0.0/112\", \"::ffff:0:0/97\"]\n",
    )
    .unwrap();
    let nets: Vec<String> = s
        .server
        .trusted_proxies()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.5/32", "10.1.0.0/16", "0.0.0.0/1"]);
    let peer: std::net::IpAddr = "10.0.0.5".parse().unwrap();
    assert!(crate::http::client_addr::is_trusted(
        peer,
        s.server.trusted_proxies()
    ));
    let mapped_peer: std::net::IpAddr = "::ffff:10.1.2.3".parse().unwrap();
    assert!(crate::http::client_addr::is_trusted(
        mapped_peer,
        s.server.trusted_proxies()
    ));
}

#[test]
fn trusted_proxies_that_trust_everyone_are_refused() {
    for everyone in ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "::/64"] {
        let err = refused(&format!("[server]\ntrusted_proxies = [\"{everyone}\"]\n"));
        assert!(err.contains("server.trusted_proxies"), "{everyone}: {err}");
        assert!(err.contains("every client"), "{everyone}: {err}");
    }
}

#[test]
fn limits_and_unauthenticated_lifetimes_are_checked() {
    for (toml, key) in [
        (
            "[signup]\nunconfirmed_lifetime_secs = 3600\n",
            "signup.unconfirmed_lifetime_secs",
        ),
        (
            "[limits]\nmails_per_address = 0\n",
            "limits.mails_per_address",
        ),
        (
            "[limits]\nmail_window_secs = 10\n",
            "limits.mail_window_secs",
        ),
        (
            "[limits]\nceremonies_per_source = 0\n",
            "limits.ceremonies_per_source",
        ),
        (
            "[oauth]\nunauthenticated_request_lifetime_secs = 3600\n",
            "oauth.unauthenticated_request_lifetime_secs",
        ),
        (
            "[oauth]\nmax_pending_requests_per_source = 0\n",
            "oauth.max_pending_requests_per_source",
        ),
    ] {
        let err = refused(toml);
        assert!(err.contains(key), "{toml}: {err}");
    }
    let s = with("[signup]\nverification_lifetime_secs = 600\nunconfirmed_lifetime_secs = 600\n")
        .unwrap();
    assert_eq!(s.signup.unconfirmed_lifetime_secs, 600);
    assert_eq!(s.limits.mails_per_address, 5);
}

#[test]
fn the_store_defaults_are_the_shipped_database_settings() {
    let s = with("").unwrap();
    assert_eq!(
        s.database.store_options(),
        crate::store::StoreOptions::default()
    );
}

#[test]
fn database_bounds_are_checked_and_named() {
    for (toml, key) in [
        ("statement_timeout_ms = 50", "database.statement_timeout_ms"),
        (
            "statement_timeout_ms = 600001",
            "database.statement_timeout_ms",
        ),
        (
            "sqlite_busy_timeout_ms = 600001",
            "database.sqlite_busy_timeout_ms",
        ),
        (
            "operation_timeout_secs = 0",
            "database.operation_timeout_secs",
        ),
        ("probe_interval_secs = 0", "database.probe_interval_secs"),
        ("probe_timeout_secs = 61", "database.probe_timeout_secs"),
    ] {
        let err = refused(&format!("[database]\n{toml}\n"));
        assert!(err.contains(key), "{toml}: {err}");
    }
    // Zero leaves Postgres' own statement timeout in force.
    assert!(with("[database]\nstatement_timeout_ms = 0\n").is_ok());
}
