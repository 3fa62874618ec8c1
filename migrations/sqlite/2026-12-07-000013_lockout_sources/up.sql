-- Sign-in failures per account AND per source (OWASP's device-cookie pattern): a source is a
-- browser the account has signed in from before ("dev:" + the SHA-256 of its device cookie,
-- as in known_devices) or else the client address ("ip:192.0.2.1", "ip:2001:db8:1:2::/64").
-- failures counts consecutive failures from that source, attempts in flight included (they
-- are reserved before the password is checked); locked_until is the source's lock for this
-- account only. users.failed_logins stays the account-wide count, which only slows.
CREATE TABLE login_sources (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, source)
);
CREATE INDEX login_sources_updated_at ON login_sources (updated_at);

-- Accounts no longer lock as a whole: a lock from before this change would otherwise
-- last without anything to lift it but `portcullis user unlock`.
UPDATE users SET locked_until = NULL;

-- A step-up (a second factor added to an existing session) keeps the session's time of
-- authentication: NULL for a sign-in whose first factor was just passed.
ALTER TABLE login_challenges ADD COLUMN auth_time BIGINT;
