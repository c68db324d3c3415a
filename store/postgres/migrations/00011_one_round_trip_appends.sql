-- A store that knows the audit head from its own last consent append sends
-- the next one in a single round trip, BEGIN to COMMIT. Two checks that
-- the client made between round trips move into the database, as functions
-- that raise (so that nothing of the transaction is committed):
--
-- lethe_lock_audit_head locks the head, as every append does first, and
-- raises serialization_failure when it is not the expected one, because
-- another node or process appended meanwhile; the store then reads the
-- head and tries again.
--
-- lethe_add_subject_key stores a new subject's key with its first consent
-- events, as the generation after the newest, and raises unique_violation
-- when the subject has an active key or that generation already (another
-- caller created the key first).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION lethe_lock_audit_head(expect_size bigint, expect_hash bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cur_size bigint;
    cur_hash bytea;
BEGIN
    SELECT size, last_hash INTO cur_size, cur_hash FROM audit_head WHERE id = 1 FOR UPDATE;
    IF cur_size IS DISTINCT FROM expect_size OR cur_hash IS DISTINCT FROM expect_hash THEN
        RAISE EXCEPTION 'the audit head moved' USING ERRCODE = 'serialization_failure';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION lethe_add_subject_key(ref bytea, gen integer, material bytea, created timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at)
    SELECT ref, gen, material, created
    WHERE (SELECT COALESCE(MAX(generation), 0) FROM subject_keys WHERE subject_ref = ref) = gen - 1
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the subject has an active data key or one of generation % already', gen
            USING ERRCODE = 'unique_violation';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lethe_add_subject_key(bytea, integer, bytea, timestamptz);
DROP FUNCTION lethe_lock_audit_head(bigint, bytea);
