-- The request lifecycle (package dsr): verification, rejection and
-- cancellation with their reason, the deadline's extension, sealed
-- rectification values, the durable checkpoint, retries and the worker's
-- lease. Requests made before this migration were created verified.

-- +goose Up
ALTER TABLE requests
    ADD COLUMN channel          text        NOT NULL DEFAULT 'api',
    ADD COLUMN reason           text        NOT NULL DEFAULT '',
    ADD COLUMN verified_at      timestamptz,
    ADD COLUMN extended_at      timestamptz,
    ADD COLUMN extension_reason text        NOT NULL DEFAULT '',
    ADD COLUMN sealed_values    bytea,
    ADD COLUMN progress         text        NOT NULL DEFAULT '',
    ADD COLUMN attempts         integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN lease            text,
    ADD COLUMN lease_until      timestamptz;
UPDATE requests SET verified_at = created_at;
CREATE INDEX requests_waiting ON requests (created_at) WHERE status IN ('verified', 'running');
CREATE INDEX requests_finished ON requests (completed_at) WHERE completed_at IS NOT NULL;

-- +goose Down
DROP INDEX requests_finished;
DROP INDEX requests_waiting;
ALTER TABLE requests
    DROP COLUMN lease_until, DROP COLUMN lease, DROP COLUMN next_attempt_at, DROP COLUMN attempts,
    DROP COLUMN progress, DROP COLUMN sealed_values, DROP COLUMN extension_reason, DROP COLUMN extended_at,
    DROP COLUMN verified_at, DROP COLUMN reason, DROP COLUMN channel;
