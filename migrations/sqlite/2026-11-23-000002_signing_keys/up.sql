-- Signing keys. The private key is envelope-encrypted (crypto/envelope.rs) under a
-- key-encryption key that never enters the database. A key is in the JWKS from
-- publish_at until remove_at, and signs from activate_at until a newer key of the same
-- algorithm activates. (alg, generation) is unique so that instances racing to rotate
-- create one key, not two.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    publish_at  BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    remove_at   BIGINT,
    UNIQUE (alg, generation)
);
