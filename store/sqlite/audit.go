package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// auditPage bounds how many entries AuditEntries holds in memory and how
// long it keeps a read transaction open: fn runs between pages, never
// inside a query, so it may call the store itself.
const auditPage = 512

// txAudit is the audit log's state inside the writer's current
// transaction. Only the writer goroutine touches it. Appends in one
// transaction (several, when writes are grouped) read the head once, chain
// from the head in memory, and leave the tree hashes and the head to be
// written once, by flush, just before commit: fewer statements per append.
type txAudit struct {
	loaded  bool
	stored  int64           // head size as read, for the guarded update
	head    lethe.AuditHead // head after the appends so far
	pending []lethe.AuditTreeHash
	byIndex map[int64][32]byte // pending, by storage index
}

func (a *txAudit) reset() {
	a.loaded, a.stored, a.head, a.pending = false, 0, lethe.AuditHead{}, a.pending[:0]
	clear(a.byIndex)
}

// appendAudit seals records after the transaction's head and inserts the
// entries inside tx; their tree hashes and the new head are written by
// flushAudit before commit. The caller holds the write lock (BEGIN
// IMMEDIATE), which is what serialises appends, also against other
// processes. The returned hashes (written, and read from the table) must be
// cached only once tx has committed.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, records []lethe.AuditRecord) ([]lethe.AuditEntry, []lethe.AuditTreeHash, error) {
	if len(records) == 0 {
		return nil, nil, nil
	}
	a := &s.txAudit
	if !a.loaded {
		var (
			size int64
			last []byte
		)
		if err := tx.StmtContext(ctx, s.st.headGet).QueryRowContext(ctx).Scan(&size, &last); err != nil {
			return nil, nil, translate("read audit head", err)
		}
		lastHash, err := hash32(last)
		if err != nil {
			return nil, nil, fmt.Errorf("read audit head: %w", err)
		}
		a.loaded, a.stored, a.head = true, size, lethe.AuditHead{Size: uint64(size), LastHash: lastHash}
	}

	var (
		hashGet *sql.Stmt
		read    []lethe.AuditTreeHash
	)
	reader := func(indexes []int64) ([][32]byte, error) {
		out := make([][32]byte, len(indexes))
		for i, idx := range indexes {
			if h, ok := a.byIndex[idx]; ok {
				out[i] = h
				continue
			}
			if h, ok := s.hashes.Get(idx); ok {
				out[i] = h
				continue
			}
			if hashGet == nil {
				hashGet = tx.StmtContext(ctx, s.st.hashGet)
			}
			var b []byte
			if err := hashGet.QueryRowContext(ctx, idx).Scan(&b); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("audit tree hash %d is missing", idx)
				}
				return nil, err
			}
			h, err := hash32(b)
			if err != nil {
				return nil, err
			}
			// Cached by the caller after commit, with the new hashes.
			read = append(read, lethe.AuditTreeHash{Index: idx, Hash: h})
			out[i] = h
		}
		return out, nil
	}
	entries, hashes, next, err := audit.Seal(a.head, records, s.clock.Now(), reader)
	if err != nil {
		return nil, nil, translate("seal audit records", err)
	}

	ins := tx.StmtContext(ctx, s.st.entryInsert)
	for _, e := range entries {
		details, err := encodeDetails(e.Details)
		if err != nil {
			return nil, nil, err
		}
		var ref any
		if !e.SubjectRef.IsZero() {
			ref = e.SubjectRef[:]
		}
		if _, err := ins.ExecContext(ctx, int64(e.Seq), micros(e.Time), e.Actor, e.Action, ref, e.Object,
			details, nilIfEmpty(e.PayloadHash), e.PrevHash[:], e.Hash[:]); err != nil {
			return nil, nil, translate("append audit entry", err)
		}
	}
	if a.byIndex == nil {
		a.byIndex = make(map[int64][32]byte)
	}
	for _, h := range hashes {
		a.pending = append(a.pending, h)
		a.byIndex[h.Index] = h.Hash
	}
	a.head = next
	return entries, append(hashes, read...), nil
}

// flushAudit writes the transaction's pending tree hashes and moves the
// head, once, before commit.
func (s *Store) flushAudit(ctx context.Context, tx *sql.Tx) error {
	a := &s.txAudit
	if !a.loaded || a.head.Size == uint64(a.stored) {
		return nil
	}
	rest := a.pending
	args := make([]any, 0, 2*hashChunks[0])
	for i, n := range hashChunks {
		if len(rest) < n {
			continue
		}
		st := tx.StmtContext(ctx, s.st.hashInserts[i])
		for ; len(rest) >= n; rest = rest[n:] {
			args = args[:0]
			for _, h := range rest[:n] {
				args = append(args, h.Index, h.Hash[:])
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return translate("append audit tree hashes", err)
			}
		}
	}
	res, err := tx.StmtContext(ctx, s.st.headSet).ExecContext(ctx, int64(a.head.Size), a.head.LastHash[:], a.stored)
	if err != nil {
		return translate("move audit head", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// Cannot happen under the write lock; refuse rather than fork the
		// log.
		return fmt.Errorf("move audit head: head moved under the write lock")
	}
	return nil
}

// cacheHashes remembers hashes written by a committed transaction.
func (s *Store) cacheHashes(hashes []lethe.AuditTreeHash) {
	for _, h := range hashes {
		s.hashes.Add(h.Index, h.Hash)
	}
}

func encodeDetails(d map[string]string) (any, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode audit details: %w", err)
	}
	return string(b), nil
}

// AuditAppend seals and appends records in one transaction, serialised
// against every other append (also from other processes) by the write lock.
func (s *Store) AuditAppend(ctx context.Context, records []lethe.AuditRecord) ([]lethe.AuditEntry, error) {
	var (
		entries []lethe.AuditEntry
		hashes  []lethe.AuditTreeHash
	)
	err := s.write(ctx, "append audit records", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		entries, hashes, err = s.appendAudit(ctx, tx, records)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheHashes(hashes)
	return entries, nil
}

// AuditHead returns the current size and last leaf hash.
func (s *Store) AuditHead(ctx context.Context) (lethe.AuditHead, error) {
	var (
		size int64
		last []byte
	)
	if err := s.reader.QueryRowContext(ctx, sqlHeadGet).Scan(&size, &last); err != nil {
		return lethe.AuditHead{}, translate("read audit head", err)
	}
	h, err := hash32(last)
	if err != nil {
		return lethe.AuditHead{}, fmt.Errorf("read audit head: %w", err)
	}
	return lethe.AuditHead{Size: uint64(size), LastHash: h}, nil
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

func clampSeq(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func (s *Store) auditPage(ctx context.Context, lo, hi int64) ([]lethe.AuditEntry, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash
 FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?`, lo, hi, auditPage)
	if err != nil {
		return nil, translate("read audit entries", err)
	}
	defer rows.Close()
	var out []lethe.AuditEntry
	for rows.Next() {
		var (
			e                     lethe.AuditEntry
			seq, t                int64
			ref, payload, prev, h []byte
			details               sql.NullString
		)
		if err := rows.Scan(&seq, &t, &e.Actor, &e.Action, &ref, &e.Object, &details, &payload, &prev, &h); err != nil {
			return nil, translate("read audit entries", err)
		}
		e.Seq, e.Time = uint64(seq), fromMicros(t)
		if len(ref) == 32 {
			e.SubjectRef = lethe.SubjectRef(ref)
		}
		if details.Valid {
			if err := json.Unmarshal([]byte(details.String), &e.Details); err != nil {
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
	conn, err := s.reader.Conn(ctx)
	if err != nil {
		return nil, translate("read audit tree hashes", err)
	}
	defer conn.Close()
	st, err := conn.PrepareContext(ctx, sqlHashGet)
	if err != nil {
		return nil, translate("read audit tree hashes", err)
	}
	defer st.Close()
	for i, idx := range indexes {
		var b []byte
		if err := st.QueryRowContext(ctx, idx).Scan(&b); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, lethe.Errorf(lethe.ENOTFOUND, "audit tree hash %d is not stored", idx)
			}
			return nil, translate("read audit tree hashes", err)
		}
		if out[i], err = hash32(b); err != nil {
			return nil, fmt.Errorf("read audit tree hash %d: %w", idx, err)
		}
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
	return s.write(ctx, "add audit checkpoint", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, root, created_at, note) VALUES (?, ?, ?, ?)
 ON CONFLICT (size) DO NOTHING`, clampSeq(cp.Size), cp.Root[:], micros(created), cp.Note)
		if err != nil {
			return translate("add audit checkpoint", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var root []byte
		if err := tx.QueryRowContext(ctx, `SELECT root FROM audit_checkpoints WHERE size = ?`, clampSeq(cp.Size)).Scan(&root); err != nil {
			return translate("add audit checkpoint", err)
		}
		if string(root) != string(cp.Root[:]) {
			return lethe.Errorf(lethe.ECONFLICT, "a checkpoint of size %d with another root hash is already stored: the log has forked or been tampered with", cp.Size)
		}
		return nil
	})
}

// AuditCheckpointGet returns the checkpoint of the given size (ENOTFOUND).
func (s *Store) AuditCheckpointGet(ctx context.Context, size uint64) (lethe.AuditCheckpoint, error) {
	row := s.reader.QueryRowContext(ctx, `SELECT size, root, created_at, note FROM audit_checkpoints WHERE size = ?`, clampSeq(size))
	cp, err := scanCheckpoint(row)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, lethe.Errorf(lethe.ENOTFOUND, "no audit checkpoint of size %d", size)
	}
	if err != nil {
		return cp, translate("read audit checkpoint", err)
	}
	return cp, nil
}

// AuditCheckpointList returns every checkpoint, smallest size first.
func (s *Store) AuditCheckpointList(ctx context.Context) ([]lethe.AuditCheckpoint, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT size, root, created_at, note FROM audit_checkpoints ORDER BY size`)
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

type scanner interface{ Scan(dest ...any) error }

func scanCheckpoint(r scanner) (lethe.AuditCheckpoint, error) {
	var (
		cp         lethe.AuditCheckpoint
		size, at   int64
		root, note []byte
	)
	if err := r.Scan(&size, &root, &at, &note); err != nil {
		return cp, err
	}
	cp.Size, cp.CreatedAt, cp.Note = uint64(size), fromMicros(at), note
	copy(cp.Root[:], root)
	return cp, nil
}
