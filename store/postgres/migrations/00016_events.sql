-- Events for subscribers (package events). Consent changes are read from
-- the audit log itself; this table holds the events that carry more: a
-- request's outcome, Art. 19 notices. data is PII-free JSON; identities
-- are sealed with the server's event key and dropped once delivered.
-- event_subscriptions is each subscriber's delivery state: its cursor in
-- the audit log and how its retries stand.

-- +goose Up
CREATE TABLE events (
    id          text        NOT NULL PRIMARY KEY,
    type        text        NOT NULL,
    subject_ref bytea       CHECK (subject_ref IS NULL OR length(subject_ref) = 32),
    recipient   text        NOT NULL DEFAULT '',
    seq         bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    data        bytea       NOT NULL,
    identities  bytea
);
CREATE INDEX events_sealed ON events (seq) WHERE identities IS NOT NULL;

CREATE TABLE event_subscriptions (
    name              text        NOT NULL PRIMARY KEY,
    next_seq          bigint      NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    last_error        text        NOT NULL DEFAULT '',
    delivered         bigint      NOT NULL DEFAULT 0,
    last_delivered_at timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    lease_until       timestamptz
);

-- +goose Down
DROP TABLE event_subscriptions;
DROP TABLE events;
