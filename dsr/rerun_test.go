package dsr_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// subjectRef is keyring.SubjectRef's recipe: HMAC-SHA256 of "type:" and
// the normalised value.
func subjectRef(id lethe.Identity) (lethe.SubjectRef, error) {
	n, err := id.Normalise()
	if err != nil {
		return lethe.SubjectRef{}, err
	}
	m := hmac.New(sha256.New, []byte("test reference key"))
	m.Write([]byte(string(n.Type) + ":" + n.Value))
	return lethe.SubjectRef(m.Sum(nil)), nil
}

// The backup test of the issue: copy every datastore, erase a subject,
// restore the copies, rerun, and raw SQL finds none of the subject's
// personal values again; other subjects' rows are unchanged, held rows
// are kept as the erasure kept them, and anonymised rows hold the very
// values the original erasure wrote.
func TestRerunReappliesErasuresToRestoredBackups(t *testing.T) {
	e := newEstate(t)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	// Backups, taken before the erasure.
	backupTime := e.now.Add(-time.Hour)
	for _, s := range []string{
		`CREATE TABLE bk_users AS SELECT * FROM users`, `CREATE TABLE bk_orders AS SELECT * FROM orders`, `CREATE TABLE bk_order_items AS SELECT * FROM order_items`,
	} {
		if _, err := e.shop.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{`CREATE TABLE bk_events AS SELECT * FROM events`, `CREATE TABLE bk_subscribers AS SELECT * FROM subscribers`} {
		if _, err := e.analytics.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	supportBackup, err := os.ReadFile(e.supportDSN)
	if err != nil {
		t.Fatal(err)
	}
	session := e.redis.HGetAll(ctx, e.prefix+"session:1").Val()
	before := e.others(t)

	eng := e.engine(t, dsr.Options{Tombstones: store, SubjectRef: subjectRef})
	// By e-mail alone: the account's user id is found on the way, and
	// tombstoned too (the events and sessions know the subject only by it).
	cert, err := eng.Erase(ctx, dsr.EraseParams{RequestID: "req_1", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane.roe@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Status != dsr.StatusCompleted {
		b, _ := json.MarshalIndent(cert, "", "  ")
		t.Fatalf("erasure:\n%s", b)
	}
	uid, _ := subjectRef(lethe.Identity{Type: lethe.IdentityUserID, Value: "1"})
	mail, _ := subjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: "jane.roe@example.com"})
	ts, err := store.TombstoneLookup(ctx, []lethe.SubjectRef{uid, mail})
	if err != nil || len(ts) != 2 {
		t.Fatalf("tombstones of the e-mail and the user id found: %+v, %v", ts, err)
	}
	// A retry of the same request adds no tombstone.
	if _, err := eng.Erase(ctx, dsr.EraseParams{RequestID: "req_1", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane.roe@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	var all []lethe.Tombstone
	_ = store.TombstoneList(ctx, time.Time{}, func(x lethe.Tombstone) error { all = append(all, x); return nil })
	if len(all) != 2 {
		t.Errorf("%d tombstones after a retry, want still 2", len(all))
	}
	erasedUser := rows(t, e.shop, `SELECT email, name, COALESCE(last_ip, 'NULL') FROM users WHERE id = 1`)
	erasedOrder := rows(t, e.shop, `SELECT shipping_name, shipping_address FROM orders WHERE id = 10`)

	// Restore every datastore from its backup.
	for _, s := range []string{`DELETE FROM order_items`, `DELETE FROM orders`, `DELETE FROM users`,
		`INSERT INTO users SELECT * FROM bk_users`, `INSERT INTO orders SELECT * FROM bk_orders`, `INSERT INTO order_items SELECT * FROM bk_order_items`} {
		if _, err := e.shop.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{`DELETE FROM events`, `DELETE FROM subscribers`, `INSERT INTO events SELECT * FROM bk_events`, `INSERT INTO subscribers SELECT * FROM bk_subscribers`} {
		if _, err := e.analytics.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	restored := filepath.Join(t.TempDir(), "support-restored.db")
	if err := os.WriteFile(restored, supportBackup, 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg.Datastores["support"].DSN = restored
	e.support = openSQLite(t, restored)
	if err := e.redis.HSet(ctx, e.prefix+"session:1", session).Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(rows(t, e.shop, `SELECT 1 FROM users WHERE email = 'Jane.Roe@Example.com'`)); n != 1 {
		t.Fatalf("the restore did not bring the subject back: %d users", n)
	}

	eng = e.engine(t, dsr.Options{Tombstones: store, SubjectRef: subjectRef})
	// A dry run counts and changes nothing.
	dry, err := eng.Rerun(ctx, dsr.RerunParams{Datastore: "analytics", Since: backupTime, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rows(t, e.analytics, `SELECT 1 FROM events WHERE user_id = 1`)); n != 4 || dry.Subjects != 1 {
		t.Fatalf("dry run: %d events left (want 4), %d subjects (want 1)", n, dry.Subjects)
	}
	// Tombstones older than the backup are not re-applied.
	none, err := eng.Rerun(ctx, dsr.RerunParams{Datastore: "shop", Since: e.now.Add(time.Minute)})
	if err != nil || none.Tombstones != 0 || none.Subjects != 0 {
		t.Fatalf("rerun since after the erasure: %+v, %v; want nothing matched", none, err)
	}
	if n := len(rows(t, e.shop, `SELECT 1 FROM users WHERE email = 'Jane.Roe@Example.com'`)); n != 1 {
		t.Fatalf("a rerun with no tombstones changed users")
	}
	for _, ds := range []string{"shop", "analytics", "support", "sessions"} {
		rep, err := eng.Rerun(ctx, dsr.RerunParams{Datastore: ds, Since: backupTime})
		if err != nil {
			t.Fatalf("rerun %s: %v", ds, err)
		}
		if rep.Status != dsr.StatusCompleted || rep.Subjects != 1 || rep.Verification == nil || !rep.Verification.Passed {
			b, _ := json.MarshalIndent(rep, "", "  ")
			t.Errorf("rerun %s:\n%s", ds, b)
		}
	}

	personal := []string{"Jane.Roe@Example.com", "JANE.ROE@example.COM", "Jane O'Roe", "203.0.113.1", "198.51.1.10", "198.51.1.13", "Hello, this is Jane O'Roe"}
	dumps := map[string][][]string{
		"users":       rows(t, e.shop, `SELECT email, name, COALESCE(last_ip, '') FROM users WHERE id = 1`),
		"orders":      rows(t, e.shop, `SELECT shipping_name, shipping_address FROM orders WHERE user_id = 1 AND created_at < $1`, e.now.AddDate(-10, 0, 0)),
		"events":      rows(t, e.analytics, `SELECT ip FROM events`),
		"subscribers": rows(t, e.analytics, `SELECT email FROM subscribers`),
		"tickets":     rows(t, e.support, `SELECT email, body FROM tickets`),
	}
	for table, d := range dumps {
		for _, rec := range d {
			for _, v := range rec {
				if slices.Contains(personal, v) {
					t.Errorf("after the rerun, %s holds the subject's value %q again", table, v)
				}
			}
		}
	}
	if n := len(rows(t, e.analytics, `SELECT 1 FROM events WHERE user_id = 1`)); n != 0 {
		t.Errorf("%d events of the subject remain", n)
	}
	if n := len(rows(t, e.support, `SELECT 1 FROM tickets WHERE user_id = 1`)); n != 0 {
		t.Errorf("%d tickets of the subject remain", n)
	}
	if n, _ := e.redis.Exists(ctx, e.prefix+"session:1", e.prefix+"session:2").Result(); n != 1 {
		t.Errorf("%d of the two session keys exist, want only the other subject's", n)
	}
	// The same masked values as the original erasure: joins still hold.
	if got := rows(t, e.shop, `SELECT email, name, COALESCE(last_ip, 'NULL') FROM users WHERE id = 1`); !slices.EqualFunc(got, erasedUser, slices.Equal) {
		t.Errorf("users row 1 after the rerun %v, after the erasure %v", got, erasedUser)
	}
	if got := rows(t, e.shop, `SELECT shipping_name, shipping_address FROM orders WHERE id = 10`); !slices.EqualFunc(got, erasedOrder, slices.Equal) {
		t.Errorf("order 10 after the rerun %v, after the erasure %v", got, erasedOrder)
	}
	// Held orders are kept, as the erasure kept them.
	if kept := rows(t, e.shop, `SELECT shipping_name FROM orders WHERE user_id = 1 AND created_at >= $1`, e.now.AddDate(-10, 0, 0)); len(kept) != 2 || kept[0][0] != "Jane O'Roe" {
		t.Errorf("held orders = %v, want 2 kept unchanged", kept)
	}
	if got := e.others(t); !mapsEqual(got, before) {
		t.Errorf("other subjects' rows changed:\nbefore %v\nafter  %v", before, got)
	}
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { db.Close() })
	return db
}
