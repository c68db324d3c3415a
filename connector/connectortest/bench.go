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

// Benchmark sizes: subjects, each with ordersPerSubject orders.
const (
	benchSubjects    = 10000
	ordersPerSubject = 10
)

// SQLSetup opens a fixture on a fresh SQL datastore holding data, with the
// raw store the hand-written baseline queries go through.
type SQLSetup func(t testing.TB, data Dataset) (Fixture, SQLStore)

// BenchData is the benchmarks' dataset: n users with per orders each.
func BenchData(n, per int) Dataset {
	var d Dataset
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := int64(1); i <= int64(n); i++ {
		d.Users = append(d.Users, User{ID: i, Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i), CreatedAt: created})
		for k := range int64(per) {
			d.Orders = append(d.Orders, Order{ID: i*100 + k, UserID: i, Total: k, Note: fmt.Sprintf("order %d of %d", k, i), CreatedAt: orderTimes[k%3]})
		}
	}
	return d
}

// BenchFind measures what an access request asks of a connector: find a
// subject by e-mail, then the subject's orders by the user id found
// (10,000 subjects with 10 orders each). Sub-benchmarks:
//
//   - baseline: the same two queries written by hand, scanned into typed
//     variables;
//   - connector: through Find; reports x-baseline, its time over the
//     baseline's in the same run;
//   - or, union: one lookup by e-mail ORed with one by id, as a single
//     statement with OR (what the engine sends) and as a UNION (the
//     alternative), by hand.
func BenchFind(b *testing.B, setup SQLSetup) {
	data := BenchData(benchSubjects, ordersPerSubject)
	fx, s := setup(b, data)
	ctx := benchContext(b)
	q := func(sql string) string { return placeholders(sql, s.Placeholder) }
	usersByEmail := q("SELECT id, email, name, created_at FROM " + s.Quote("users") + " WHERE email = ?")
	ordersByUser := q("SELECT id, user_id, total, note, created_at FROM " + s.Quote("orders") + " WHERE user_id = ?")
	var baseline time.Duration

	b.Run("baseline", func(b *testing.B) {
		for i := range b.N {
			u := data.Users[i%len(data.Users)]
			var id int64
			var email string
			var name sql.NullString
			var created time.Time
			if err := s.DB.QueryRowContext(ctx, usersByEmail, u.Email).Scan(&id, &email, &name, &created); err != nil {
				b.Fatal(err)
			}
			rows, err := s.DB.QueryContext(ctx, ordersByUser, id)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var oid, uid, total int64
				var note sql.NullString
				var at time.Time
				if err := rows.Scan(&oid, &uid, &total, &note, &at); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := rows.Err(); err != nil || n != ordersPerSubject {
				b.Fatalf("baseline: %d orders, %v", n, err)
			}
			rows.Close()
		}
		baseline = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("connector", func(b *testing.B) {
		for i := range b.N {
			u := data.Users[i%len(data.Users)]
			var id any
			err := fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: "email", Values: []any{u.Email}, Identity: lethe.IdentityEmail}}}, func(r lethe.Row) error {
				id, _ = r.Get("id")
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			err = fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: []any{id}}}}, func(lethe.Row) error { n++; return nil })
			if err != nil || n != ordersPerSubject {
				b.Fatalf("connector: %d orders, %v", n, err)
			}
		}
		if baseline > 0 {
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(baseline), "x-baseline")
		}
	})
	ored := q("SELECT id, email, name, created_at FROM " + s.Quote("users") + " WHERE email IN (?) OR id IN (?)")
	union := q("SELECT id, email, name, created_at FROM " + s.Quote("users") + " WHERE email IN (?) UNION SELECT id, email, name, created_at FROM " + s.Quote("users") + " WHERE id IN (?)")
	for _, c := range []struct{ name, query string }{{"or", ored}, {"union", union}} {
		b.Run(c.name, func(b *testing.B) {
			for i := range b.N {
				u := data.Users[i%len(data.Users)]
				other := data.Users[(i+1)%len(data.Users)]
				rows, err := s.DB.QueryContext(ctx, c.query, u.Email, other.ID)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if err := rows.Err(); err != nil || n != 2 {
					b.Fatalf("%s: %d rows, %v", c.name, n, err)
				}
				rows.Close()
			}
		})
	}
}

// BenchErase measures what an erasure asks of a connector: in one
// transaction, delete a subject's 10 orders and anonymise its user row
// (e-mail and name through a computed mask), among 10,000 subjects.
// Sub-benchmarks: baseline (by hand: DELETE, SELECT, UPDATE in a
// transaction) and connector (one Erase; reports x-baseline). Each
// iteration erases a subject not erased before; the data is loaded again
// when they run out.
func BenchErase(b *testing.B, setup SQLSetup) {
	data := BenchData(benchSubjects, ordersPerSubject)
	ctx := benchContext(b)
	var baseline time.Duration

	// A cursor hands out fresh subjects, loading a fresh datastore when
	// the current one has too few left.
	type cursor struct {
		fx   Fixture
		s    SQLStore
		next int
	}
	// The fixtures belong to the parent benchmark: a sub-benchmark's
	// cleanups run after each of its rounds.
	parent := b
	take := func(b *testing.B, c *cursor) {
		if c.s.DB == nil || c.next+b.N > len(data.Users) {
			b.StopTimer()
			c.fx, c.s = setup(parent, data)
			c.next = 0
			b.StartTimer()
		}
	}

	var base cursor
	b.Run("baseline", func(b *testing.B) {
		take(b, &base)
		s := base.s
		q := func(sql string) string { return placeholders(sql, s.Placeholder) }
		del := q("DELETE FROM " + s.Quote("orders") + " WHERE user_id = ?")
		sel := q("SELECT email, name FROM " + s.Quote("users") + " WHERE id = ?")
		upd := q("UPDATE " + s.Quote("users") + " SET email = ?, name = ? WHERE id = ?")
		for range b.N {
			u := data.Users[base.next]
			base.next++
			tx, err := s.DB.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			res, err := tx.ExecContext(ctx, del, u.ID)
			if err != nil {
				b.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != ordersPerSubject {
				b.Fatalf("baseline deleted %d orders", n)
			}
			var email, name string
			if err := tx.QueryRowContext(ctx, sel, u.ID).Scan(&email, &name); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, upd, masked(email), masked(name), u.ID); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		baseline = b.Elapsed() / time.Duration(b.N)
	})
	var conn cursor
	b.Run("connector", func(b *testing.B) {
		take(b, &conn)
		m := &hashMask{}
		for range b.N {
			u := data.Users[conn.next]
			conn.next++
			id := []lethe.Match{{Column: "id", Values: []any{fmt.Sprint(u.ID)}, Identity: lethe.IdentityUserID}}
			res, err := conn.fx.Connector.Erase(ctx, []lethe.EraseStep{
				{Collection: conn.fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: []any{u.ID}}}, Action: lethe.EraseDelete},
				{Collection: conn.fx.Users, Matches: id, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"email": m, "name": m}},
			})
			if err != nil {
				b.Fatal(err)
			}
			if res[0].Rows != ordersPerSubject || res[1].Rows != 1 {
				b.Fatalf("connector erased %v", res)
			}
		}
		if baseline > 0 {
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(baseline), "x-baseline")
		}
	})
}

// placeholders rewrites each ? of query with the database's markers.
func placeholders(query string, marker func(int) string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString(marker(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// benchContext is cancellable, as a server's request context is: drivers
// watch such a context for the length of each statement, in the baseline
// as in the connector.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}
