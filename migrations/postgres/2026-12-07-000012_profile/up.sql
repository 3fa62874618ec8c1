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

-- Existing clients keep their allowed scopes: an operator opts in to address and phone
-- (new clients get them by default).

-- Consent to "profile" was given when it meant name and username; it now releases
-- birthdate, gender, locale, picture and the rest, so a remembered consent that includes it
-- no longer counts and the user is asked again on the next authorization. Consents are
-- stored as a JSON array of scope names.
DELETE FROM consents WHERE scopes LIKE '%"profile"%';
