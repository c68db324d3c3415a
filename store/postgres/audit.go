package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// auditPage bounds how many entries AuditEntries holds in memory; fn runs
// between pages with no connection held, so it may call the store itself.
const auditPage = 512

// txConn is the connection an audited write's transaction is open on.
type txConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// batch pipelines a transaction's writes in one round trip, remembering
// which operation each statement is so that an error names it.
type batch struct {
	b   pgx.Batch
	ops []batchOp
}

type batchOp struct {
	op       string
	conflict string                        // message for a unique violation, if one is expected
	check    func(pgconn.CommandTag) error // optional check of the outcome
}

func (bt *batch) queue(op, conflictMsg string, check func(pgconn.CommandTag) error, sql string, args ...any) {
	bt.b.Queue(sql, args...)
	bt.ops = append(bt.ops, batchOp{op: op, conflict: conflictMsg, check: check})
}

func (bt *batch) send(ctx context.Context, tx txConn) error {
	if len(bt.ops) == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, &bt.b)
	for _, o := range bt.ops {
		ct, err := br.Exec()
		if err != nil {
			_ = br.Close()
			if o.conflict != "" {
				return conflict(o.op, o.conflict, err)
			}
			return translate(o.op, err)
		}
		if o.check != nil {
			if err := o.check(ct); err != nil {
				_ = br.Close()
				return err
			}
		}
	}
	return translate("send batch", br.Close())
}

// sqlLockHead reads the audit head and locks its row until the transaction
// ends: that lock is what serialises appends across every node. Writers
// that append audit records take it before touching any other row, so
// they always lock in the same order and cannot deadlock.
const sqlLockHead = `SELECT size, last_hash FROM audit_head WHERE id = 1 FOR UPDATE`

func scanHead(r pgx.Row) (lethe.AuditHead, error) {
	var (
		size int64
		last []byte
	)
	if err := r.Scan(&size, &last); err != nil {
		return lethe.AuditHead{}, err
	}
	h, err := hash32(last)
	if err != nil {
		return lethe.AuditHead{}, err
	}
	return lethe.AuditHead{Size: uint64(size), LastHash: h}, nil
}

// sealInto seals records after head (locked in tx, or to be locked by b)
// and queues the entries, their tree hashes and the new head into b. It
// returns the new head; the hashes it returns must be cached only once tx
// has committed.
func (s *Store) sealInto(ctx context.Context, tx txConn, b *batch, head lethe.AuditHead, records []lethe.AuditRecord) ([]lethe.AuditEntry, []lethe.AuditTreeHash, lethe.AuditHead, error) {
	read := func(indexes []int64) ([][32]byte, error) {
		out := make([][32]byte, len(indexes))
		var missing []int64
		for i, idx := range indexes {
			if h, ok := s.hashes.Get(idx); ok {
				out[i] = h
			} else {
				missing = append(missing, idx)
			}
		}
		if len(missing) == 0 {
			return out, nil
		}
		got, err := readHashes(ctx, tx, missing)
		if err != nil {
			return nil, err
		}
		for i, idx := range indexes {
			if h, ok := got[idx]; ok {
				out[i] = h
				// Committed before this transaction: safe to cache now.
				s.hashes.Add(idx, h)
			} else if _, cached := s.hashes.Get(idx); !cached {
				return nil, fmt.Errorf("audit tree hash %d is missing", idx)
			}
		}
		return out, nil
	}
	entries, hashes, next, err := audit.Seal(head, records, s.clock.Now(), read)
	if err != nil {
		return nil, nil, head, translate("seal audit records", err)
	}
	// One statement for all the entries of the transaction (a group of
	// appends may bring dozens): the server parses, plans and runs one.
	var (
		seqs                         = make([]int64, len(entries))
		times                        = make([]time.Time, len(entries))
		actors, actions, objects     = make([]string, len(entries)), make([]string, len(entries)), make([]string, len(entries))
		refs, payloads, prevs, leafs = make([][]byte, len(entries)), make([][]byte, len(entries)), make([][]byte, len(entries)), make([][]byte, len(entries))
		details                      = make([]*string, len(entries))
	)
	for i, e := range entries {
		if len(e.Details) > 0 {
			d, err := json.Marshal(e.Details)
			if err != nil {
				return nil, nil, head, fmt.Errorf("encode audit details: %w", err)
			}
			details[i] = nullString(d)
		}
		if !e.SubjectRef.IsZero() {
			refs[i] = e.SubjectRef[:]
		}
		seqs[i], times[i], actors[i], actions[i], objects[i] = int64(e.Seq), e.Time, e.Actor, e.Action, e.Object
		payloads[i], prevs[i], leafs[i] = nilIfEmpty(e.PayloadHash), e.PrevHash[:], e.Hash[:]
	}
	b.queue("append audit entries", "", nil, sqlEntriesInsert, seqs, times, actors, actions, refs, objects, details, payloads, prevs, leafs)
	if len(hashes) > 0 {
		idx := make([]int64, len(hashes))
		hs := make([][]byte, len(hashes))
		for i, h := range hashes {
			idx[i], hs[i] = h.Index, h.Hash[:]
		}
		b.queue("append audit tree hashes", "", nil,
			`INSERT INTO audit_tree_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, idx, hs)
	}
	b.queue("move audit head", "", func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() != 1 {
			// Cannot happen while appends hold the head lock; refuse rather
			// than fork the log.
			return fmt.Errorf("move audit head: head moved under its lock")
		}
		return nil
	}, `UPDATE audit_head SET size = $1, last_hash = $2 WHERE id = 1 AND size = $3`, int64(next.Size), next.LastHash[:], int64(head.Size))
	return entries, hashes, next, nil
}

// sqlEntriesInsert appends audit entries given as parallel arrays.
const sqlEntriesInsert = `INSERT INTO audit_entries
 (seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash)
 SELECT seq, time, actor, action, subject_ref, object, details::jsonb, payload_hash, prev_hash, hash
 FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::bytea[], $9::bytea[], $10::bytea[])
   AS u(seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash)`

func nullString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func readHashes(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, indexes []int64) (map[int64][32]byte, error) {
	rows, err := q.Query(ctx, `SELECT idx, hash FROM audit_tree_hashes WHERE idx = ANY($1)`, indexes)
	if err != nil {
		return nil, translate("read audit tree hashes", err)
	}
	defer rows.Close()
	out := make(map[int64][32]byte, len(indexes))
	for rows.Next() {
		var (
			idx int64
			b   []byte
		)
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, translate("read audit tree hashes", err)
		}
		h, err := hash32(b)
		if err != nil {
			return nil, fmt.Errorf("read audit tree hash %d: %w", idx, err)
		}
		out[idx] = h
	}
	if err := rows.Err(); err != nil {
		return nil, translate("read audit tree hashes", err)
	}
	return out, nil
}

// cacheHashes remembers hashes written by a committed transaction.
func (s *Store) cacheHashes(hashes []lethe.AuditTreeHash) {
	for _, h := range hashes {
		s.hashes.Add(h.Index, h.Hash)
	}
}

// appendWith runs one audited write in its own transaction, in two round
// trips: BEGIN with the audit head lock, then fn's queued change, the
// sealed records, the head move and COMMIT, pipelined. fn may also run
// statements of its own on the transaction's connection.
func (s *Store) appendWith(ctx context.Context, op string, records []lethe.AuditRecord, fn func(c txConn, b *batch) error) ([]lethe.AuditEntry, error) {
	return s.appendDecided(ctx, op, len(records) > 0, func(c txConn, b *batch) ([]lethe.AuditRecord, error) {
		return records, fn(c, b)
	})
}

// appendDecided is appendWith for writes whose audit records depend on
// what fn found (an idempotent change audits only what it changed): with
// lock, the audit head is locked before fn runs, and fn returns the
// records to append. Without lock, fn must return none.
func (s *Store) appendDecided(ctx context.Context, op string, lock bool, fn func(c txConn, b *batch) ([]lethe.AuditRecord, error)) ([]lethe.AuditEntry, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, translate(op, err)
	}
	// A connection given back inside a transaction (after an error) is
	// closed by the pool rather than reused; the rollback below is the
	// polite way, the pool's check the safe one.
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()

	var head lethe.AuditHead
	if lock {
		var open pgx.Batch
		open.Queue("BEGIN")
		open.Queue(sqlLockHead)
		br := conn.SendBatch(ctx, &open)
		_, err = br.Exec()
		if err == nil {
			head, err = scanHead(br.QueryRow())
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	} else {
		_, err = conn.Exec(ctx, "BEGIN")
	}
	if err != nil {
		return nil, translate(op, err)
	}

	b := &batch{}
	records, err := fn(conn, b)
	if err != nil {
		return nil, err
	}
	if len(records) > 0 && !lock {
		return nil, fmt.Errorf("%s: audit records without the audit head lock", op)
	}
	var (
		entries []lethe.AuditEntry
		hashes  []lethe.AuditTreeHash
	)
	next := head
	if len(records) > 0 {
		if entries, hashes, next, err = s.sealInto(ctx, conn, b, head, records); err != nil {
			return nil, err
		}
	}
	b.queue(op, "", nil, "COMMIT")
	if err := b.send(ctx, conn); err != nil {
		s.head.forget()
		return nil, err
	}
	committed = true
	s.cacheHashes(hashes)
	if len(records) > 0 {
		s.head.saw(next)
	}
	return entries, nil
}

// knownHead is the audit head as this store's last append left it, which
// lets the next consent append skip reading it (see consentCommit). It is a
// hint: lethe_lock_audit_head refuses a stale one.
type knownHead struct {
	mu    sync.Mutex
	known bool
	head  lethe.AuditHead
	// quietUntil holds the hint back for a while after another node's
	// append made it stale: where nodes take turns appending, every
	// other attempt would fail.
	quietUntil time.Time
}

func (k *knownHead) get() (lethe.AuditHead, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.head, k.known && time.Now().After(k.quietUntil)
}

// saw records a head that a committed transaction left. Heads only grow:
// an older one, from a transaction that finished later, is ignored.
func (k *knownHead) saw(h lethe.AuditHead) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.known || h.Size > k.head.Size {
		k.head, k.known = h, true
	}
}

// moved drops the hint when another node or process appended, and holds
// it back for a second.
func (k *knownHead) moved() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.known, k.quietUntil = false, time.Now().Add(time.Second)
}

// forget drops the hint, after a failure that may have left it stale.
func (k *knownHead) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.known = false
}

// AuditAppend seals and appends records in one transaction, serialised
// against every other append on every node by the audit head's row lock.
func (s *Store) AuditAppend(ctx context.Context, records []lethe.AuditRecord) ([]lethe.AuditEntry, error) {
	if len(records) == 0 {
		return nil, nil
	}
	return s.appendWith(ctx, "append audit records", records, func(txConn, *batch) error { return nil })
}

// AuditHead returns the current size and last leaf hash.
func (s *Store) AuditHead(ctx context.Context) (lethe.AuditHead, error) {
	var (
		size int64
		last []byte
	)
	if err := s.pool.QueryRow(ctx, `SELECT size, last_hash FROM audit_head WHERE id = 1`).Scan(&size, &last); err != nil {
		return lethe.AuditHead{}, translate("read audit head", err)
	}
	h, err := hash32(last)
	if err != nil {
		return lethe.AuditHead{}, fmt.Errorf("read audit head: %w", err)
	}
	return lethe.AuditHead{Size: uint64(size), LastHash: h}, nil
}

func clampSeq(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// AuditEntries calls fn for entries with from <= Seq < to, in Seq order, a
// page at a time, so memory stays bounded whatever the range. An error
// from fn stops the walk and is returned as is.
func (s *Store) AuditEntries(ctx context.Context, from, to uint64, fn func(lethe.AuditEntry) error) error {
	lo, hi := clampSeq(from), clampSeq(to)
	for lo < hi {
		page, err := s.auditPage(ctx, lo, hi)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		lo = int64(page[len(page)-1].Seq) + 1
	}
	return nil
}

func (s *Store) auditPage(ctx context.Context, lo, hi int64) ([]lethe.AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, time, actor, action, subject_ref, object, details::text, payload_hash, prev_hash, hash
 FROM audit_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3`, lo, hi, auditPage)
	if err != nil {
		return nil, translate("read audit entries", err)
	}
	defer rows.Close()
	var out []lethe.AuditEntry
	for rows.Next() {
		var (
			e                     lethe.AuditEntry
			seq                   int64
			t                     time.Time
			ref, payload, prev, h []byte
			details               *string
		)
		if err := rows.Scan(&seq, &t, &e.Actor, &e.Action, &ref, &e.Object, &details, &payload, &prev, &h); err != nil {
			return nil, translate("read audit entries", err)
		}
		e.Seq, e.Time = uint64(seq), t.UTC()
		if len(ref) == 32 {
			e.SubjectRef = lethe.SubjectRef(ref)
		}
		if details != nil {
			if err := json.Unmarshal([]byte(*details), &e.Details); err != nil {
				return nil, fmt.Errorf("read audit entry %d details: %w", seq, err)
			}
		}
		if len(payload) > 0 {
			e.PayloadHash = payload
		}
		// Returned as stored: a tampered hash of the wrong length comes back
		// zero-padded or truncated for package audit to flag, not hidden.
		copy(e.PrevHash[:], prev)
		copy(e.Hash[:], h)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("read audit entries", err)
	}
	return out, nil
}

// AuditTreeHashes returns the stored tree hashes at indexes, in order
// (ENOTFOUND naming the first missing index).
func (s *Store) AuditTreeHashes(ctx context.Context, indexes []int64) ([][32]byte, error) {
	out := make([][32]byte, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	got, err := readHashes(ctx, s.pool, indexes)
	if err != nil {
		return nil, err
	}
	for i, idx := range indexes {
		h, ok := got[idx]
		if !ok {
			return nil, lethe.Errorf(lethe.ENOTFOUND, "audit tree hash %d is not stored", idx)
		}
		out[i] = h
	}
	return out, nil
}

// AuditCheckpointAdd stores a signed checkpoint. Adding the same size and
// root again is a no-op (the first note is kept); another root for a size
// already checkpointed is ECONFLICT.
func (s *Store) AuditCheckpointAdd(ctx context.Context, cp lethe.AuditCheckpoint) error {
	if len(cp.Note) == 0 {
		return lethe.FieldErrorf("note", "a checkpoint needs its signed note")
	}
	created := cp.CreatedAt
	if created.IsZero() {
		created = s.clock.Now()
	}
	ct, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (size, root, created_at, note) VALUES ($1, $2, $3, $4)
 ON CONFLICT (size) DO NOTHING`, clampSeq(cp.Size), cp.Root[:], ts(created), cp.Note)
	if err != nil {
		return translate("add audit checkpoint", err)
	}
	if ct.RowsAffected() == 1 {
		return nil
	}
	var root []byte
	if err := s.pool.QueryRow(ctx, `SELECT root FROM audit_checkpoints WHERE size = $1`, clampSeq(cp.Size)).Scan(&root); err != nil {
		return translate("add audit checkpoint", err)
	}
	if string(root) != string(cp.Root[:]) {
		return lethe.Errorf(lethe.ECONFLICT, "a checkpoint of size %d with another root hash is already stored: the log has forked or been tampered with", cp.Size)
	}
	return nil
}

// AuditCheckpointGet returns the checkpoint of the given size (ENOTFOUND).
func (s *Store) AuditCheckpointGet(ctx context.Context, size uint64) (lethe.AuditCheckpoint, error) {
	cp, err := scanCheckpoint(s.pool.QueryRow(ctx, `SELECT size, root, created_at, note FROM audit_checkpoints WHERE size = $1`, clampSeq(size)))
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, lethe.Errorf(lethe.ENOTFOUND, "no audit checkpoint of size %d", size)
	}
	if err != nil {
		return cp, translate("read audit checkpoint", err)
	}
	return cp, nil
}

// AuditCheckpointList returns every checkpoint, smallest size first.
func (s *Store) AuditCheckpointList(ctx context.Context) ([]lethe.AuditCheckpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT size, root, created_at, note FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		return nil, translate("list audit checkpoints", err)
	}
	defer rows.Close()
	var out []lethe.AuditCheckpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, translate("list audit checkpoints", err)
		}
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list audit checkpoints", err)
	}
	return out, nil
}

func scanCheckpoint(r pgx.Row) (lethe.AuditCheckpoint, error) {
	var (
		cp         lethe.AuditCheckpoint
		size       int64
		at         time.Time
		root, note []byte
	)
	if err := r.Scan(&size, &root, &at, &note); err != nil {
		return cp, err
	}
	cp.Size, cp.CreatedAt, cp.Note = uint64(size), at.UTC(), note
	copy(cp.Root[:], root)
	return cp, nil
}
