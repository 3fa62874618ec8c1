-- Fixed-window counters of unauthenticated work (mail sent to an address, requests from a
-- client address, passkey ceremonies started). `key` is "purpose:subject", e.g.
-- "mail:alice@example.com" or "reset-src:192.0.2.1"; a row is reused when its window ends.
CREATE TABLE rate_counters (
    key          TEXT PRIMARY KEY,
    hits         INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX rate_counters_window_start ON rate_counters (window_start);

-- The client address (IPv6 as its /64) of a pending authorization request made before
-- anyone signed in; NULL once a user has signed in for it. Caps pending requests per source.
ALTER TABLE authorization_requests ADD COLUMN source TEXT;
CREATE INDEX authorization_requests_source ON authorization_requests (source, created_at);

-- Finds expired self-registrations for the purge.
CREATE INDEX users_signup_pending ON users (signup_pending, created_at);
