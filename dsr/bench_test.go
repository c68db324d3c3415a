package dsr_test

import (
	"archive/zip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/dsr"
)

// The benchmarks run the engine and, as the baseline, the same indexed
// queries and statements written by hand, on the three-engine estate of
// the tests (PostgreSQL, MariaDB, SQLite). Compare the pairs:
//
//	go test ./dsr/ -run '^$' -bench . -count 5
//
// `lethe bench dsr` does the same at scale (100,000 subjects, four
// engines and a webhook) and reports p50/p99 ratios.

func BenchmarkAccess(b *testing.B) {
	e := newEstate(b)
	eng := e.engine(b, dsr.Options{})
	ids := []lethe.Identity{{Type: lethe.IdentityUserID, Value: "1"}, {Type: lethe.IdentityEmail, Value: "Jane.Roe@Example.com"}}
	ctx := context.Background()
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			if _, err := eng.Access(ctx, dsr.AccessParams{RequestID: "bench", Identities: ids}, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			zw := zip.NewWriter(io.Discard)
			for _, q := range []struct {
				db    *sql.DB
				name  string
				query string
				args  []any
			}{
				{e.shop, "users", `SELECT * FROM users WHERE id = $1 OR email = $2`, []any{1, "Jane.Roe@Example.com"}},
				{e.shop, "orders", `SELECT * FROM orders WHERE user_id = $1`, []any{1}},
				{e.shop, "order_items", `SELECT * FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id = $1)`, []any{1}},
				{e.analytics, "events", `SELECT * FROM events WHERE user_id = ?`, []any{1}},
				{e.support, "tickets", `SELECT * FROM tickets WHERE user_id = ? OR email = ?`, []any{1, "Jane.Roe@Example.com"}},
			} {
				if err := dumpJSON(zw, q.name, q.db, q.query, q.args...); err != nil {
					b.Fatal(err)
				}
			}
			zw.Close()
		}
	})
}

func BenchmarkErase(b *testing.B) {
	e := newEstate(b)
	eng := e.engine(b, dsr.Options{})
	ctx := context.Background()
	next := int64(1000)
	subject := func() int64 {
		b.StopTimer()
		defer b.StartTimer()
		next++
		id := next
		exec := func(db *sql.DB, q string, args ...any) {
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				b.Fatal(err)
			}
		}
		exec(e.shop, `INSERT INTO users VALUES ($1, $2, 'Bench Subject', '203.0.113.9')`, id, fmt.Sprintf("bench%d@example.com", id))
		exec(e.shop, `INSERT INTO orders VALUES ($1, $2, 'Bench Subject', '1 Main St', now() - interval '11 years'), ($1 + 1000000, $2, 'Bench Subject', '1 Main St', now())`, id*10, id)
		exec(e.analytics, `INSERT INTO events VALUES (?, ?, 'page_view', '198.51.100.1'), (? + 1, ?, 'page_view', '198.51.100.2')`, id*10, id, id*10, id)
		exec(e.support, `INSERT INTO tickets VALUES (?, ?, ?, 'Help')`, id, id, fmt.Sprintf("bench%d@example.com", id))
		return id
	}
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			id := subject()
			cert, err := eng.Erase(ctx, dsr.EraseParams{RequestID: "bench", Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: fmt.Sprint(id)}}})
			if err != nil || cert.Status != dsr.StatusCompleted {
				b.Fatalf("%v %+v", err, cert)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			id := subject()
			tx, err := e.shop.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, q := range []string{
				`UPDATE orders SET shipping_name = 'Anonymous', shipping_address = '***' WHERE user_id = $1 AND created_at < now() - interval '10 years'`,
				`UPDATE users SET email = md5(email), name = 'Anonymous', last_ip = NULL WHERE id = $1`,
			} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			if _, err := e.analytics.ExecContext(ctx, `DELETE FROM events WHERE user_id = ?`, id); err != nil {
				b.Fatal(err)
			}
			if _, err := e.support.ExecContext(ctx, `DELETE FROM tickets WHERE user_id = ? OR email = ?`, id, fmt.Sprintf("bench%d@example.com", id)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func dumpJSON(zw *zip.Writer, name string, db *sql.DB, query string, args ...any) error {
	rs, err := db.Query(query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	w, err := zw.Create(name + ".json")
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	enc := json.NewEncoder(w)
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return err
		}
		rec := map[string]any{}
		for i, c := range cols {
			if bs, ok := vals[i].([]byte); ok {
				rec[c] = string(bs)
			} else {
				rec[c] = vals[i]
			}
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return rs.Err()
}
