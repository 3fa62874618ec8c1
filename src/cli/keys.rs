//! `portcullis keys ...`

use clap::Subcommand;

use super::{print_json, print_table, CliError};
use crate::audit::Actor;
use crate::config::Settings;
use crate::keys::{kek_source, KeyRing};
use crate::startup::{open_keys, open_store};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create new signing keys. They are published at once and sign after
    /// keys.prepublish_secs, so relying parties fetch them first; the old keys stay
    /// published until the tokens they signed have expired.
    Rotate {
        /// Sign with the new keys immediately (a suspected key compromise).
        #[arg(long)]
        now: bool,
        /// With --now: also remove the previous keys from the JWKS at once, so every token
        /// they signed stops verifying (a confirmed key compromise).
        #[arg(long, requires = "now")]
        retire_previous: bool,
        #[arg(long)]
        json: bool,
    },
    /// List signing keys and their state (pending, active, retired, removed).
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: KeysCommand, settings: &Settings) -> Result<(), CliError> {
    let store = open_store(settings)?;
    match cmd {
        KeysCommand::Rotate {
            now,
            retire_previous,
            json,
        } => {
            let kek = kek_source::load(&settings.keys).map_err(|e| CliError::Failure(e.into()))?;
            let ring = open_keys(settings, &store, kek).await?;
            let created = ring
                .rotate(now, Actor::Cli)
                .await
                .map_err(|e| CliError::Failure(e.into()))?;
            let retired = if retire_previous {
                ring.retire_previous(Actor::Cli)
                    .await
                    .map_err(|e| CliError::Failure(e.into()))?
            } else {
                0
            };
            if json {
                return print_json(
                    &serde_json::json!({ "created": created, "immediate": now, "retired": retired }),
                );
            }
            if retire_previous {
                println!("retired {retired} previous keys: tokens they signed no longer verify");
            }
            for kid in &created {
                println!("created key {kid}");
            }
            if now {
                println!("the new keys sign from now on");
            } else {
                println!(
                    "the new keys sign in {} seconds (keys.prepublish_secs)",
                    settings.keys.prepublish_secs
                );
            }
            Ok(())
        }
        KeysCommand::List { json } => {
            let keys = KeyRing::list(&store)
                .await
                .map_err(|e| CliError::Failure(e.into()))?;
            if json {
                return print_json(&keys);
            }
            let rows: Vec<Vec<String>> = keys
                .into_iter()
                .map(|k| {
                    vec![
                        k.kid,
                        k.alg.to_owned(),
                        k.generation.to_string(),
                        k.state.to_owned(),
                        k.activate_at.to_string(),
                        k.remove_at.map_or_else(|| "-".into(), |r| r.to_string()),
                    ]
                })
                .collect();
            print_table(
                &["KID", "ALG", "GEN", "STATE", "ACTIVATE_AT", "REMOVE_AT"],
                &rows,
            );
            Ok(())
        }
    }
}
