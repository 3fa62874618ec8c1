-- Consents deleted on the way up are not restored: the user is simply asked again.
UPDATE clients SET allowed_scopes = '["openid","profile","email","offline_access"]'
WHERE allowed_scopes = '["openid","profile","email","address","phone","offline_access"]';
ALTER TABLE clients DROP COLUMN id_token_claims;
ALTER TABLE users DROP COLUMN address;
ALTER TABLE users DROP COLUMN phone_number_verified;
ALTER TABLE users DROP COLUMN phone_number;
ALTER TABLE users DROP COLUMN locale;
ALTER TABLE users DROP COLUMN zoneinfo;
ALTER TABLE users DROP COLUMN birthdate;
ALTER TABLE users DROP COLUMN gender;
ALTER TABLE users DROP COLUMN website;
ALTER TABLE users DROP COLUMN picture;
ALTER TABLE users DROP COLUMN profile;
ALTER TABLE users DROP COLUMN preferred_username;
ALTER TABLE users DROP COLUMN nickname;
ALTER TABLE users DROP COLUMN middle_name;
ALTER TABLE users DROP COLUMN family_name;
ALTER TABLE users DROP COLUMN given_name;
