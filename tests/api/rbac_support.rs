//! Shared by the role and organization tests: the CLI run against a fresh database (either
//! backend), with the same database open for assertions.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use portcullis::admin::{effective_permissions, Grants, Holder, Scope};
use portcullis::store::audit::AuditRow;
use portcullis::store::schema;
use portcullis::store::{migrations, DatabaseUrl, DbConn, Store, StoreError};
use serde_json::Value;

use crate::helpers::TestDb;

pub(crate) struct Ops {
    url: String,
    pub(crate) store: Store,
    // Dropped last: the store's connections go before the database does.
    _db: TestDb,
}

/// Rows in every table an administrative command may write, to prove a refusal wrote nothing.
pub(crate) type Counts = [i64; 6];

impl Ops {
    pub(crate) fn new() -> Self {
        let (db, url) = TestDb::create();
        let store =
            Store::connect(DatabaseUrl::parse(&url).unwrap(), 2, Duration::from_secs(5)).unwrap();
        store.run_sync(migrations::run_pending).unwrap();
        Ops {
            url,
            store,
            _db: db,
        }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS__DATABASE__URL", &self.url)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run portcullis")
    }

    /// Runs a command that must succeed; its standard output.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("valid JSON on stdout")
    }

    /// Runs a command that must be refused with exit code 2, a message containing `needle`,
    /// no panic, and no change to any administrative table or the audit log.
    pub(crate) fn refused(&self, args: &[&str], needle: &str) {
        let before = self.counts();
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.to_lowercase().contains(&needle.to_lowercase()),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        assert_eq!(self.counts(), before, "{args:?} changed something");
    }

    pub(crate) fn db<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> T {
        self.store.run_sync(f).expect("database query")
    }

    pub(crate) fn exec(&self, sql: &str) {
        self.db(|c| {
            match c {
                DbConn::Sqlite(c) => c.batch_execute(sql)?,
                DbConn::Pg(c) => c.batch_execute(sql)?,
            }
            Ok(())
        })
    }

    pub(crate) fn counts(&self) -> Counts {
        self.db(|c| {
            Ok([
                schema::organizations::table.count().get_result(c)?,
                schema::org_members::table.count().get_result(c)?,
                schema::roles::table.count().get_result(c)?,
                schema::role_permissions::table.count().get_result(c)?,
                schema::role_assignments::table.count().get_result(c)?,
                schema::audit_events::table.count().get_result(c)?,
            ])
        })
    }

    /// Creates a user (without a password) through the CLI; its id.
    pub(crate) fn user(&self, name: &str) -> String {
        let email = format!("{name}@example.com");
        let created = self.json(&[
            "user",
            "add",
            "--username",
            name,
            "--email",
            &email,
            "--json",
        ]);
        created["id"].as_str().unwrap().to_owned()
    }

    /// Creates a client_credentials client (a service account) through the CLI; its id.
    pub(crate) fn service_client(&self, name: &str) -> String {
        let created = self.json(&[
            "client",
            "add",
            "--name",
            name,
            "--grant-type",
            "client_credentials",
            "--json",
        ]);
        created["client_id"].as_str().unwrap().to_owned()
    }

    pub(crate) fn org_id(&self, name: &str) -> String {
        let name = name.to_owned();
        self.db(move |c| {
            Ok(portcullis::store::orgs::find_by_name(c, &name)?
                .ok_or(StoreError::NotFound)?
                .id)
        })
    }

    /// What a holder may do now.
    pub(crate) fn grants(&self, holder: Holder<'_>) -> Grants {
        self.grants_at(holder, portcullis::time::now())
    }

    pub(crate) fn grants_at(&self, holder: Holder<'_>, now: i64) -> Grants {
        let (user, client) = match holder {
            Holder::User(u) => (Some(u.to_owned()), None),
            Holder::Client(c) => (None, Some(c.to_owned())),
        };
        self.db(move |c| {
            let holder = match (&user, &client) {
                (Some(u), _) => Holder::User(u),
                (None, Some(id)) => Holder::Client(id),
                (None, None) => unreachable!(),
            };
            effective_permissions(c, holder, Scope::All, now)
        })
    }

    /// The audit events with this action, oldest first.
    pub(crate) fn audit(&self, action: &str) -> Vec<AuditRow> {
        let action = action.to_owned();
        let mut rows = self.db(|c| portcullis::store::audit::recent(c, 10_000));
        rows.retain(|r| r.action == action);
        rows.reverse();
        rows
    }
}

/// The detail of an audit event as JSON.
pub(crate) fn detail(row: &AuditRow) -> Value {
    serde_json::from_str(&row.detail).unwrap()
}
