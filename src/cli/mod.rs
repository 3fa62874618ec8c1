//! The command line: `portcullis [--config PATH] NOUN VERB`. Exit codes: 0 success,
//! 1 a runtime failure (database unreachable, ...), 2 bad arguments or configuration.

mod apikey;
mod client;
pub mod duration;
mod keys;
mod open_files;
mod org;
mod profile_flags;
mod role;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::accounts::AccountError;
use crate::admin::AdminError;
use crate::clients::ClientError;
use crate::config::{LogSettings, Settings};
use crate::startup::{open_store, Application};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An OAuth 2.0 / OpenID Connect identity provider"
)]
pub struct Cli {
    /// A TOML file overriding config/default.toml (env PORTCULLIS__SECTION__KEY overrides both).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage organizations and their members.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Manage roles, grants (also just-in-time) and the access review.
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Manage API keys for the admin API.
    #[command(subcommand)]
    Apikey(apikey::ApiKeyCommand),
}

/// Failure of a command, deciding the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The operator asked for something invalid: exit code 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Failure(#[from] anyhow::Error),
}

impl From<AccountError> for CliError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => CliError::Failure(s.into()),
            AccountError::Password(p) => CliError::Failure(p.into()),
            other => CliError::Usage(other.to_string()),
        }
    }
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(s) => CliError::Failure(s.into()),
            other => CliError::Usage(other.to_string()),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store(s) => CliError::Failure(s.into()),
            other => CliError::Usage(other.to_string()),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // Only the server logs at the configured level; one-shot commands print results on
    // stdout and keep stderr for warnings.
    let log = match command {
        Command::Serve => settings.log.clone(),
        _ => LogSettings {
            level: "warn".into(),
            ..settings.log.clone()
        },
    };
    crate::telemetry::init(&log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("portcullis: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("portcullis: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Failure(e)) => {
            eprintln!("portcullis: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), CliError> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            open_store(&settings)?;
            println!("database is up to date");
            Ok(())
        }
        Command::User(cmd) => user::run(cmd, &settings).await,
        Command::Client(cmd) => client::run(cmd, &settings).await,
        Command::Keys(cmd) => keys::run(cmd, &settings).await,
        Command::Org(cmd) => org::run(cmd, &settings).await,
        Command::Role(cmd) => role::run(cmd, &settings).await,
        Command::Apikey(cmd) => apikey::run(cmd, &settings).await,
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let issuer = settings.issuer.clone();
    open_files::raise_to_hard_limit();
    let mut app = Application::build(settings).await?;
    app.stop_on_signals()
        .map_err(|e| CliError::Failure(anyhow::anyhow!("cannot install signal handlers: {e}")))?;
    if let Some(url) = app.setup_url() {
        // Printed on the console, deliberately not logged: log files are often shipped
        // elsewhere, and this URL grants administrator access.
        println!();
        println!("  No administrator exists yet. Create one within the hour at:");
        println!();
        println!("    {url}");
        println!();
        println!("  The link works once. Restarting the server replaces it.");
        println!();
    }
    tracing::info!(%issuer, port = app.port(), "portcullis is serving");
    app.run_until_stopped()
        .await
        .map_err(|e| CliError::Failure(e.into()))
}

/// Prints rows as aligned columns.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Failure(e.into()))?;
    println!("{text}");
    Ok(())
}
