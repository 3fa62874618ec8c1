//! Building and running the server. Everything that can fail (database, migrations, key
//! material, binding the port) happens in [`Application::build`], before any request is
//! served, so a bad start exits with the cause instead of half-working.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;

use crate::accounts::{setup, signup, PasswordPolicy};
use crate::config::Settings;
use crate::crypto::envelope::Kek;
use crate::crypto::password::PasswordHasher;
use crate::http::cookies::CookieConfig;
use crate::http::middleware::connection_caps::{self, ConnectionCaps, OpenFileFit};
use crate::http::{middleware, AppError, AppState};
use crate::keys::{kek_source, KeyPolicy, KeyRing};
use crate::limits::Limits;
use crate::mfa::passkeys::Passkeys;
use crate::oauth::{Lifetimes, Provider};
use crate::sessions::{self, SessionPolicy};
use crate::store::{migrations, Store};

pub struct Application {
    port: u16,
    server: Server,
    setup_url: Option<String>,
    jobs: Vec<tokio::task::JoinHandle<()>>,
    store: Store,
    keys: Arc<KeyRing>,
    mailer: crate::mail::Mailer,
}

/// Opens the database and applies pending migrations; shared by `serve`, `migrate` and the
/// other CLI commands.
pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::open(settings.database_url()?, settings.database.store_options())?;
    let applied = store.run_sync(migrations::run_pending)?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "applied database migrations");
    }
    Ok(store)
}

pub fn password_hasher(settings: &Settings) -> anyhow::Result<PasswordHasher> {
    let p = &settings.password;
    let permits = match p.max_concurrent_hashes {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    Ok(PasswordHasher::new(
        p.argon2_memory_kib,
        p.argon2_iterations,
        p.argon2_parallelism,
        permits,
    )?)
}

/// Opens the signing keys (creating the first ones on a fresh database).
pub async fn open_keys(
    settings: &Settings,
    store: &Store,
    kek: Kek,
) -> anyhow::Result<Arc<KeyRing>> {
    let policy = KeyPolicy {
        rsa_bits: settings.keys.rsa_bits,
        rotation_interval_secs: crate::time::secs(settings.keys.rotation_interval_secs),
        prepublish_secs: crate::time::secs(settings.keys.prepublish_secs),
        max_token_lifetime_secs: crate::time::secs(settings.max_token_lifetime_secs()),
        removal_leeway_secs: 300,
    };
    KeyRing::open(store.clone(), kek, policy).await.context(
        "cannot open the signing keys (is keys.encryption_key the one they were sealed with?)",
    )
}

pub fn password_policy(settings: &Settings) -> PasswordPolicy {
    PasswordPolicy {
        min_length: settings.password.min_length,
        max_length: settings.password.max_length,
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let addr = settings.listen_addr()?;
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Tests bind port 0 themselves so they know the port before choosing the issuer.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let store = open_store(&settings)?;
        let setup_url = store
            .run_sync(|c| setup::issue_if_needed(c, settings.setup.token_lifetime_secs))?
            .map(|token| format!("{}/setup?token={token}", settings.issuer));
        if !settings.is_https() {
            tracing::warn!(
                issuer = %settings.issuer,
                "serving plain HTTP: cookies lack Secure and the __Host- prefix; \
                 use an https issuer for anything but local development"
            );
        }
        warn_about_private_hosts(&settings);
        let kek = kek_source::load(&settings.keys)?;
        let keys = open_keys(&settings, &store, kek.clone()).await?;
        let provider = Provider {
            issuer: settings.issuer.clone(),
            store: store.clone(),
            keys: Arc::clone(&keys),
            lifetimes: Lifetimes::from_settings(&settings),
            pairwise_salt: kek.derive("pairwise-subject"),
            jwks_fetcher: Arc::new(crate::oauth::jwks_fetch::JwksFetcher::new(
                settings.oauth.allow_private_jwks_uri,
            )),
        };
        let (mailer, mail_worker) = crate::mail::Mailer::start(&settings.mail, &store)?;
        let session_policy = SessionPolicy {
            idle_secs: crate::time::secs(settings.session.idle_timeout_secs),
            absolute_secs: crate::time::secs(settings.session.absolute_lifetime_secs),
        };
        let limits = Limits::from_settings(&settings.limits);
        let passkeys = match Passkeys::new(&settings.issuer) {
            Ok(passkeys) => passkeys.with_limits(limits),
            Err(e) => {
                tracing::warn!(
                    issuer = %settings.issuer,
                    error = %e,
                    "passkeys are disabled: the issuer's host must be a domain name"
                );
                Passkeys::disabled()
            }
        };
        warn_about_legacy_usernames(&store)?;
        let state = AppState {
            store: store.clone(),
            hasher: password_hasher(&settings)?,
            policy: password_policy(&settings),
            sessions: session_policy,
            cookies: CookieConfig {
                secure: settings.is_https(),
            },
            settings: Arc::clone(&settings),
            provider,
            lockout: crate::accounts::Lockout::new(&settings.lockout, &settings.issuer),
            mailer: mailer.clone(),
            mfa: crate::mfa::Mfa::new(kek, &settings.mfa, &settings.issuer),
            passkeys,
            limits,
        };
        let port = listener.local_addr()?.port();
        let max_body = settings.server.max_body_bytes;
        let data = web::Data::new(state);
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let caps = connection_caps(&settings, workers);
        let backstop = caps.per_worker_backstop(workers);
        let request_timeout = Duration::from_secs(settings.server.request_timeout_secs);
        let trusted_proxies = settings.server.trusted_proxies().to_vec();
        let routes = Arc::clone(&settings);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(web::FormConfig::default().limit(max_body))
                .app_data(web::JsonConfig::default().limit(max_body))
                .app_data(web::QueryConfig::default().error_handler(|_, _| {
                    AppError::BadRequest("The query string is malformed.".into()).into()
                }))
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()),
                )
                .configure(|cfg| crate::http::configure(cfg, &routes))
                .default_service(web::to(not_found))
                .wrap(from_fn(middleware::refuse_encoded_bodies))
                .wrap(from_fn(middleware::https_behind_proxies))
                // The last wrap is the outermost: every answer of `shed` and `enforce` (503,
                // 408, 400) gets the security headers, the request id and an access-log line.
                .wrap(from_fn(middleware::connection_caps::shed))
                .wrap(from_fn(middleware::request_deadline::enforce))
                .wrap(from_fn(middleware::security_headers))
                .wrap(from_fn(middleware::request_context))
        })
        .on_connect(move |io, extensions| {
            middleware::request_deadline::on_connect(
                io,
                extensions,
                &trusted_proxies,
                request_timeout,
            );
            caps.on_connect(io, extensions);
        })
        // The head of a connection's first request; the body is bounded by the middleware.
        .client_request_timeout(middleware::request_deadline::head_timeout(request_timeout))
        .max_connections(backstop)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .workers(workers);
        // Signals are handled by `stop_on_signals`, which only the real server installs:
        // tests run many apps in one process and Ctrl-C must still end that process.
        let server = server.disable_signals().listen(listener)?.run();
        let jobs = vec![
            mail_worker,
            tokio::spawn(purge_loop(
                store.clone(),
                Purge {
                    sessions: session_policy,
                    source_memory: crate::time::secs(settings.lockout.source_memory_secs),
                    // Burst counters live in the throttle table too and need their whole window.
                    throttle_window: crate::time::secs(
                        settings
                            .lockout
                            .ip_window_secs
                            .max(settings.lockout.burst_window_secs),
                    ),
                    limits,
                    unconfirmed_lifetime: crate::time::secs(
                        settings.signup.unconfirmed_lifetime_secs,
                    ),
                },
                Duration::from_secs(settings.session.purge_interval_secs),
            )),
            tokio::spawn(key_loop(
                Arc::clone(&keys),
                Duration::from_secs(settings.keys.reload_interval_secs),
            )),
            // Readiness (/readyz) from a background probe, never from a request's own query.
            tokio::spawn(store.clone().probe_loop(
                Duration::from_secs(settings.database.probe_interval_secs),
                Duration::from_secs(settings.database.probe_timeout_secs),
            )),
        ];
        Ok(Self {
            port,
            server,
            setup_url,
            jobs,
            store,
            keys,
            mailer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The one-time URL for creating the first administrator, when none exists.
    pub fn setup_url(&self) -> Option<&str> {
        self.setup_url.as_deref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The mail queue. Mail goes out oldest first, so a message queued here goes out after
    /// every message the app queued before (tests use that to know no more mail is coming),
    /// unless one of those is waiting for a retry.
    pub fn mailer(&self) -> &crate::mail::Mailer {
        &self.mailer
    }

    /// Stops gracefully on SIGTERM or SIGINT (in-flight requests get
    /// `server.shutdown_timeout_secs`). The handlers are registered before this returns, so a
    /// signal that arrives right after start-up is not lost.
    pub fn stop_on_signals(&mut self) -> std::io::Result<()> {
        let handle = self.server.handle();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            self.jobs.push(tokio::spawn(async move {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = name, "shutting down gracefully");
                handle.stop(true).await;
            }));
        }
        #[cfg(not(unix))]
        self.jobs.push(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.stop(true).await;
            }
        }));
        Ok(())
    }

    /// Serves until SIGTERM or SIGINT (actix drains in-flight requests for
    /// `server.shutdown_timeout_secs`), then stops the background jobs.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for job in &self.jobs {
            job.abort();
        }
        result
    }
}

/// The connection caps, with the overall cap lowered (and a warning) when the open-file
/// limit cannot hold it beside the database pool.
fn connection_caps(settings: &Settings, workers: usize) -> ConnectionCaps {
    let wanted = settings.server.max_connections;
    let Some(limit) = connection_caps::open_file_limit() else {
        return ConnectionCaps::new(wanted, settings);
    };
    let fit = connection_caps::fit_to_open_files(
        wanted,
        workers,
        settings.database.max_connections,
        limit,
    );
    match fit {
        OpenFileFit::Fits => {}
        OpenFileFit::Lowered(lowered_to) => tracing::warn!(
            configured = wanted,
            lowered_to,
            open_file_limit = limit,
            workers,
            "server.max_connections does not fit the open-file limit beside the database pool \
             and the reserve; lowered (raise the hard limit, e.g. LimitNOFILE= in systemd)"
        ),
        OpenFileFit::TooLow { needed } => tracing::error!(
            configured = wanted,
            used = 1,
            open_file_limit = limit,
            needed_for_one_connection = needed,
            workers,
            "the open-file limit cannot hold even one client connection beside the database \
             pool and the reserve; serving with server.max_connections = 1, and requests may \
             fail with \"too many open files\" (raise the limit, e.g. LimitNOFILE= in systemd, \
             or lower database.max_connections or server.workers)"
        ),
    }
    ConnectionCaps::new(fit.max_connections(wanted), settings)
}

/// What the purge job clears, besides expired sessions and tokens.
#[derive(Clone, Copy)]
struct Purge {
    sessions: SessionPolicy,
    throttle_window: i64,
    limits: Limits,
    unconfirmed_lifetime: i64,
    source_memory: i64,
}

async fn purge_loop(store: Store, purge: Purge, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let Purge {
            throttle_window,
            limits,
            source_memory,
            ..
        } = purge;
        let throttles = store
            .run(move |c| {
                let now = crate::time::now();
                // A source starts over only once it has been quiet (no failure, no lock)
                // for lockout.source_memory_secs, so its lock keeps doubling until then.
                crate::store::login_sources::purge(c, now.saturating_sub(source_memory))?;
                crate::store::throttle::purge(c, now, throttle_window)?;
                crate::limits::purge(c, &limits)
            })
            .await;
        if let Err(e) = throttles {
            tracing::warn!(error = %e, "purging sign-in throttles and rate counters failed");
        }
        match sessions::purge_expired(&store, purge.sessions).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "purged expired sessions and tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
        match signup::purge_unconfirmed(&store, purge.unconfirmed_lifetime).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(accounts = n, "deleted expired unconfirmed sign-ups"),
            Err(e) => tracing::warn!(error = %e, "purging unconfirmed sign-ups failed"),
        }
        // Expired grants already grant nothing (checks filter by time); this deletes them
        // and audits their end (role.expired).
        let ended = store
            .run(|c| crate::admin::roles::purge_expired(c, crate::time::now()))
            .await;
        match ended {
            Ok(0) => {}
            Ok(n) => tracing::info!(grants = n, "ended expired role grants"),
            Err(e) => tracing::warn!(error = %e, "purging expired role grants failed"),
        }
    }
}

/// Usernames stored before today's rules are kept as they are (their owners still sign
/// in with them); the operator is told how many there are and how to list them.
fn warn_about_legacy_usernames(store: &Store) -> anyhow::Result<()> {
    let legacy = store.run_sync(crate::accounts::names::legacy_usernames)?;
    if !legacy.is_empty() {
        tracing::warn!(
            count = legacy.len(),
            "usernames stored before the username rules break them (e.g. contain '@'); they \
             are kept and still sign in; list them with `portcullis user check-names`"
        );
    }
    Ok(())
}

/// Rereads the signing keys and rotates them when due, on every instance.
async fn key_loop(keys: Arc<KeyRing>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.tick().await;
    loop {
        interval.tick().await;
        match keys.maintain().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "created new signing keys (scheduled rotation)"),
            Err(e) => tracing::error!(error = %e, "signing key maintenance failed"),
        }
    }
}

/// 404 for unknown routes: a page for browsers, a problem document for API clients.
async fn not_found(req: HttpRequest) -> HttpResponse {
    AppError::NotFound.negotiated_response(&req)
}

/// The development switches for private hosts also apply to anonymous dynamic registration:
/// on a production issuer anyone may then register redirect URIs or a `jwks_uri` into the
/// internal network.
fn warn_about_private_hosts(settings: &Settings) {
    let oauth = &settings.oauth;
    if !settings.is_https() {
        return;
    }
    for (on, key) in [
        (
            oauth.allow_private_redirect_uris,
            "oauth.allow_private_redirect_uris",
        ),
        (oauth.allow_private_jwks_uri, "oauth.allow_private_jwks_uri"),
    ] {
        if on {
            tracing::warn!(
                key,
                issuer = %settings.issuer,
                "{key} is on with an https issuer: every client, dynamically registered ones \
                 included, may name private, loopback and metadata hosts; it is meant for \
                 development only"
            );
        }
    }
}
