-- Data subject requests. No personal data in the clear: the subject is a
-- reference, the identities are sealed with the subject's key, the result
-- is the PII-free summary or certificate.

-- +goose Up
CREATE TABLE requests (
    id           text        NOT NULL PRIMARY KEY,
    type         text        NOT NULL,
    status       text        NOT NULL,
    subject_ref  bytea       NOT NULL CHECK (length(subject_ref) = 32),
    identities   bytea,
    actor        text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    completed_at timestamptz,
    result       jsonb,
    export       text        NOT NULL DEFAULT '',
    error        text        NOT NULL DEFAULT ''
);
CREATE INDEX requests_created ON requests (created_at DESC, id);
CREATE INDEX requests_subject ON requests (subject_ref);

-- +goose Down
DROP TABLE requests;
