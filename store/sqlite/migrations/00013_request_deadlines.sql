-- The legal deadline of each data subject request (package deadline).

-- +goose Up
ALTER TABLE requests ADD COLUMN jurisdiction TEXT NOT NULL DEFAULT 'gdpr';
ALTER TABLE requests ADD COLUMN due_at INTEGER;
ALTER TABLE requests ADD COLUMN extended_due_at INTEGER;
CREATE INDEX requests_due ON requests (due_at) WHERE completed_at IS NULL;

-- +goose Down
DROP INDEX requests_due;
ALTER TABLE requests DROP COLUMN extended_due_at;
ALTER TABLE requests DROP COLUMN due_at;
ALTER TABLE requests DROP COLUMN jurisdiction;
