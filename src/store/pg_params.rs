//! libpq connection parameters that bound every Postgres operation, merged into the
//! operator's URL without overriding anything set there.
//!
//! A server that stops answering (network partition, frozen host) would otherwise keep a
//! query waiting for as long as it stays silent. Server side, `statement_timeout` and
//! `lock_timeout` (sent as `options=-c ...`) end a statement that runs or waits too long;
//! client side, TCP keepalives and `tcp_user_timeout` make the kernel drop a connection
//! whose peer has gone, and `connect_timeout` bounds opening one. None of these can end a
//! wait on a host that still acknowledges packets but never answers; `Store::run`'s
//! deadline covers that.
//!
//! libpq decodes only `%XX` escapes in URI query values (a `+` stays a `+`), so values are
//! written and read here with percent-encoding alone.

use std::time::Duration;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Seconds of silence before the first keepalive probe, seconds between probes, and probes
/// lost before the kernel closes the connection: a dead peer is noticed within ~25 s.
const KEEPALIVES_IDLE_SECS: u64 = 10;
const KEEPALIVES_INTERVAL_SECS: u64 = 5;
const KEEPALIVES_COUNT: u64 = 3;
/// Longest time sent data may stay unacknowledged before the kernel closes the connection.
const TCP_USER_TIMEOUT_MS: u64 = 30_000;

/// Characters escaped in a query value: all but unreserved ones.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `url` with the bounding parameters added where the operator has not set them.
/// A `statement_timeout` of zero adds no `options` (PgBouncer, for one, refuses that
/// startup parameter), leaving the server's own settings in force.
pub fn with_bounds(url: &str, connect_timeout: Duration, statement_timeout: Duration) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let has = |pairs: &[(String, String)], key: &str| pairs.iter().any(|(k, _)| k == key);
    // libpq's minimum is 2 s; a smaller value would be raised anyway.
    let defaults = [
        ("connect_timeout", connect_timeout.as_secs().max(2)),
        ("keepalives", 1),
        ("keepalives_idle", KEEPALIVES_IDLE_SECS),
        ("keepalives_interval", KEEPALIVES_INTERVAL_SECS),
        ("keepalives_count", KEEPALIVES_COUNT),
        ("tcp_user_timeout", TCP_USER_TIMEOUT_MS),
    ];
    for (key, value) in defaults {
        if !has(&pairs, key) {
            pairs.push((key.to_owned(), value.to_string()));
        }
    }
    let ms = statement_timeout.as_millis();
    if ms > 0 {
        let mut wanted = Vec::new();
        let current = pairs
            .iter()
            .find(|(k, _)| k == "options")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for setting in ["statement_timeout", "lock_timeout"] {
            if !current.contains(setting) {
                wanted.push(format!("-c {setting}={ms}"));
            }
        }
        if !wanted.is_empty() {
            let added = wanted.join(" ");
            match pairs.iter_mut().find(|(k, _)| k == "options") {
                Some((_, v)) if !v.trim().is_empty() => *v = format!("{} {added}", v.trim_end()),
                Some((_, v)) => *v = added,
                None => pairs.push(("options".to_owned(), added)),
            }
        }
    }
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut out = format!("{base}?{query}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(url: &str) -> Vec<(String, String)> {
        let query = url.split_once('?').unwrap().1;
        query
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (decode(k), decode(v))
            })
            .collect()
    }

    fn get<'a>(p: &'a [(String, String)], key: &str) -> Vec<&'a str> {
        p.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn a_bare_url_gets_every_bound() {
        let url = with_bounds(
            "postgres://u:p%40ss@db.internal:5432/portcullis",
            Duration::from_secs(5),
            Duration::from_millis(4000),
        );
        assert!(url.starts_with("postgres://u:p%40ss@db.internal:5432/portcullis?"));
        let p = params(&url);
        assert_eq!(get(&p, "connect_timeout"), ["5"]);
        assert_eq!(get(&p, "keepalives"), ["1"]);
        assert_eq!(get(&p, "keepalives_idle"), ["10"]);
        assert_eq!(get(&p, "keepalives_interval"), ["5"]);
        assert_eq!(get(&p, "keepalives_count"), ["3"]);
        assert_eq!(get(&p, "tcp_user_timeout"), ["30000"]);
        assert_eq!(
            get(&p, "options"),
            ["-c statement_timeout=4000 -c lock_timeout=4000"]
        );
        // Spaces are %20 (libpq does not read '+' as a space).
        assert!(
            url.contains("options=-c%20statement_timeout%3D4000"),
            "{url}"
        );
    }

    #[test]
    fn what_the_operator_set_is_kept() {
        let url = with_bounds(
            "postgresql://u@h/db?sslmode=require&keepalives_idle=60&connect_timeout=20\
             &options=-c%20lock_timeout%3D100%20-c%20search_path%3Dapp",
            Duration::from_secs(5),
            Duration::from_millis(4000),
        );
        let p = params(&url);
        assert_eq!(get(&p, "sslmode"), ["require"]);
        assert_eq!(get(&p, "keepalives_idle"), ["60"]);
        assert_eq!(get(&p, "connect_timeout"), ["20"]);
        assert_eq!(get(&p, "keepalives_interval"), ["5"]);
        assert_eq!(
            get(&p, "options"),
            ["-c lock_timeout=100 -c search_path=app -c statement_timeout=4000"]
        );
    }

    #[test]
    fn a_zero_statement_timeout_adds_no_options() {
        let url = with_bounds("postgres://u@h/db", Duration::from_secs(1), Duration::ZERO);
        let p = params(&url);
        assert!(get(&p, "options").is_empty(), "{url}");
        // libpq's minimum connect_timeout.
        assert_eq!(get(&p, "connect_timeout"), ["2"]);
        let kept = with_bounds(
            "postgres://u@h/db?options=-c%20statement_timeout%3D0",
            Duration::from_secs(5),
            Duration::from_secs(3),
        );
        assert_eq!(
            get(&params(&kept), "options"),
            ["-c statement_timeout=0 -c lock_timeout=3000"]
        );
    }

    #[test]
    fn the_merged_url_is_one_libpq_accepts() {
        let Ok(base) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL") else {
            return;
        };
        if base.is_empty() {
            return;
        }
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let url = with_bounds(&base, Duration::from_secs(5), Duration::from_millis(1234));
        crate::store::init_tls_library();
        let mut conn = match PgConnection::establish(&url) {
            Ok(c) => c,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("Postgres unreachable: {e}")
            }
            Err(_) => return,
        };
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        for (name, expected) in [("statement_timeout", "1234ms"), ("lock_timeout", "1234ms")] {
            let s: Setting =
                diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
                    .get_result(&mut conn)
                    .unwrap();
            assert_eq!(s.value, expected, "{name}");
        }
    }
}
