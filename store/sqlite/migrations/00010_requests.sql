-- Data subject requests. No personal data in the clear: the subject is a
-- reference, the identities are sealed with the subject's key, the result
-- is the PII-free summary or certificate.

-- +goose Up
CREATE TABLE requests (
    id           TEXT    NOT NULL PRIMARY KEY,
    type         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    subject_ref  BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    identities   BLOB,
    actor        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER,
    result       TEXT,
    export       TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX requests_created ON requests (created_at DESC, id);
CREATE INDEX requests_subject ON requests (subject_ref);

-- +goose Down
DROP TABLE requests;
