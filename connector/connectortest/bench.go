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
//   - connector: through Find;
//   - paired: both, alternating within each iteration, reporting
//     x-baseline (the connector's time over the baseline's), which the
//     load of a shared machine skews less than two separate runs;
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

	baseline := func(u User) error {
		var id int64
		var email string
		var name sql.NullString
		var created time.Time
		if err := s.DB.QueryRowContext(ctx, usersByEmail, u.Email).Scan(&id, &email, &name, &created); err != nil {
			return err
		}
		rows, err := s.DB.QueryContext(ctx, ordersByUser, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var oid, uid, total int64
			var note sql.NullString
			var at time.Time
			if err := rows.Scan(&oid, &uid, &total, &note, &at); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil || n != ordersPerSubject {
			return fmt.Errorf("baseline: %d orders, %v", n, err)
		}
		return nil
	}
	connector := func(u User) error {
		var id any
		err := fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: "email", Values: []any{u.Email}, Identity: lethe.IdentityEmail}}}, func(r lethe.Row) error {
			id, _ = r.Get("id")
			return nil
		})
		if err != nil {
			return err
		}
		n := 0
		err = fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: []any{id}}}}, func(lethe.Row) error { n++; return nil })
		if err != nil || n != ordersPerSubject {
			return fmt.Errorf("connector: %d orders, %v", n, err)
		}
		return nil
	}
	each := func(op func(User) error) func(b *testing.B) {
		return func(b *testing.B) {
			for i := range b.N {
				if err := op(data.Users[i%len(data.Users)]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("baseline", each(baseline))
	b.Run("connector", each(connector))
	b.Run("paired", func(b *testing.B) {
		var base, conn time.Duration
		for i := range b.N {
			u := data.Users[i%len(data.Users)]
			t0 := time.Now()
			if err := baseline(u); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := connector(u); err != nil {
				b.Fatal(err)
			}
			base, conn = base+t1.Sub(t0), conn+time.Since(t1)
		}
		reportPair(b, base, conn)
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
// transaction), connector (one Erase) and paired (both alternating,
// reporting x-baseline). Each iteration erases a subject not erased
// before; the data is loaded again when they run out.
func BenchErase(b *testing.B, setup SQLSetup) {
	data := BenchData(benchSubjects, ordersPerSubject)
	ctx := benchContext(b)
	m := &hashMask{}

	// A cursor hands out fresh subjects of one datastore, loading a fresh
	// one when too few are left. The datastores belong to the parent
	// benchmark: a sub-benchmark's cleanups run after each of its rounds.
	type cursor struct {
		fx   Fixture
		s    SQLStore
		next int
	}
	parent := b
	take := func(b *testing.B, c *cursor) {
		if c.s.DB == nil || c.next+b.N > len(data.Users) {
			b.StopTimer()
			c.fx, c.s = setup(parent, data)
			c.next = 0
			b.StartTimer()
		}
	}
	baseline := func(c *cursor) error {
		s := c.s
		u := data.Users[c.next]
		c.next++
		q := func(sql string) string { return placeholders(sql, s.Placeholder) }
		tx, err := s.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck
		res, err := tx.ExecContext(ctx, q("DELETE FROM "+s.Quote("orders")+" WHERE user_id = ?"), u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != ordersPerSubject {
			return fmt.Errorf("baseline deleted %d orders", n)
		}
		var email, name string
		if err := tx.QueryRowContext(ctx, q("SELECT email, name FROM "+s.Quote("users")+" WHERE id = ?"), u.ID).Scan(&email, &name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q("UPDATE "+s.Quote("users")+" SET email = ?, name = ? WHERE id = ?"), masked(email), masked(name), u.ID); err != nil {
			return err
		}
		return tx.Commit()
	}
	connector := func(c *cursor) error {
		u := data.Users[c.next]
		c.next++
		res, err := c.fx.Connector.Erase(ctx, []lethe.EraseStep{
			{Collection: c.fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: []any{u.ID}}}, Action: lethe.EraseDelete},
			{Collection: c.fx.Users, Matches: []lethe.Match{{Column: "id", Values: []any{fmt.Sprint(u.ID)}, Identity: lethe.IdentityUserID}}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"email": m, "name": m}},
		})
		if err != nil {
			return err
		}
		if res[0].Rows != ordersPerSubject || res[1].Rows != 1 {
			return fmt.Errorf("connector erased %v", res)
		}
		return nil
	}
	var base, conn cursor
	each := func(c *cursor, op func(*cursor) error) func(b *testing.B) {
		return func(b *testing.B) {
			take(b, c)
			for range b.N {
				if err := op(c); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("baseline", each(&base, baseline))
	b.Run("connector", each(&conn, connector))
	b.Run("paired", func(b *testing.B) {
		take(b, &base)
		take(b, &conn)
		var tb, tc time.Duration
		for range b.N {
			t0 := time.Now()
			if err := baseline(&base); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := connector(&conn); err != nil {
				b.Fatal(err)
			}
			tb, tc = tb+t1.Sub(t0), tc+time.Since(t1)
		}
		reportPair(b, tb, tc)
	})
}

// reportPair reports the baseline's and the connector's time per
// operation and their ratio.
func reportPair(b *testing.B, base, conn time.Duration) {
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(conn.Nanoseconds())/float64(b.N), "connector-ns/op")
	if base > 0 {
		b.ReportMetric(float64(conn)/float64(base), "x-baseline")
	}
}

// benchContext is cancellable, as a server's request context is: drivers
// watch such a context for the length of each statement, in the baseline
// as in the connector.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
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
