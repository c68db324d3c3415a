package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/connectortest"
)

// fnMask is a computed mask given by a function.
type fnMask func(any) any

func (f fnMask) Apply(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	return f(v), nil
}
func (fnMask) Constant() (any, bool) { return nil, false }

var typesSQL = []string{`
CREATE TABLE people (
	code TEXT PRIMARY KEY,
	email TEXT COLLATE NOCASE,
	active BOOLEAN NOT NULL,
	born DATE,
	seen_unix INTEGER,
	seen_text TEXT,
	avatar BLOB,
	score REAL,
	anything
)`, `CREATE INDEX people_email ON people (email)`, `CREATE UNIQUE INDEX people_active ON people (active) WHERE active`,
	`INSERT INTO people VALUES
	('p1', 'Alice@Example.com', 1, '1990-04-02', 1577836800, '2020-01-01T00:00:00Z', X'0102', 1.5, 'x'),
	('p2', 'bob@example.com', 0, NULL, 1735689600, '2025-01-01 00:00:00 +0000 UTC', NULL, NULL, NULL),
	('p3', 'carol@example.com', 0, NULL, NULL, 'not a time', NULL, NULL, NULL)`}

// TestTypes runs the engine over SQLite's declared types: exact text
// matches on a NOCASE column, booleans, holds over times stored as Unix
// seconds and as text, and bulk updates keyed by a text primary key.
func TestTypes(t *testing.T) {
	ds, db := fresh(t)
	for _, q := range typesSQL {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	c, err := Open(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	people := &lethe.Collection{Name: "people", Datastore: "shop", PrimaryKey: "code"}
	got, err := c.Describe(ctx, []*lethe.Collection{people})
	if err != nil || !got[0].Exists {
		t.Fatalf("describe people: %v, %v", got, err)
	}
	kinds := map[string]lethe.ColumnKind{"code": lethe.KindText, "email": lethe.KindText, "active": lethe.KindBool, "born": lethe.KindDate,
		"seen_unix": lethe.KindInteger, "seen_text": lethe.KindText, "avatar": lethe.KindBytes, "score": lethe.KindFloat, "anything": lethe.KindOther}
	for name, k := range kinds {
		col, ok := got[0].Column(name)
		if !ok || col.Kind != k {
			t.Errorf("column %s: %+v, want kind %s", name, col, k)
		}
	}
	if col, _ := got[0].Column("code"); !col.Unique || !col.Indexed {
		t.Errorf("code, the primary key: %+v", col)
	}
	if col, _ := got[0].Column("active"); col.Unique || !col.Indexed {
		t.Errorf("active, in a partial unique index: %+v", col)
	}

	count := func(column string, values ...any) int {
		t.Helper()
		n := 0
		err := c.Find(ctx, lethe.FindParams{Collection: people, Matches: []lethe.Match{{Column: column, Values: values}}}, func(lethe.Row) error { n++; return nil })
		if err != nil {
			t.Fatalf("find by %s: %v", column, err)
		}
		return n
	}
	for _, tc := range []struct {
		column string
		value  any
		want   int
	}{
		{"email", "Alice@Example.com", 1},
		{"email", "alice@example.com", 0}, // exact, though the column is NOCASE
		{"active", true, 1},
		{"active", "1; DROP TABLE people", 0},
		{"seen_unix", "1577836800", 1},
		{"seen_unix", "abc", 0},
	} {
		if n := count(tc.column, tc.value); n != tc.want {
			t.Errorf("find by %s %q: %d rows, want %d", tc.column, tc.value, n, tc.want)
		}
	}
	var active any
	if err := c.Find(ctx, lethe.FindParams{Collection: people, Matches: []lethe.Match{{Column: "code", Values: []any{"p1"}}}, Columns: []string{"active"}}, func(r lethe.Row) error {
		active = r.Values[0]
		return nil
	}); err != nil || active != true {
		t.Errorf("active of p1: %#v, %v; want true", active, err)
	}

	// Holds over times as applications store them: p1's are in 2020,
	// p2's in 2025 (in Go's time.String layout for seen_text), p3's
	// unknown, so kept. The mask is not idempotent: the second hold masks
	// p1 again.
	cut := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	all := []lethe.Match{{Column: "code", Values: []any{"p1", "p2", "p3"}}}
	mask := map[string]lethe.Mask{"email": fnMask(func(v any) any { return "x-" + v.(string) })}
	for _, column := range []string{"seen_unix", "seen_text"} {
		res, err := c.Erase(ctx, []lethe.EraseStep{{Collection: people, Matches: all, Action: lethe.EraseAnonymise, Masks: mask, Before: &lethe.Cutoff{Column: column, Time: cut}}})
		if err != nil || len(res) != 1 || res[0].Rows != 1 {
			t.Fatalf("anonymise before the cutoff on %s: %v, %v; want 1 row", column, res, err)
		}
		var emails []string
		rows, err := db.Query(`SELECT email FROM people ORDER BY code`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var e string
			rows.Scan(&e)
			emails = append(emails, e)
		}
		rows.Close()
		prefix := "x-"
		if column == "seen_text" {
			prefix = "x-x-"
		}
		if emails[0] != prefix+"Alice@Example.com" || emails[1] != "bob@example.com" || emails[2] != "carol@example.com" {
			t.Errorf("hold on %s: emails %v; only p1's is older than the cutoff", column, emails)
		}
	}
}

// TestBusy checks that an Erase waits for another process's write lock
// for the datastore's timeout, then fails EUNAVAILABLE without changes.
func TestBusy(t *testing.T) {
	ds, db := fresh(t)
	store(db).Load(t, connectortest.Dataset{Users: []connectortest.User{{ID: 1, Email: "a@example.com", CreatedAt: time.Now()}}})
	ds.Timeout = lethe.Duration{Clock: 300 * time.Millisecond}
	c, err := Open(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	users := &lethe.Collection{Name: "users"}
	start := time.Now()
	_, err = c.Erase(context.Background(), []lethe.EraseStep{{Collection: users, Matches: []lethe.Match{{Column: "id", Values: []any{int64(1)}}}, Action: lethe.EraseDelete}})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Errorf("erase while another connection holds the write lock: %v, want EUNAVAILABLE", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("erase gave up after %v, before the 300ms busy timeout", waited)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Erase(context.Background(), []lethe.EraseStep{{Collection: users, Matches: []lethe.Match{{Column: "id", Values: []any{int64(1)}}}, Action: lethe.EraseDelete}})
	if err != nil || res[0].Rows != 1 {
		t.Errorf("erase once the lock is released: %v, %v", res, err)
	}
}
