//! The open-file limit of `portcullis serve`. Every client connection, database file and
//! socket is an open file; the usual soft limit of 1,024 would stop the whole service
//! ("Too many open files") long before `server.max_connections`, so the soft limit is
//! raised to the hard limit (the most an unprivileged process may take) at start-up.

use rlimit::Resource;

/// Raises the soft limit on open files to the hard limit and logs both values; a failure
/// is logged and the server starts with the limit it has (the connection caps are fitted
/// to whatever limit is in force).
pub fn raise_to_hard_limit() {
    let (before, hard) = match rlimit::getrlimit(Resource::NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return;
        }
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(after) if after == before => tracing::info!(
            soft = before,
            hard,
            "open-file limit (RLIMIT_NOFILE) already at the hard limit"
        ),
        Ok(after) => tracing::info!(
            soft_before = before,
            soft_after = after,
            hard,
            "open-file limit (RLIMIT_NOFILE) raised to the hard limit"
        ),
        Err(e) => tracing::warn!(
            soft = before,
            hard,
            error = %e,
            "cannot raise the open-file limit (RLIMIT_NOFILE)"
        ),
    }
}
