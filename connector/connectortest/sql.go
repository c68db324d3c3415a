package connectortest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// SQLStore helps a SQL connector's harness: it loads a Dataset into tables
// users and orders that the harness created (see Fixture for their
// columns) and reads them back raw.
type SQLStore struct {
	// DB is a handle on the database, independent of the connector.
	DB *sql.DB
	// Placeholder returns the n-th (1-based) parameter marker.
	Placeholder func(n int) string
	// Quote quotes an identifier.
	Quote func(name string) string
	// Time converts a time to what is stored. Defaults to the time.Time
	// itself.
	Time func(time.Time) any
}

// Load inserts data in one transaction.
func (s SQLStore) Load(t testing.TB, data Dataset) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer tx.Rollback() //nolint:errcheck
	conv := s.Time
	if conv == nil {
		conv = func(t time.Time) any { return t }
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var rows [][]any
	for _, u := range data.Users {
		rows = append(rows, []any{u.ID, u.Email, null(u.Name), conv(u.CreatedAt)})
	}
	s.insert(t, tx, "users", []string{"id", "email", "name", "created_at"}, rows)
	rows = rows[:0]
	for _, o := range data.Orders {
		rows = append(rows, []any{o.ID, o.UserID, o.Total, null(o.Note), conv(o.CreatedAt)})
	}
	s.insert(t, tx, "orders", []string{"id", "user_id", "total", "note", "created_at"}, rows)
	if err := tx.Commit(); err != nil {
		t.Fatalf("load: %v", err)
	}
}

func (s SQLStore) insert(t testing.TB, tx *sql.Tx, table string, cols []string, rows [][]any) {
	t.Helper()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = s.Quote(c)
	}
	head := "INSERT INTO " + s.Quote(table) + " (" + strings.Join(quoted, ",") + ") VALUES "
	for len(rows) > 0 {
		n := min(len(rows), 500)
		var b strings.Builder
		b.WriteString(head)
		var args []any
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for j, v := range r {
				if j > 0 {
					b.WriteByte(',')
				}
				args = append(args, v)
				b.WriteString(s.Placeholder(len(args)))
			}
			b.WriteByte(')')
		}
		if _, err := tx.Exec(b.String(), args...); err != nil {
			t.Fatalf("load %s: %v", table, err)
		}
		rows = rows[n:]
	}
}

// Raw reads every row of the table named collection.
func (s SQLStore) Raw(t testing.TB, collection string) []Record {
	t.Helper()
	rows, err := s.DB.Query("SELECT * FROM " + s.Quote(collection))
	if err != nil {
		t.Fatalf("raw read of %s: %v", collection, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []Record
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("raw read of %s: %v", collection, err)
		}
		r := Record{}
		for i, c := range cols {
			r[strings.ToLower(c)] = render(vals[i])
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("raw read of %s: %v", collection, err)
	}
	return out
}

func render(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// SQLCollections returns the Fixture's collections for a SQL datastore
// named datastore whose tables are users and orders; missing names a table
// that does not exist.
func SQLCollections(datastore string) (users, orders, missing *lethe.Collection) {
	users = &lethe.Collection{
		Name: "users", Datastore: datastore,
		Identities: map[lethe.IdentityType]string{lethe.IdentityUserID: "id", lethe.IdentityEmail: "email"},
		Fields:     map[string]*lethe.Field{"email": {Category: "contact.email", Erase: "hmac"}, "name": {Category: "name", Erase: "hmac"}},
		Erase:      lethe.EraseAnonymise,
	}
	orders = &lethe.Collection{
		Name: "orders", Datastore: datastore,
		References: map[string]string{"user_id": "users.id"},
		Fields:     map[string]*lethe.Field{"note": {Category: "free_text"}},
	}
	missing = &lethe.Collection{Name: "archive", Datastore: datastore, Table: "lethe_no_such_table", Identities: map[lethe.IdentityType]string{lethe.IdentityUserID: "id"}}
	return users, orders, missing
}
