ALTER TABLE login_challenges DROP COLUMN auth_time;
DROP TABLE login_sources;
