-- The request lifecycle (package dsr): verification, rejection and
-- cancellation with their reason, the deadline's extension, sealed
-- rectification values, the durable checkpoint, retries and the worker's
-- lease. Requests made before this migration were created verified.

-- +goose Up
ALTER TABLE requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'api';
ALTER TABLE requests ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN verified_at INTEGER;
ALTER TABLE requests ADD COLUMN extended_at INTEGER;
ALTER TABLE requests ADD COLUMN extension_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN sealed_values BLOB;
ALTER TABLE requests ADD COLUMN progress TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE requests ADD COLUMN lease TEXT;
ALTER TABLE requests ADD COLUMN lease_until INTEGER;
UPDATE requests SET verified_at = created_at;
CREATE INDEX requests_waiting ON requests (created_at) WHERE status IN ('verified', 'running');
CREATE INDEX requests_finished ON requests (completed_at) WHERE completed_at IS NOT NULL;

-- +goose Down
DROP INDEX requests_finished;
DROP INDEX requests_waiting;
ALTER TABLE requests DROP COLUMN lease_until;
ALTER TABLE requests DROP COLUMN lease;
ALTER TABLE requests DROP COLUMN next_attempt_at;
ALTER TABLE requests DROP COLUMN attempts;
ALTER TABLE requests DROP COLUMN progress;
ALTER TABLE requests DROP COLUMN sealed_values;
ALTER TABLE requests DROP COLUMN extension_reason;
ALTER TABLE requests DROP COLUMN extended_at;
ALTER TABLE requests DROP COLUMN verified_at;
ALTER TABLE requests DROP COLUMN reason;
ALTER TABLE requests DROP COLUMN channel;
