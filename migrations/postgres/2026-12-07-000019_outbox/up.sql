-- The mail outbox: a notice is written here in the transaction of the change it announces,
-- and the mail worker of any instance sends it and deletes the row. Bodies can hold
-- one-time links (password reset, sign-up and email-change confirmation): a row lives only
-- until its mail is sent; one that kept failing loses its bodies when the worker gives up and
-- is kept (recipient, subject, last error: for the operator to see why) until it is purged.
CREATE TABLE mail_outbox (
    id              BIGSERIAL PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- Claims so far (a claim is counted when it is taken, so a mail that crashes its
    -- worker still runs out of attempts).
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- The claim of the worker sending it now, and until when; a claim past its time is
    -- free to take again (its worker died).
    claimed_by      TEXT,
    claimed_until   BIGINT,
    -- Set when the worker gave up; such rows are never sent again.
    failed_at       BIGINT,
    -- The transport's last complaint, without the message.
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;
