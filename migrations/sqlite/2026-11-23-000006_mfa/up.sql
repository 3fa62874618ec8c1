-- Second factors, multi-step sign-in, known devices and email change.

-- One authenticator app per user. The secret is envelope-encrypted under the KEK with the
-- user id as context; enrolment is pending until the first valid code (confirmed_at NULL),
-- and a pending secret belongs to the sign-in challenge or session that started it
-- (pending_for: the SHA-256 of its token), so no other browser is ever shown it.
-- last_step is the last accepted TOTP time step: a code for it or an earlier step is refused.
CREATE TABLE totp_credentials (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc   TEXT NOT NULL,
    pending_for  TEXT,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 only; used_at marks a spent code.
CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- WebAuthn credentials. id is the base64url credential id; credential is webauthn-rs's
-- serialized Passkey (public key and signature counter, no secret).
CREATE TABLE passkeys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    credential   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- State kept between the begin and finish steps of a WebAuthn ceremony, keyed by the
-- SHA-256 of a random id held by the browser; single use.
CREATE TABLE webauthn_ceremonies (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A sign-in in progress: the first factor passed, the second is still due. The browser
-- holds a random token; only its SHA-256 is here. amr lists the methods passed so far.
CREATE TABLE login_challenges (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr        TEXT NOT NULL,
    return_to  TEXT NOT NULL,
    request    TEXT,
    failures   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Browsers a user has signed in from (SHA-256 of a long-lived random device cookie), so
-- that a sign-in from a new one can be announced by email.
CREATE TABLE known_devices (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);

-- A client can demand a second factor for every sign-in made for it.
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT 0;

-- Data bound to a one-time token (the new address of an email change).
ALTER TABLE one_time_tokens ADD COLUMN payload TEXT;
