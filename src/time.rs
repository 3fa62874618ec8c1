//! Wall-clock time as UTC unix seconds: the portable form stored in both backends.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `secs` as an i64 offset, saturating instead of wrapping on absurd config values.
pub fn secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}
