-- Failed sign-in attempts per client IP (per account, they live on users.failed_logins and
-- users.locked_until). `key` names the counter, e.g. "ip:192.0.2.1".
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT
);
