-- Foundation schema. Portable types only (TEXT ids, BIGINT unix seconds, BOOLEAN, TEXT JSON)
-- so that src/store/schema.rs describes this file and its SQLite twin alike.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT,
    display_name   TEXT,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    locked_until   BIGINT,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Roles form a tree (parent_id) so that RBAC with inheritance fits without a new table.
CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    parent_id   TEXT REFERENCES roles (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL
);

INSERT INTO roles (id, name, description, parent_id, created_at)
VALUES ('admin', 'admin', 'Full administrative access', NULL, 0);

CREATE TABLE user_roles (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    secret_hash                TEXT,
    name                       TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    is_public                  BOOLEAN NOT NULL,
    allowed_scopes             TEXT NOT NULL,
    skip_consent               BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

-- The cookie holds a random 256-bit token; only its SHA-256 is stored here.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    auth_time    BIGINT NOT NULL,
    amr          TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Single-use tokens sent out of band (setup link, later password reset and email
-- verification); stored as SHA-256 only.
CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX one_time_tokens_purpose ON one_time_tokens (purpose);

-- seq orders events (several can share a second); later migrations chain them with an HMAC.
CREATE TABLE audit_events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    occurred_at BIGINT NOT NULL,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    ip          TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
