-- Standard claims (OIDC Core 5.1). The full name stays in display_name (released as
-- "name"); address is a JSON object of the structured members (5.1.1); every value is
-- validated by accounts::profile before it is written.
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN middle_name TEXT;
ALTER TABLE users ADD COLUMN nickname TEXT;
ALTER TABLE users ADD COLUMN preferred_username TEXT;
ALTER TABLE users ADD COLUMN profile TEXT;
ALTER TABLE users ADD COLUMN picture TEXT;
ALTER TABLE users ADD COLUMN website TEXT;
ALTER TABLE users ADD COLUMN gender TEXT;
ALTER TABLE users ADD COLUMN birthdate TEXT;
ALTER TABLE users ADD COLUMN zoneinfo TEXT;
ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE users ADD COLUMN phone_number TEXT;
ALTER TABLE users ADD COLUMN phone_number_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN address TEXT;

-- Which scopes' claims also go into the ID token: "email" (default), "all", "none", or
-- a space-separated list of scopes.
ALTER TABLE clients ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT 'email';

-- Clients on the old default scope list get the new default (address and phone added);
-- users still consent to each scope. A list chosen by hand is left alone.
UPDATE clients SET allowed_scopes = '["openid","profile","email","address","phone","offline_access"]'
WHERE allowed_scopes = '["openid","profile","email","offline_access"]';
