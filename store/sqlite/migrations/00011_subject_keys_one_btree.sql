-- A subject's keys live in one b-tree. The partial unique index on active
-- keys cost every new subject a second random page write (and its page
-- splits) in the transaction of its first consent. SQLite runs one write
-- transaction at a time, across processes too (BEGIN IMMEDIATE), and every
-- statement that creates a key checks, in its own transaction, that the
-- subject has no active key and takes the generation after the newest: the
-- store keeps "at most one active key, the newest generation" without the
-- index. (PostgreSQL, whose writers do run concurrently, keeps it.)

-- +goose Up
DROP INDEX subject_keys_active;

-- +goose Down
CREATE UNIQUE INDEX subject_keys_active ON subject_keys (subject_ref) WHERE shredded_at IS NULL;
