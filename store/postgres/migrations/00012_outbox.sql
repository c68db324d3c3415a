-- The durable e-mail outbox. No personal data in the clear: the recipient
-- and the template data are sealed with the subject's key; last_error is
-- PII-free. lease_until is when a claimed message may be claimed again.

-- +goose Up
CREATE TABLE outbox (
    id              text        NOT NULL PRIMARY KEY,
    subject_ref     bytea       NOT NULL CHECK (length(subject_ref) = 32),
    template        text        NOT NULL,
    sealed          bytea       NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    last_error      text        NOT NULL DEFAULT '',
    lease_until     timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_created ON outbox (created_at DESC, id);

-- +goose Down
DROP TABLE outbox;
