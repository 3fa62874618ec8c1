//! `portcullis org ...`: organizations and their members, as the operator.

use clap::Subcommand;

use super::{print_json, print_table, CliError};
use crate::admin::orgs;
use crate::audit::Actor;
use crate::config::Settings;
use crate::startup::open_store;

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization. NAME is its lower-case handle (a-z, 0-9, '-').
    Add {
        name: String,
        /// What people read; defaults to NAME.
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List organizations with their numbers of members and clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an organization (refused while it owns clients). Its members, own roles and
    /// every grant in it go with it.
    Delete { name: String },
    /// Manage an organization's members.
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Make a user a member.
    Add { org: String, user: String },
    /// End a membership, and with it every role the user holds in the organization.
    Remove { org: String, user: String },
    /// List the members.
    List {
        org: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: OrgCommand, settings: &Settings) -> Result<(), CliError> {
    let store = open_store(settings)?;
    let now = crate::time::now();
    match cmd {
        OrgCommand::Add {
            name,
            display_name,
            json,
        } => {
            let org = store
                .run(move |c| orgs::create(c, &name, display_name.as_deref(), &Actor::Cli, now))
                .await?;
            if json {
                return print_json(&org);
            }
            println!("created organization {} (id {})", org.name, org.id);
        }
        OrgCommand::List { json } => {
            let list = store.run(orgs::list).await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .into_iter()
                .map(|o| {
                    vec![
                        o.name,
                        o.display_name,
                        o.members.to_string(),
                        o.clients.to_string(),
                        o.id,
                    ]
                })
                .collect();
            print_table(&["NAME", "DISPLAY NAME", "MEMBERS", "CLIENTS", "ID"], &rows);
        }
        OrgCommand::Delete { name } => {
            let shown = name.clone();
            store
                .run(move |c| orgs::delete(c, &name, &Actor::Cli))
                .await?;
            println!("deleted organization {shown}");
        }
        OrgCommand::Member(MemberCommand::Add { org, user }) => {
            let (o, u) = (org.clone(), user.clone());
            let added = store
                .run(move |c| orgs::add_member(c, &o, &u, &Actor::Cli, now))
                .await?;
            if added {
                println!("{user} is now a member of {org}");
            } else {
                println!("{user} already was a member of {org}");
            }
        }
        OrgCommand::Member(MemberCommand::Remove { org, user }) => {
            let (o, u) = (org.clone(), user.clone());
            let revoked = store
                .run(move |c| orgs::remove_member(c, &o, &u, &Actor::Cli))
                .await?;
            println!("{user} is no longer a member of {org} ({revoked} role grant(s) ended)");
        }
        OrgCommand::Member(MemberCommand::List { org, json }) => {
            let members = store.run(move |c| orgs::members(c, &org)).await?;
            if json {
                return print_json(&members);
            }
            let rows: Vec<Vec<String>> = members
                .into_iter()
                .map(|m| {
                    vec![
                        m.username,
                        m.email,
                        crate::time::format_utc(m.joined_at),
                        m.user_id,
                    ]
                })
                .collect();
            print_table(&["USERNAME", "EMAIL", "JOINED", "ID"], &rows);
        }
    }
    Ok(())
}
