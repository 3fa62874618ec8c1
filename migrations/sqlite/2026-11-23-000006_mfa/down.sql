ALTER TABLE one_time_tokens DROP COLUMN payload;
ALTER TABLE clients DROP COLUMN require_mfa;
DROP TABLE known_devices;
DROP TABLE login_challenges;
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
DROP TABLE recovery_codes;
DROP TABLE totp_credentials;
