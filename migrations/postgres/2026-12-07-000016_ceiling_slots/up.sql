-- The account-wide ceiling of the lock-out (lockout.account_ceiling) admits attempts from
-- sources the account does not know one slot at a time: the unix time in milliseconds
-- before which no further such attempt is checked. Taken with a conditional UPDATE, so
-- however many sources guess at once, at most one attempt is checked per slot.
ALTER TABLE users ADD COLUMN ceiling_next_attempt_ms BIGINT;
