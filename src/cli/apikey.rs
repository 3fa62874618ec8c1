//! `portcullis apikey ...`: the operator's API keys. The operator needs no permission; a key
//! with `--owner` is still bounded by what its owner holds, at creation and at every use.

use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;

use super::{duration, print_json, print_table, CliError};
use crate::admin::api_keys::{self, ApiKeyError, IssuedApiKey, NewApiKey, OwnerName, Revocation};
use crate::audit::Actor;
use crate::config::Settings;
use crate::startup::open_store;
use crate::store::api_keys::ApiKeyListing;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; prints it once (only a hash of its secret is stored).
    Add {
        #[arg(long)]
        name: String,
        /// The role whose permissions the key carries (global, or the organization's own).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// The organization (by name) the key acts in; without it the key is global.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// A user (by username) whose current permissions bound the key's.
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// A client (by client_id, a service account) whose permissions bound the key's.
        #[arg(long, value_name = "CLIENT_ID", conflicts_with = "owner")]
        owner_client: Option<String>,
        /// How long the key works (30m, 12h, 90d, 4w...); without it, until revoked.
        #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
        expires_in: Option<Duration>,
        /// An address range the key may be used from (repeatable); without it, anywhere.
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allow_ip: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List API keys (never their secrets).
    List {
        /// Only the keys of this organization (by name).
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key at once.
    Revoke { id: String },
    /// Give an API key a new secret (printed once); the old one works during the overlap.
    Rotate {
        id: String,
        /// How long the old secret keeps working (default 24h; 0: it stops at once).
        #[arg(long, value_name = "DURATION", value_parser = parse_overlap, default_value = "24h")]
        overlap: Overlap,
        #[arg(long)]
        json: bool,
    },
}

/// How long a rotated key's previous secret keeps working; `None`: not at all.
#[derive(Debug, Clone, Copy)]
pub struct Overlap(Option<Duration>);

fn parse_overlap(s: &str) -> Result<Overlap, String> {
    if s == "0" {
        return Ok(Overlap(None));
    }
    duration::parse(s).map(|d| Overlap(Some(d)))
}

impl From<ApiKeyError> for CliError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Store(s) => CliError::Failure(s.into()),
            other => CliError::Usage(other.to_string()),
        }
    }
}

#[derive(Serialize)]
struct IssuedView<'a> {
    id: &'a str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_valid_until: Option<i64>,
}

#[derive(Serialize)]
struct KeyView<'a> {
    id: &'a str,
    name: &'a str,
    role: &'a str,
    org: Option<&'a str>,
    owner_user: Option<&'a str>,
    owner_client: Option<&'a str>,
    created_at: i64,
    created_by: Option<&'a str>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    last_used_ip: Option<&'a str>,
    revoked_at: Option<i64>,
    previous_valid_until: Option<i64>,
    allowed_cidrs: Vec<String>,
}

impl<'a> KeyView<'a> {
    fn new(l: &'a ApiKeyListing) -> Self {
        let k = &l.key;
        Self {
            id: &k.id,
            name: &k.name,
            role: &l.role_name,
            org: l.org_name.as_deref(),
            owner_user: l.owner_username.as_deref(),
            owner_client: k.owner_client_id.as_deref(),
            created_at: k.created_at,
            created_by: k.created_by.as_deref(),
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            last_used_ip: k.last_used_ip.as_deref(),
            revoked_at: k.revoked_at,
            previous_valid_until: k.previous_expires_at,
            allowed_cidrs: api_keys::allowed_cidrs(k),
        }
    }
}

fn when(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), crate::time::format_utc)
}

fn print_issued(issued: &IssuedApiKey, json: bool) -> Result<(), CliError> {
    if json {
        return print_json(&IssuedView {
            id: &issued.id,
            key: issued.key.expose(),
            previous_valid_until: issued.previous_valid_until,
        });
    }
    println!("id:  {}", issued.id);
    println!("key: {}", issued.key.expose());
    if let Some(until) = issued.previous_valid_until {
        println!("The previous key works until {}.", when(Some(until)));
    }
    println!("Store the key now: it is not shown again.");
    Ok(())
}

pub async fn run(cmd: ApiKeyCommand, settings: &Settings) -> Result<(), CliError> {
    let now = crate::time::now();
    match cmd {
        ApiKeyCommand::Add {
            name,
            role,
            org,
            owner,
            owner_client,
            expires_in,
            allow_ip,
            json,
        } => {
            let owner = match (owner, owner_client) {
                (Some(user), _) => Some(OwnerName::Username(user)),
                (None, Some(client)) => Some(OwnerName::ClientId(client)),
                (None, None) => None,
            };
            let new = NewApiKey {
                name,
                role,
                org,
                owner,
                expires_in,
                allowed_cidrs: allow_ip,
            };
            // Checked before the database is opened, so a typo never runs migrations.
            api_keys::validate_name(&new.name)?;
            for cidr in &new.allowed_cidrs {
                api_keys::parse_cidr(cidr)?;
            }
            let store = open_store(settings)?;
            let issued = api_keys::create(&store, new, Actor::Cli, now).await?;
            print_issued(&issued, json)
        }
        ApiKeyCommand::List { org, json } => {
            let store = open_store(settings)?;
            let list = api_keys::list(&store, org).await?;
            let views: Vec<KeyView<'_>> = list.iter().map(KeyView::new).collect();
            if json {
                return print_json(&views);
            }
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|v| {
                    let owner = match (v.owner_user, v.owner_client) {
                        (Some(u), _) => format!("user:{u}"),
                        (None, Some(c)) => format!("client:{c}"),
                        (None, None) => "-".into(),
                    };
                    let cidrs = if v.allowed_cidrs.is_empty() {
                        "any".into()
                    } else {
                        v.allowed_cidrs.join(",")
                    };
                    vec![
                        v.id.to_owned(),
                        v.name.to_owned(),
                        v.role.to_owned(),
                        v.org.unwrap_or("-").to_owned(),
                        owner,
                        when(Some(v.created_at)),
                        when(v.expires_at),
                        when(v.last_used_at),
                        v.last_used_ip.unwrap_or("-").to_owned(),
                        when(v.revoked_at),
                        cidrs,
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "NAME",
                    "ROLE",
                    "ORG",
                    "OWNER",
                    "CREATED",
                    "EXPIRES",
                    "LAST_USED",
                    "LAST_IP",
                    "REVOKED",
                    "ALLOWED_IPS",
                ],
                &rows,
            );
            Ok(())
        }
        ApiKeyCommand::Revoke { id } => {
            let store = open_store(settings)?;
            match api_keys::revoke(&store, &id, Actor::Cli, now).await? {
                Revocation::Revoked => println!("revoked API key {id}"),
                Revocation::AlreadyRevoked => println!("API key {id} was already revoked"),
            }
            Ok(())
        }
        ApiKeyCommand::Rotate { id, overlap, json } => {
            let store = open_store(settings)?;
            let issued = api_keys::rotate(&store, &id, overlap.0, Actor::Cli, now).await?;
            print_issued(&issued, json)
        }
    }
}
