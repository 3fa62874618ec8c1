//! `portcullis user ...`

use std::io::BufRead;

use clap::Subcommand;

use super::{print_json, print_table, CliError};
use crate::accounts::{self, NewUser};
use crate::audit::Actor;
use crate::config::Settings;
use crate::crypto::SecretString;
use crate::startup::{open_store, password_hasher, password_policy};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Grant the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input. Without it the account
        /// has no password and cannot sign in with one.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users. A username that breaks today's rules is marked "(!)".
    List {
        #[arg(long)]
        json: bool,
    },
    /// List the usernames that break today's rules (stored before them, e.g. with '@').
    /// They still sign in; nothing is changed.
    CheckNames {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sign-in is refused and every session ends.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// Clear a user's failed sign-in count and lock.
    Unlock { username: String },
    /// Remove every second factor (authenticator app, passkeys, recovery codes) of a user
    /// who lost them all.
    ResetMfa { username: String },
}

fn read_password_line() -> Result<SecretString, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(CliError::Usage(
            "--password-stdin: standard input held no password".into(),
        ));
    }
    Ok(SecretString::new(password))
}

pub async fn run(cmd: UserCommand, settings: &Settings) -> Result<(), CliError> {
    match cmd {
        UserCommand::Add {
            username,
            email,
            display_name,
            admin,
            password_stdin,
            json,
        } => {
            let password = password_stdin.then(read_password_line).transpose()?;
            let store = open_store(settings)?;
            let hasher = password_hasher(settings)?;
            let new = NewUser {
                username,
                email,
                display_name,
                password,
                admin,
            };
            let user =
                accounts::create(&store, &hasher, &password_policy(settings), new, Actor::Cli)
                    .await?;
            if json {
                let created = accounts::list(&store)
                    .await?
                    .into_iter()
                    .find(|u| u.id == user.id);
                print_json(&created)?;
            } else {
                println!("created user {} (id {})", user.username, user.id);
            }
            Ok(())
        }
        UserCommand::List { json } => {
            let store = open_store(settings)?;
            let users = accounts::list(&store).await?;
            if json {
                return print_json(&users);
            }
            let legacy = users
                .iter()
                .filter(|u| u.username_problem.is_some())
                .count();
            let rows: Vec<Vec<String>> = users
                .into_iter()
                .map(|u| {
                    vec![
                        match u.username_problem {
                            Some(_) => format!("{} (!)", u.username),
                            None => u.username,
                        },
                        u.email,
                        u.roles.join(","),
                        if u.disabled { "disabled" } else { "active" }.into(),
                        u.id,
                    ]
                })
                .collect();
            print_table(&["USERNAME", "EMAIL", "ROLES", "STATUS", "ID"], &rows);
            if legacy > 0 {
                eprintln!(
                    "(!) {legacy} username(s) break the username rules; \
                     see `portcullis user check-names`"
                );
            }
            Ok(())
        }
        UserCommand::CheckNames { json } => {
            let store = open_store(settings)?;
            let legacy = accounts::legacy_usernames(&store).await?;
            if json {
                return print_json(&legacy);
            }
            if legacy.is_empty() {
                println!("every username follows the rules");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = legacy
                .into_iter()
                .map(|l| vec![l.username, l.id, l.problem])
                .collect();
            print_table(&["USERNAME", "ID", "PROBLEM"], &rows);
            Ok(())
        }
        UserCommand::Disable { username }
        | UserCommand::Enable { username }
        | UserCommand::Unlock { username }
        | UserCommand::ResetMfa { username }
            if username.trim().is_empty() =>
        {
            Err(CliError::Usage("a username is required".into()))
        }
        UserCommand::Disable { username } => {
            let store = open_store(settings)?;
            accounts::set_disabled(&store, &username, true, Actor::Cli).await?;
            println!("disabled user {username}; their sessions have ended");
            Ok(())
        }
        UserCommand::Unlock { username } => {
            let store = open_store(settings)?;
            accounts::lockout::unlock(&store, &username, Actor::Cli).await?;
            println!("unlocked user {username}");
            Ok(())
        }
        UserCommand::ResetMfa { username } => {
            let store = open_store(settings)?;
            let reset = crate::mfa::manage::reset_all(&store, &username, Actor::Cli)
                .await
                .map_err(|e| CliError::Failure(e.into()))?
                .ok_or(accounts::AccountError::UnknownUser)?;
            println!(
                "removed from {username}: authenticator app: {}, passkeys: {}, recovery codes: {}",
                if reset.totp { "yes" } else { "no" },
                reset.passkeys,
                reset.recovery_codes
            );
            Ok(())
        }
        UserCommand::Enable { username } => {
            let store = open_store(settings)?;
            accounts::set_disabled(&store, &username, false, Actor::Cli).await?;
            println!("enabled user {username}");
            Ok(())
        }
    }
}
