package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/lethe-privacy/lethe"
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
	code varchar(20) PRIMARY KEY,
	active tinyint(1) NOT NULL,
	balance decimal(10, 2),
	avatar varbinary(16),
	feeling enum('happy', 'sad'),
	born date,
	seen datetime(6),
	counter int unsigned,
	email varchar(100) COLLATE utf8mb4_general_ci,
	bio text,
	UNIQUE KEY people_email (email),
	KEY people_bio (bio(20))
) CHARACTER SET utf8mb4`, `
INSERT INTO people VALUES
	('p1', 1, 12.5, X'0102', 'happy', '1990-04-02', '2024-01-02 03:04:05.123456', 4000000000, 'Alice@Example.com', 'likes tea'),
	('p2', 0, NULL, NULL, NULL, NULL, NULL, NULL, 'bob@example.com', NULL)`}

// TestTypes runs the engine over MySQL's types: tinyint(1) reads as a
// bool, decimals keep their digits, text compares exactly whatever the
// collation, and bulk updates join on a text primary key.
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
	cfg, _ := mysql.ParseDSN(ds.DSN)
	people := &lethe.Collection{Name: "people", Datastore: "shop", Table: cfg.DBName + ".people", PrimaryKey: "code"}

	got, err := c.Describe(ctx, []*lethe.Collection{people})
	if err != nil || !got[0].Exists {
		t.Fatalf("describe %s.people: %v, %v", cfg.DBName, got, err)
	}
	kinds := map[string]lethe.ColumnKind{"code": lethe.KindText, "active": lethe.KindBool, "balance": lethe.KindFloat, "avatar": lethe.KindBytes, "feeling": lethe.KindOther,
		"born": lethe.KindDate, "seen": lethe.KindTime, "counter": lethe.KindInteger, "email": lethe.KindText, "bio": lethe.KindText}
	for name, k := range kinds {
		col, ok := got[0].Column(name)
		if !ok || col.Kind != k {
			t.Errorf("column %s: %+v, want kind %s", name, col, k)
		}
	}
	if col, _ := got[0].Column("code"); !col.Unique || !col.Indexed || col.Nullable || col.MaxLength != 20 {
		t.Errorf("code, the primary key: %+v", col)
	}
	if col, _ := got[0].Column("email"); !col.Unique || !col.Indexed || !col.Nullable {
		t.Errorf("email, unique: %+v", col)
	}
	if col, _ := got[0].Column("bio"); col.Unique || !col.Indexed {
		t.Errorf("bio, a prefix index: %+v", col)
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
		{"email", "alice@example.com", 0}, // exact, though the collation ignores case
		{"email", "Alice@Example.com ", 0},
		{"email", "Älice@Example.com", 0},
		{"code", "P1", 0},
		{"code", "p1", 1},
		{"active", true, 1},
		{"active", "yes", 0},
		{"counter", int64(4000000000), 1},
		{"counter", "4000000000x", 0},
		{"feeling", "HAPPY", 0},
		{"feeling", "happy", 1},
		{"born", "1990-04-02", 1},
	} {
		if n := count(tc.column, tc.value); n != tc.want {
			t.Errorf("find by %s %q: %d rows, want %d", tc.column, tc.value, n, tc.want)
		}
	}

	row := map[string]any{}
	err = c.Find(ctx, lethe.FindParams{Collection: people, Matches: []lethe.Match{{Column: "code", Values: []any{"p1"}}}}, func(r lethe.Row) error {
		for i, c := range r.Columns {
			row[c] = r.Values[i]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"code": "p1", "active": true, "balance": "12.50", "feeling": "happy", "counter": int64(4000000000), "email": "Alice@Example.com", "bio": "likes tea"}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s: %#v (%T), want %#v", k, row[k], row[k], v)
		}
	}
	if b, ok := row["avatar"].([]byte); !ok || len(b) != 2 {
		t.Errorf("avatar: %#v, want bytes", row["avatar"])
	}
	if s, ok := row["seen"].(time.Time); !ok || s.Nanosecond() != 123456000 {
		t.Errorf("seen: %#v, want a time.Time with microseconds", row["seen"])
	}

	steps := []lethe.EraseStep{{Collection: people, Matches: []lethe.Match{{Column: "code", Values: []any{"p1", "p2"}}}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{
		"email":   fnMask(func(v any) any { return "x-" + strings.ToLower(v.(string)) }),
		"feeling": fnMask(func(any) any { return "sad" }),
		"balance": fnMask(func(any) any { return 0.0 }),
		"avatar":  constMaskNil{},
	}}}
	res, err := c.Erase(ctx, steps)
	if err != nil || res[0].Rows != 2 {
		t.Fatalf("anonymise people: %v, %v", res, err)
	}
	var email, feeling, balance string
	var avatar []byte
	if err := db.QueryRow(`SELECT email, feeling, balance, avatar FROM people WHERE code = 'p1'`).Scan(&email, &feeling, &balance, &avatar); err != nil {
		t.Fatal(err)
	}
	if email != "x-alice@example.com" || feeling != "sad" || balance != "0.00" || avatar != nil {
		t.Errorf("after the bulk update: email %q feeling %q balance %q avatar %v", email, feeling, balance, avatar)
	}
	res, err = c.Erase(ctx, steps[:1])
	if err != nil || res[0].Rows != 2 {
		// x- is prepended again: a mask that is not idempotent changes
		// the rows again, and they count.
		t.Fatalf("anonymise people again: %v, %v", res, err)
	}
}

type constMaskNil struct{}

func (constMaskNil) Apply(any) (any, error) { return nil, nil }
func (constMaskNil) Constant() (any, bool)  { return nil, true }
