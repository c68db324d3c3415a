package postgres

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

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

const typesSQL = `
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE people (
	id uuid PRIMARY KEY,
	code char(5) NOT NULL,
	nick varchar(10),
	ip inet,
	prefs jsonb,
	active boolean NOT NULL,
	balance numeric(10, 2),
	born date,
	seen timestamp,
	avatar bytea,
	small smallint,
	feeling mood
);
CREATE INDEX people_nick_ip ON people (nick, ip);
INSERT INTO people VALUES
	('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'AB', 'ann', '10.0.0.1', '{"theme": "dark"}', true, 12.5, '1990-04-02', '2024-01-02 03:04:05', '\x0102', 7, 'happy'),
	('b1ffcd00-0d1c-4ef9-9c7e-7cc0ce491b22', 'CD', 'ben', '10.0.0.2', '{}', false, NULL, NULL, NULL, NULL, NULL, NULL);`

// TestTypes runs the engine over PostgreSQL's own types: values coerce to
// them or select nothing, come back as Row types, and bulk updates cast
// parameters without truncating (char(n) is not cast to char(1)).
func TestTypes(t *testing.T) {
	ds, db := fresh(t)
	if _, err := db.Exec(typesSQL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := Open(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, _ := url.Parse(ds.DSN)
	schema := u.Query().Get("search_path")
	people := &lethe.Collection{Name: "people", Datastore: "shop", Table: schema + ".people"}

	got, err := c.Describe(ctx, []*lethe.Collection{people})
	if err != nil || !got[0].Exists {
		t.Fatalf("describe %s.people: %v, %v", schema, got, err)
	}
	kinds := map[string]lethe.ColumnKind{"id": lethe.KindUUID, "code": lethe.KindText, "nick": lethe.KindText, "ip": lethe.KindInet, "prefs": lethe.KindJSON,
		"active": lethe.KindBool, "balance": lethe.KindFloat, "born": lethe.KindDate, "seen": lethe.KindTime, "avatar": lethe.KindBytes, "small": lethe.KindInteger, "feeling": lethe.KindOther}
	for name, k := range kinds {
		col, ok := got[0].Column(name)
		if !ok || col.Kind != k {
			t.Errorf("column %s: %+v, want kind %s", name, col, k)
		}
	}
	if col, _ := got[0].Column("code"); col.MaxLength != 5 || col.Type != "character(5)" {
		t.Errorf("code: type %q max length %d, want character(5) and 5", col.Type, col.MaxLength)
	}
	if col, _ := got[0].Column("nick"); !col.Indexed || col.Unique || col.MaxLength != 10 {
		t.Errorf("nick leads an index of two columns: %+v", col)
	}
	if col, _ := got[0].Column("ip"); col.Indexed {
		t.Errorf("ip is second in its index, not leading it: %+v", col)
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
		{"id", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", 1},
		{"id", "not-a-uuid", 0},
		{"id", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' OR '1'='1", 0},
		{"ip", "10.0.0.1", 1},
		{"ip", "10.0.0.1; DROP TABLE people", 0},
		{"prefs", `{"theme": "dark"}`, 1},
		{"prefs", `{not json`, 0},
		{"small", int64(7), 1},
		{"small", int64(100000), 0}, // beyond smallint: selects nothing rather than failing to encode
		{"feeling", "happy", 1},
		{"feeling", "furious", 0}, // not an enum label
		{"born", "1990-04-02", 1},
		{"born", "April 2nd", 0},
		{"active", "t", 1},
		{"balance", "12.5", 1},
		{"avatar", []byte{1, 2}, 1},
		{"nick", "ann\x00", 0}, // PostgreSQL text holds no NUL
	} {
		if n := count(tc.column, tc.value); n != tc.want {
			t.Errorf("find by %s %q: %d rows, want %d", tc.column, tc.value, n, tc.want)
		}
	}

	var row map[string]any
	err = c.Find(ctx, lethe.FindParams{Collection: people, Matches: []lethe.Match{{Column: "nick", Values: []any{"ann"}}}}, func(r lethe.Row) error {
		row = map[string]any{}
		for i, c := range r.Columns {
			row[c] = r.Values[i]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "code": "AB   ", "balance": "12.50", "active": true, "small": int64(7), "feeling": "happy", "ip": "10.0.0.1", "prefs": `{"theme": "dark"}`}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s: %#v (%T), want %#v", k, row[k], row[k], v)
		}
	}
	if b, ok := row["avatar"].([]byte); !ok || len(b) != 2 {
		t.Errorf("avatar: %#v, want bytes", row["avatar"])
	}
	if d, ok := row["born"].(time.Time); !ok || d.Format(time.DateOnly) != "1990-04-02" {
		t.Errorf("born: %#v, want a time.Time", row["born"])
	}

	// A bulk update keyed by uuid, writing through each type's cast.
	steps := []lethe.EraseStep{{Collection: people, Matches: []lethe.Match{{Column: "nick", Values: []any{"ann", "ben"}}}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{
		"code":    fnMask(func(any) any { return "XXXXX" }),
		"ip":      fnMask(func(any) any { return "10.0.0.0" }),
		"prefs":   fnMask(func(any) any { return `{"masked": true}` }),
		"feeling": fnMask(func(any) any { return "sad" }),
		"born":    fnMask(func(v any) any { return v.(time.Time).AddDate(0, 0, 1-v.(time.Time).Day()) }),
		"nick":    fnMask(func(v any) any { return strings.ToUpper(v.(string)) }),
	}}}
	res, err := c.Erase(ctx, steps)
	if err != nil || res[0].Rows != 2 {
		t.Fatalf("anonymise people: %v, %v", res, err)
	}
	var code, ip, prefs, feeling, born, nick string
	if err := db.QueryRow(`SELECT code, host(ip), prefs::text, feeling::text, born::text, nick FROM people WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'`).Scan(&code, &ip, &prefs, &feeling, &born, &nick); err != nil {
		t.Fatal(err)
	}
	if code != "XXXXX" || ip != "10.0.0.0" || prefs != `{"masked": true}` || feeling != "sad" || born != "1990-04-01" || nick != "ANN" {
		t.Errorf("after the bulk update: code %q ip %q prefs %q feeling %q born %q nick %q", code, ip, prefs, feeling, born, nick)
	}
	// Too long for varchar(10): refused before anything is written.
	_, err = c.Erase(ctx, []lethe.EraseStep{{Collection: people, Matches: []lethe.Match{{Column: "nick", Values: []any{"ANN"}}}, Action: lethe.EraseAnonymise,
		Masks: map[string]lethe.Mask{"nick": fnMask(func(any) any { return "much too long a nickname" })}}})
	if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "nick") {
		t.Errorf("a mask longer than varchar(10): %v, want EINVALID naming nick", err)
	}
}
