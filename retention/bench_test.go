package retention_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/retention"
)

// BenchmarkRetentionDelete deletes the older half of a 200,000-row
// PostgreSQL table two ways, alternating on fresh copies: one plain
// DELETE ... WHERE created_at < cutoff (one statement: its locks are held
// for the whole of it), and a retention run in batches of 5,000. It
// reports the run's time against the plain DELETE (x_plain), and the
// longest lock each holds (plain_lock_ms: the whole statement;
// batch_lock_ms: the run's longest batch).
//
//	go test -run '^$' -bench RetentionDelete -benchtime 3x ./retention/
func BenchmarkRetentionDelete(b *testing.B) {
	const rows = 200_000
	dsn := testenv.PostgresSchema(b)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	load := func() {
		b.Helper()
		for _, q := range []string{
			`DROP TABLE IF EXISTS accounts`,
			`CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, status text NOT NULL, last_seen timestamptz, created_at timestamptz NOT NULL)`,
			fmt.Sprintf(`INSERT INTO accounts SELECT g, 'user' || g || '@example.com', 'closed',
				CASE WHEN g %% 2 = 0 THEN $1::timestamptz ELSE $2::timestamptz END, $1::timestamptz FROM generate_series(1, %d) g`, rows),
			`CREATE INDEX accounts_last_seen ON accounts (last_seen)`,
			`VACUUM ANALYZE accounts`,
		} {
			var err error
			if q[0] == 'I' {
				_, err = db.Exec(q, now.AddDate(-5, 0, 0), now.AddDate(-1, 0, 0))
			} else {
				_, err = db.Exec(q)
			}
			if err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
	}
	e := estate{driver: lethe.DriverPostgres, dsn: dsn, db: db}
	eng, _ := newEngine(b, e, `      accounts:
        identities: {email: email}
        fields: {email: {category: contact.email}}
        retention: {column: last_seen, max_age: 3y}
`, retention.DefaultBatchSize, nil)

	var plain, batched, maxLock time.Duration
	for range b.N {
		b.StopTimer()
		load()
		b.StartTimer()
		t0 := time.Now()
		res, err := db.Exec(`DELETE FROM accounts WHERE last_seen < $1`, now.AddDate(-3, 0, 0))
		plain += time.Since(t0)
		if n, _ := res.RowsAffected(); err != nil || n != rows/2 {
			b.Fatalf("plain delete: %d rows, %v", n, err)
		}
		b.StopTimer()
		load()
		b.StartTimer()
		t0 = time.Now()
		run, err := eng.Run(context.Background(), retention.RunParams{})
		batched += time.Since(t0)
		if err != nil || run.Done != rows/2 {
			b.Fatalf("retention run: %d rows, %v", run.Done, err)
		}
		maxLock = max(maxLock, run.Collections[0].MaxLock)
	}
	b.ReportMetric(float64(batched)/float64(plain), "x_plain")
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "plain_lock_ms")
	b.ReportMetric(float64(maxLock.Microseconds())/1000, "batch_lock_ms")
	b.ReportMetric(float64(rows/2)*float64(b.N)/batched.Seconds(), "rows/s")
}
