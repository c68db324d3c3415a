package audit_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/store/postgres"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// backend opens a real store of one kind, with a raw SQL handle on its
// database that bypasses it (to play the attacker with a database shell).
type backend struct {
	name string
	open func(t testing.TB) *rawStore
}

type rawStore struct {
	lethe.Store
	db       *sql.DB
	dollar   bool // $1 placeholders instead of ?
	triggers func(t testing.TB) []string
	drop     func(name string) string
	// treeInEntries: the store keeps each leaf's tree hashes in its entry's
	// tree_hashes column and has no head row (SQLite); otherwise they are
	// rows of audit_tree_hashes and the head a row of audit_head
	// (PostgreSQL).
	treeInEntries bool
}

func backends() []backend {
	return []backend{
		{"sqlite", openSQLite},
		{"postgres", openPostgres},
	}
}

func openSQLite(t testing.TB) *rawStore {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rawStore{Store: s, db: s.DB(), treeInEntries: true}
	r.triggers = func(t testing.TB) []string {
		return r.strings(t, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit%'`)
	}
	r.drop = func(name string) string { return "DROP TRIGGER " + name }
	return r
}

func openPostgres(t testing.TB) *rawStore {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: testenv.PostgresSchema(t)})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	db := stdlib.OpenDBFromPool(s.Pool())
	t.Cleanup(func() { db.Close() })
	r := &rawStore{Store: s, db: db, dollar: true}
	r.triggers = func(t testing.TB) []string {
		return r.strings(t, `SELECT t.tgname || ' ON ' || c.relname FROM pg_trigger t
 JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND c.relname LIKE 'audit%' AND n.nspname = current_schema()`)
	}
	r.drop = func(name string) string { return "DROP TRIGGER " + name }
	return r
}

// exec runs a statement written with ? placeholders.
func (r *rawStore) exec(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	res, err := r.db.ExecContext(context.Background(), r.rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	n, _ := res.RowsAffected()
	return n
}

func (r *rawStore) strings(t testing.TB, query string, args ...any) []string {
	t.Helper()
	rows, err := r.db.QueryContext(context.Background(), r.rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rawStore) rebind(q string) string {
	if !r.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// dropAppendOnly removes the triggers that make the audit tables
// append-only, as an attacker with a database shell would.
func (r *rawStore) dropAppendOnly(t testing.TB) {
	t.Helper()
	names := r.triggers(t)
	if len(names) == 0 {
		t.Fatal("no append-only triggers found on the audit tables")
	}
	for _, n := range names {
		r.exec(t, r.drop(n))
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(testing.TB) *rawStore)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open)
		})
	}
}

// setHead moves the head row, as an attacker covering their tracks would;
// a store whose head is its last entry has nothing to move.
func (r *rawStore) setHead(t testing.TB, size uint64, last lethe.AuditEntry) {
	t.Helper()
	if !r.treeInEntries {
		r.exec(t, `UPDATE audit_head SET size = ?, last_hash = ?`, int64(size), last.Hash[:])
	}
}

// treeOf returns leaf seq's stored tree hashes (tree_hashes layout).
func (r *rawStore) treeOf(t testing.TB, seq int64) []byte {
	t.Helper()
	var tree []byte
	if err := r.db.QueryRowContext(context.Background(), `SELECT tree_hashes FROM audit_entries WHERE seq = ?`, seq).Scan(&tree); err != nil {
		t.Fatal(err)
	}
	return tree
}

// setTreeHash overwrites the stored tree hash at storage index idx.
func (r *rawStore) setTreeHash(t testing.TB, idx int64, h []byte) {
	t.Helper()
	if !r.treeInEntries {
		if r.exec(t, `UPDATE audit_tree_hashes SET hash = ? WHERE idx = ?`, h, idx) != 1 {
			t.Fatalf("no tree hash at %d", idx)
		}
		return
	}
	seq, pos := leafOfHash(idx)
	tree := r.treeOf(t, seq)
	copy(tree[32*pos:32*pos+32], h)
	r.exec(t, `UPDATE audit_entries SET tree_hashes = ? WHERE seq = ?`, tree, seq)
}

// deleteTreeHash removes the stored tree hash at storage index idx (in
// an entry's tree_hashes, with the ones after it: a row holds a prefix).
func (r *rawStore) deleteTreeHash(t testing.TB, idx int64) {
	t.Helper()
	if !r.treeInEntries {
		if r.exec(t, `DELETE FROM audit_tree_hashes WHERE idx = ?`, idx) != 1 {
			t.Fatalf("no tree hash at %d", idx)
		}
		return
	}
	seq, pos := leafOfHash(idx)
	r.exec(t, `UPDATE audit_entries SET tree_hashes = ? WHERE seq = ?`, r.treeOf(t, seq)[:32*pos], seq)
}

// deleteTreeFrom removes the tree hashes of leaves first and later (gone
// with the entries when they live in them).
func (r *rawStore) deleteTreeFrom(t testing.TB, first int64) {
	t.Helper()
	if !r.treeInEntries {
		r.exec(t, `DELETE FROM audit_tree_hashes WHERE idx >= ?`, tlog.StoredHashIndex(0, first))
	}
}

// replaceTree stores tree as the whole Merkle tree.
func (r *rawStore) replaceTree(t testing.TB, tree memTree) {
	t.Helper()
	if !r.treeInEntries {
		r.exec(t, `DELETE FROM audit_tree_hashes`)
		for idx, h := range tree {
			r.exec(t, `INSERT INTO audit_tree_hashes (idx, hash) VALUES (?, ?)`, idx, h[:])
		}
		return
	}
	rows := map[int64][]byte{}
	for idx := int64(0); ; idx++ {
		h, ok := tree[idx]
		if !ok {
			break
		}
		seq, _ := leafOfHash(idx)
		rows[seq] = append(rows[seq], h[:]...)
	}
	for seq, b := range rows {
		r.exec(t, `UPDATE audit_entries SET tree_hashes = ? WHERE seq = ?`, b, seq)
	}
}

// leafOfHash is the leaf whose append stored the tree hash at storage
// index idx, and the hash's place among those it stored.
func leafOfHash(idx int64) (seq int64, pos int) {
	level, n := tlog.SplitStoredHashIndex(idx)
	return (n+1)<<level - 1, level
}
