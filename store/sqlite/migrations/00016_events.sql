-- Events for subscribers (package events). Consent changes are read from
-- the audit log itself; this table holds the events that carry more: a
-- request's outcome, Art. 19 notices. data is PII-free JSON; identities
-- are sealed with the server's event key and dropped once delivered.
-- event_subscriptions is each subscriber's delivery state: its cursor in
-- the audit log and how its retries stand.

-- +goose Up
CREATE TABLE events (
    id          TEXT    NOT NULL PRIMARY KEY,
    type        TEXT    NOT NULL,
    subject_ref BLOB    CHECK (subject_ref IS NULL OR length(subject_ref) = 32),
    recipient   TEXT    NOT NULL DEFAULT '',
    seq         INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    identities  BLOB
);
CREATE INDEX events_sealed ON events (seq) WHERE identities IS NOT NULL;

CREATE TABLE event_subscriptions (
    name              TEXT    NOT NULL PRIMARY KEY,
    next_seq          INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    last_error        TEXT    NOT NULL DEFAULT '',
    delivered         INTEGER NOT NULL DEFAULT 0,
    last_delivered_at INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    lease_until       INTEGER
);

-- +goose Down
DROP TABLE event_subscriptions;
DROP TABLE events;
