//! `portcullis client ...`

use clap::Subcommand;
use serde::Serialize;

use super::{print_json, print_table, CliError};
use crate::audit::Actor;
use crate::clients::{self, AddressPolicy, NewClient};
use crate::config::Settings;
use crate::startup::open_store;
use crate::store::clients::Client;

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and, for confidential clients, the secret
    /// (shown this once: only its hash is stored).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (browser or native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        #[arg(long = "grant-type", value_name = "GRANT",
              value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
        grant_types: Vec<String>,
        #[arg(long, value_name = "METHOD",
              value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])]
        auth_method: Option<String>,
        /// First-party client: users are not asked for consent.
        #[arg(long)]
        skip_consent: bool,
        /// A scope the client may request (repeatable); default: openid profile email
        /// address phone offline_access for sign-in clients, none for client_credentials-only clients.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// ID token signing algorithm.
        #[arg(long, value_name = "ALG", value_parser = ["RS256", "ES256"])]
        id_token_alg: Option<String>,
        /// Pairwise subject identifiers: each client (sector) sees a different `sub`.
        #[arg(long)]
        pairwise: bool,
        /// Seconds a rotated refresh token may be retried (1-60; confidential clients).
        #[arg(long, default_value_t = 0, value_name = "SECS")]
        refresh_grace_secs: i64,
        /// May introspect tokens of every client (for resource servers).
        #[arg(long)]
        introspect_any: bool,
        /// Every sign-in for this client needs a second factor (TOTP or passkey).
        #[arg(long)]
        require_mfa: bool,
        /// A file with the client's public keys (JWK Set), for --auth-method private_key_jwt.
        #[arg(long, value_name = "PATH")]
        jwks_file: Option<std::path::PathBuf>,
        /// Where to fetch the client's public keys (https), for --auth-method private_key_jwt.
        #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// Which scopes' claims also go into the ID token (they always go to userinfo):
        /// email (default), all, none, or a comma-separated list of profile, email,
        /// address, phone.
        #[arg(long, value_name = "SCOPES")]
        id_token_claims: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a client.
    Remove { client_id: String },
}

#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    name: &'a str,
    public: bool,
    token_endpoint_auth_method: &'a str,
    grant_types: &'a [String],
    redirect_uris: &'a [String],
    post_logout_redirect_uris: &'a [String],
    allowed_scopes: &'a [String],
    skip_consent: bool,
    id_token_signed_response_alg: &'a str,
    subject_type: &'a str,
    refresh_grace_secs: i64,
    may_introspect_any: bool,
    require_mfa: bool,
    id_token_claims: &'a str,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
}

impl<'a> ClientView<'a> {
    fn new(c: &'a Client, secret: Option<&'a str>) -> Self {
        Self {
            client_id: &c.client_id,
            name: &c.name,
            public: c.is_public,
            token_endpoint_auth_method: &c.token_endpoint_auth_method,
            grant_types: &c.grant_types,
            redirect_uris: &c.redirect_uris,
            post_logout_redirect_uris: &c.post_logout_redirect_uris,
            allowed_scopes: &c.allowed_scopes,
            skip_consent: c.skip_consent,
            id_token_signed_response_alg: &c.id_token_signed_response_alg,
            subject_type: &c.subject_type,
            refresh_grace_secs: c.refresh_grace_secs,
            may_introspect_any: c.may_introspect_any,
            require_mfa: c.require_mfa,
            id_token_claims: &c.id_token_claims,
            created_at: c.created_at,
            client_secret: secret,
        }
    }
}

pub async fn run(cmd: ClientCommand, settings: &Settings) -> Result<(), CliError> {
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            grant_types,
            auth_method,
            skip_consent,
            scopes,
            id_token_alg,
            pairwise,
            refresh_grace_secs,
            introspect_any,
            require_mfa,
            jwks_file,
            jwks_uri,
            id_token_claims,
            json,
        } => {
            let jwks = jwks_file
                .map(|path| {
                    std::fs::read_to_string(&path).map_err(|e| {
                        CliError::Usage(format!("cannot read {}: {e}", path.display()))
                    })
                })
                .transpose()?;
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                auth_method,
                public,
                skip_consent,
                scopes,
                id_token_alg,
                pairwise,
                refresh_grace_secs,
                introspect_any,
                require_mfa,
                jwks,
                jwks_uri,
                id_token_claims,
            };
            let store = open_store(settings)?;
            let policy = AddressPolicy::from_settings(&settings.oauth);
            let registered = clients::register_with(&store, new, Actor::Cli, false, policy).await?;
            let secret = registered.secret.as_ref().map(|s| s.expose());
            if json {
                return print_json(&ClientView::new(&registered.client, secret));
            }
            println!("client_id:     {}", registered.client.client_id);
            match secret {
                Some(secret) => {
                    println!("client_secret: {secret}");
                    println!("Store the secret now: it is not shown again.");
                }
                None => println!("public client: no secret; use PKCE (S256)"),
            }
            Ok(())
        }
        ClientCommand::List { json } => {
            let store = open_store(settings)?;
            let list = clients::list(&store).await?;
            if json {
                let views: Vec<ClientView<'_>> =
                    list.iter().map(|c| ClientView::new(c, None)).collect();
                return print_json(&views);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    vec![
                        c.client_id.clone(),
                        c.name.clone(),
                        if c.is_public {
                            "public"
                        } else {
                            "confidential"
                        }
                        .into(),
                        c.grant_types.join(","),
                        c.redirect_uris.join(" "),
                    ]
                })
                .collect();
            print_table(
                &["CLIENT_ID", "NAME", "TYPE", "GRANTS", "REDIRECT_URIS"],
                &rows,
            );
            Ok(())
        }
        ClientCommand::Remove { client_id } => {
            let store = open_store(settings)?;
            clients::remove(&store, &client_id, Actor::Cli).await?;
            println!("removed client {client_id}");
            Ok(())
        }
    }
}
