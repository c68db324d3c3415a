-- The durable e-mail outbox. No personal data in the clear: the recipient
-- and the template data are sealed with the subject's key; last_error is
-- PII-free. lease_until is when a claimed message may be claimed again.

-- +goose Up
CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    subject_ref     BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    template        TEXT    NOT NULL,
    sealed          BLOB    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_created ON outbox (created_at DESC, id);

-- +goose Down
DROP TABLE outbox;
