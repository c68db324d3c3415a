-- The legal deadline of each data subject request (package deadline).

-- +goose Up
ALTER TABLE requests ADD COLUMN jurisdiction text NOT NULL DEFAULT 'gdpr';
ALTER TABLE requests ADD COLUMN due_at timestamptz;
ALTER TABLE requests ADD COLUMN extended_due_at timestamptz;
CREATE INDEX requests_due ON requests (due_at) WHERE completed_at IS NULL;

-- +goose Down
DROP INDEX requests_due;
ALTER TABLE requests DROP COLUMN extended_due_at, DROP COLUMN due_at, DROP COLUMN jurisdiction;
