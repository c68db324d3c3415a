package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// auditPage bounds how many entries AuditEntries holds in memory and how
// long it keeps a read transaction open: fn runs between pages, never
// inside a query, so it may call the store itself.
const auditPage = 512

// txAudit is the audit log's state inside the writer's current
// transaction. Only the writer goroutine touches it. Appends in one
// transaction (several, when writes are grouped) read the head once and
// chain from it in memory.
type txAudit struct {
	loaded  bool
	head    lethe.AuditHead    // head after the appends so far
	byIndex map[int64][32]byte // tree hashes written in this transaction
}

func (a *txAudit) reset() {
	a.loaded, a.head = false, lethe.AuditHead{}
	clear(a.byIndex)
}

// appendAudit seals records after the transaction's head and inserts the
// entries, each with the Merkle tree hashes its leaf completes, inside tx.
// The caller holds the write lock (BEGIN IMMEDIATE), which is what
// serialises appends, also against other processes; seq being the primary
// key makes a second writer at the same place fail rather than fork the
// log. The returned hashes (written, and read from the table) must be
// cached only once tx has committed.
//
// Why the hashes live in the entry's row (migration 00022): a commit
// writes every page it touched to the write-ahead log, and the separate
// tree-hash table and single-row head each cost a page per commit. The
// head is the last entry; the hashes a leaf completes are known when it is
// appended, and contiguous in tlog's storage order.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, records []lethe.AuditRecord) ([]lethe.AuditEntry, []lethe.AuditTreeHash, error) {
	if len(records) == 0 {
		return nil, nil, nil
	}
	a := &s.txAudit
	if !a.loaded {
		head, err := readHead(tx.StmtContext(ctx, s.st.headGet).QueryRowContext(ctx))
		if err != nil {
			return nil, nil, err
		}
		a.loaded, a.head = true, head
	}

	var (
		rows *treeRows
		read []lethe.AuditTreeHash
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
			if rows == nil {
				rows = &treeRows{st: tx.StmtContext(ctx, s.st.hashGet)}
			}
			h, err := rows.hash(ctx, idx)
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
	rest := hashes
	for _, e := range entries {
		details, err := encodeDetails(e.Details)
		if err != nil {
			return nil, nil, err
		}
		var ref any
		if !e.SubjectRef.IsZero() {
			ref = e.SubjectRef[:]
		}
		first, n := leafHashSpan(e.Seq)
		if int64(len(rest)) < n || rest[0].Index != first {
			return nil, nil, fmt.Errorf("append audit entry %d: tree hashes out of step with the entries", e.Seq)
		}
		tree := make([]byte, 0, 32*n)
		for _, h := range rest[:n] {
			tree = append(tree, h.Hash[:]...)
		}
		rest = rest[n:]
		if _, err := ins.ExecContext(ctx, int64(e.Seq), micros(e.Time), e.Actor, e.Action, ref, e.Object,
			details, nilIfEmpty(e.PayloadHash), e.PrevHash[:], e.Hash[:], tree); err != nil {
			return nil, nil, translate("append audit entry", err)
		}
	}
	if a.byIndex == nil {
		a.byIndex = make(map[int64][32]byte)
	}
	for _, h := range hashes {
		a.byIndex[h.Index] = h.Hash
	}
	a.head = next
	return entries, append(hashes, read...), nil
}

// leafHashSpan returns where the tree hashes that appending leaf seq
// stores begin, in tlog's storage order, and how many there are: its leaf
// hash, then one per subtree it completes (levels 1, 2, ...).
func leafHashSpan(seq uint64) (first, n int64) {
	first = tlog.StoredHashIndex(0, int64(seq))
	return first, tlog.StoredHashIndex(0, int64(seq)+1) - first
}

// hashLeaf returns the leaf whose row holds the tree hash at storage index
// idx, and the hash's place in that row's tree_hashes: the node at (level,
// n) is completed by leaf (n+1)<<level - 1, as its level-th hash.
func hashLeaf(idx int64) (seq int64, pos int) {
	level, n := tlog.SplitStoredHashIndex(idx)
	return (n+1)<<level - 1, level
}

// treeRows reads tree hashes out of audit entries' tree_hashes through st
// (sqlHashGet), remembering the last row: neighbouring indexes often share
// one.
type treeRows struct {
	st   *sql.Stmt
	seq  int64
	tree []byte
	have bool
}

// hash returns the hash at storage index idx; a missing entry or a row too
// short to hold it is ENOTFOUND naming the index.
func (r *treeRows) hash(ctx context.Context, idx int64) ([32]byte, error) {
	if idx < 0 {
		return [32]byte{}, lethe.Errorf(lethe.ENOTFOUND, "audit tree hash %d is not stored", idx)
	}
	seq, pos := hashLeaf(idx)
	if !r.have || r.seq != seq {
		var tree []byte
		if err := r.st.QueryRowContext(ctx, seq).Scan(&tree); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return [32]byte{}, lethe.Errorf(lethe.ENOTFOUND, "audit tree hash %d is not stored", idx)
			}
			return [32]byte{}, translate("read audit tree hashes", err)
		}
		r.seq, r.tree, r.have = seq, tree, true
	}
	if len(r.tree) < 32*(pos+1) {
		return [32]byte{}, lethe.Errorf(lethe.ENOTFOUND, "audit tree hash %d is not stored", idx)
	}
	return [32]byte(r.tree[32*pos : 32*pos+32]), nil
}

// readHead scans sqlHeadGet: the last entry's seq and hash, or the empty
// log's head.
func readHead(row *sql.Row) (lethe.AuditHead, error) {
	var (
		seq  int64
		last []byte
	)
	if err := row.Scan(&seq, &last); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return lethe.AuditHead{}, nil
		}
		return lethe.AuditHead{}, translate("read audit head", err)
	}
	h, err := hash32(last)
	if err != nil {
		return lethe.AuditHead{}, fmt.Errorf("read audit head: %w", err)
	}
	return lethe.AuditHead{Size: uint64(seq) + 1, LastHash: h}, nil
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

// AuditHead returns the current size and last leaf hash: those of the last
// entry.
func (s *Store) AuditHead(ctx context.Context) (lethe.AuditHead, error) {
	return readHead(s.reader.QueryRowContext(ctx, sqlHeadGet))
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
	rows := &treeRows{st: st}
	for i, idx := range indexes {
		if out[i], err = rows.hash(ctx, idx); err != nil {
			return nil, err
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
