//! `portcullis user ...`

use std::io::BufRead;

use clap::Subcommand;
use serde::Serialize;

use super::profile_flags::ProfileFlags;
use super::{print_json, print_table, CliError};
use crate::accounts::profile::{self, Profile};
use crate::accounts::{self, NewUser};
use crate::audit::Actor;
use crate::config::Settings;
use crate::crypto::SecretString;
use crate::startup::{open_store, password_hasher, password_policy};

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        profile: ProfileFlags,
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
    /// Change a user's profile (standard claims) and verification flags.
    Update {
        username: String,
        #[command(flatten)]
        profile: ProfileFlags,
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
    /// who lost them all. The user is told by mail (sent by the running server).
    ResetMfa { username: String },
}

/// `user update --json`: who, and the whole profile after the change.
#[derive(Serialize)]
struct UpdatedView<'a> {
    id: &'a str,
    username: &'a str,
    email: &'a str,
    #[serde(flatten)]
    profile: &'a Profile,
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
            profile: flags,
            admin,
            password_stdin,
            json,
        } => {
            let change = flags.into_change()?;
            let password = password_stdin.then(read_password_line).transpose()?;
            let store = open_store(settings)?;
            let hasher = password_hasher(settings)?;
            let new = NewUser {
                username,
                email,
                display_name: None,
                password,
                admin,
            };
            let policy = password_policy(settings);
            let (user, profile) =
                profile::create_with_profile(&store, &hasher, &policy, new, change, Actor::Cli)
                    .await?;
            if json {
                let created = accounts::list(&store)
                    .await?
                    .into_iter()
                    .find(|u| u.id == user.id);
                // The summary as before, with the profile beside it.
                let mut view =
                    serde_json::to_value(&created).map_err(|e| CliError::Failure(e.into()))?;
                if let Some(object) = view.as_object_mut() {
                    object.insert(
                        "profile".into(),
                        serde_json::to_value(&profile).map_err(|e| CliError::Failure(e.into()))?,
                    );
                }
                print_json(&view)?;
            } else {
                println!("created user {} (id {})", user.username, user.id);
            }
            Ok(())
        }
        UserCommand::Update {
            username,
            profile: flags,
            json,
        } => {
            let change = flags.into_change()?;
            if change.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give a claim flag such as --given-name, or --clear CLAIM"
                        .into(),
                ));
            }
            let store = open_store(settings)?;
            let (id, saved) =
                profile::update_by_username(&store, &username, change, Actor::Cli).await?;
            if json {
                let user = accounts::list(&store)
                    .await?
                    .into_iter()
                    .find(|u| u.id == id)
                    .ok_or(accounts::AccountError::UnknownUser)?;
                return print_json(&UpdatedView {
                    id: &user.id,
                    username: &user.username,
                    email: &user.email,
                    profile: &saved,
                });
            }
            println!("updated the profile of {username}");
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
                        u.roles
                            .iter()
                            .chain(&u.org_roles)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(","),
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
            let reset =
                crate::mfa::manage::reset_all(&store, &username, Actor::Cli, &settings.issuer)
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
