ALTER TABLE users DROP COLUMN ceiling_next_attempt_ms;
