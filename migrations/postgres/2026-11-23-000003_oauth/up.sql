-- OAuth 2.0 / OpenID Connect state. Every secret (request ids, codes, refresh tokens,
-- registration tokens) is stored as SHA-256 only.

ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN refresh_grace_secs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN may_introspect_any BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

-- The `sid` claim: a public identifier of the browser session, distinct from its token.
ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';

-- Authorization requests waiting for the user to sign in and consent. The browser carries
-- a random id; the validated parameters stay here, so they cannot be tampered with.
CREATE TABLE authorization_requests (
    id_hash    TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    params     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expires_at ON authorization_requests (expires_at);

-- Remembered consent per user and client: the scopes granted so far.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A grant is one authorization of one client (by a user through a code, or by the client
-- itself). Every code, access token and refresh token belongs to a grant; revoking the
-- grant (code replay, refresh-token reuse) revokes all of them.
CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    claims     TEXT,
    auth_time  BIGINT,
    amr        TEXT NOT NULL,
    acr        TEXT,
    sid        TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_user_id ON grants (user_id);
CREATE INDEX grants_client_id ON grants (client_id);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

-- Issued JWT access tokens by jti, so that revocation reaches self-contained tokens.
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- Refresh tokens rotate on every use; a used one is kept (used_at) to detect reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);

-- jti values of client assertions (private_key_jwt) seen before they expire: single use.
CREATE TABLE used_jtis (
    jti_hash   TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
