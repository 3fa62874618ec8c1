DROP INDEX users_signup_pending;
DROP INDEX authorization_requests_source;
ALTER TABLE authorization_requests DROP COLUMN source;
DROP INDEX rate_counters_window_start;
DROP TABLE rate_counters;
