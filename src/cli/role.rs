//! `portcullis role ...`: custom roles, grants (permanent or just-in-time), the access
//! review and the permission catalogue, as the operator.

use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use super::{duration, print_json, print_table, CliError};
use crate::admin::permissions::Permission;
use crate::admin::roles::{self, GrantSpec, HolderName, RoleChange, RoleSpec};
use crate::audit::Actor;
use crate::config::Settings;
use crate::startup::open_store;

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a custom role, global or (with --org) an organization's own.
    Add {
        name: String,
        #[arg(long)]
        org: Option<String>,
        /// Inherit this role's permissions (global, or of the same organization).
        #[arg(long)]
        parent: Option<String>,
        /// A permission from `role permissions`; repeat for several.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change a custom role: its parent, its own permissions (replaced) or its description.
    Update {
        name: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, conflicts_with = "no_parent")]
        parent: Option<String>,
        /// Inherit from nothing any more.
        #[arg(long)]
        no_parent: bool,
        /// Replaces the role's own permissions; repeat for several.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the global roles, or (with --org) an organization's own, with their effective
    /// permissions.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a custom role that no role inherits from and nobody holds.
    Delete {
        name: String,
        #[arg(long)]
        org: Option<String>,
    },
    /// Grant a role globally or in an organization (a user becomes its member), for good or
    /// for a period. Granting again renews the grant.
    Grant {
        role: String,
        #[command(flatten)]
        holder: HolderArgs,
        #[arg(long)]
        org: Option<String>,
        /// End the grant after this long (30m, 2h, 7d...): just-in-time access.
        #[arg(long = "for", value_name = "DURATION", requires = "reason")]
        duration: Option<String>,
        /// Why (required with --for), kept for the access review.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant.
    Revoke {
        role: String,
        #[command(flatten)]
        holder: HolderArgs,
        #[arg(long)]
        org: Option<String>,
    },
    /// The access review: who holds which role, where, since and until when, why, granted by
    /// whom, last used when.
    Review {
        #[arg(long)]
        json: bool,
    },
    /// The catalogue of permissions.
    Permissions {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("holder").required(true).args(["user", "client"])))]
pub struct HolderArgs {
    /// A user, by username.
    #[arg(long)]
    user: Option<String>,
    /// A client acting as a service account, by client_id.
    #[arg(long)]
    client: Option<String>,
}

impl HolderArgs {
    fn name(&self) -> HolderName<'_> {
        match (&self.user, &self.client) {
            (Some(u), _) => HolderName::User(u),
            (None, Some(c)) => HolderName::Client(c),
            // clap requires exactly one of them.
            (None, None) => HolderName::User(""),
        }
    }
}

#[derive(Serialize)]
struct PermissionView {
    name: &'static str,
    description: &'static str,
    read_only: bool,
    global_only: bool,
}

fn or_dash(s: Option<String>) -> String {
    s.unwrap_or_else(|| "-".into())
}

fn time_or_dash(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), crate::time::format_utc)
}

pub async fn run(cmd: RoleCommand, settings: &Settings) -> Result<(), CliError> {
    if let RoleCommand::Permissions { json } = cmd {
        // The catalogue needs no database.
        let list: Vec<PermissionView> = Permission::ALL
            .into_iter()
            .map(|p| PermissionView {
                name: p.name(),
                description: p.description(),
                read_only: p.is_read_only(),
                global_only: p.is_global_only(),
            })
            .collect();
        if json {
            return print_json(&list);
        }
        let rows: Vec<Vec<String>> = list
            .into_iter()
            .map(|p| vec![p.name.into(), p.description.into()])
            .collect();
        print_table(&["PERMISSION", "ALLOWS"], &rows);
        return Ok(());
    }
    let now = crate::time::now();
    // Arguments are checked before the database is opened: a refusal writes nothing.
    let expires_at = match &cmd {
        RoleCommand::Grant {
            duration: Some(d), ..
        } => {
            let d = duration::parse(d).map_err(|e| CliError::Usage(format!("--for: {e}")))?;
            Some(now.saturating_add(crate::time::secs(d.as_secs())))
        }
        _ => None,
    };
    let store = open_store(settings)?;
    match cmd {
        RoleCommand::Add {
            name,
            org,
            parent,
            permissions,
            description,
            json,
        } => {
            let spec = RoleSpec {
                name,
                org,
                parent,
                permissions,
                description,
            };
            let role = store
                .run(move |c| roles::create(c, &spec, &Actor::Cli, now))
                .await?;
            if json {
                return print_json(&role);
            }
            println!("created role {} (id {})", role.name, role.id);
        }
        RoleCommand::Update {
            name,
            org,
            parent,
            no_parent,
            permissions,
            description,
            json,
        } => {
            let change = RoleChange {
                parent: if no_parent {
                    Some(None)
                } else {
                    parent.map(Some)
                },
                permissions: (!permissions.is_empty()).then_some(permissions),
                description,
            };
            if change.parent.is_none()
                && change.permissions.is_none()
                && change.description.is_none()
            {
                return Err(CliError::Usage(
                    "nothing to change: give --parent, --no-parent, --permission or --description"
                        .into(),
                ));
            }
            let role = store
                .run(move |c| roles::update(c, &name, org.as_deref(), &change, &Actor::Cli, now))
                .await?;
            if json {
                return print_json(&role);
            }
            println!("updated role {}", role.name);
        }
        RoleCommand::List { org, json } => {
            let list = store.run(move |c| roles::list(c, org.as_deref())).await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .into_iter()
                .map(|r| {
                    vec![
                        r.name,
                        if r.builtin { "built-in" } else { "custom" }.into(),
                        or_dash(r.parent),
                        r.effective_permissions.join(","),
                    ]
                })
                .collect();
            print_table(&["NAME", "KIND", "PARENT", "PERMISSIONS"], &rows);
        }
        RoleCommand::Delete { name, org } => {
            let shown = name.clone();
            store
                .run(move |c| roles::delete(c, &name, org.as_deref(), &Actor::Cli))
                .await?;
            println!("deleted role {shown}");
        }
        RoleCommand::Grant {
            role,
            holder,
            org,
            reason,
            json,
            ..
        } => {
            let granted = store
                .run(move |c| {
                    let spec = GrantSpec {
                        role: &role,
                        holder: holder.name(),
                        org: org.as_deref(),
                        expires_at,
                        reason: reason.as_deref(),
                    };
                    roles::grant(c, &spec, &Actor::Cli, now)
                })
                .await?;
            if json {
                return print_json(&granted);
            }
            let verb = if granted.created {
                "granted"
            } else {
                "renewed"
            };
            match granted.expires_at {
                Some(t) => println!("{verb} until {}", crate::time::format_utc(t)),
                None => println!("{verb} until revoked"),
            }
        }
        RoleCommand::Revoke { role, holder, org } => {
            store
                .run(move |c| roles::revoke(c, &role, holder.name(), org.as_deref(), &Actor::Cli))
                .await?;
            println!("revoked");
        }
        RoleCommand::Review { json } => {
            let list = store.run(move |c| roles::review(c, now)).await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .into_iter()
                .map(|e| {
                    vec![
                        format!("{}:{}", e.holder_type, e.holder),
                        e.role,
                        e.scope,
                        crate::time::format_utc(e.since),
                        if e.active {
                            time_or_dash(e.until)
                        } else {
                            "expired".into()
                        },
                        or_dash(e.reason),
                        or_dash(e.granted_by),
                        time_or_dash(e.last_used),
                    ]
                })
                .collect();
            print_table(
                &[
                    "HOLDER",
                    "ROLE",
                    "SCOPE",
                    "SINCE",
                    "UNTIL",
                    "REASON",
                    "GRANTED BY",
                    "LAST USED",
                ],
                &rows,
            );
        }
        RoleCommand::Permissions { .. } => {}
    }
    Ok(())
}
