// Package scrubbench measures `lethe scrub` on PostgreSQL against a plain
// UPDATE ... SET col = md5(col) of the same columns, in the same run, on
// identical fresh copies of one generated table. `lethe bench scrub` and
// the go test benchmark of package scrub both run it.
package scrubbench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver for database/sql

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/scrub"
)

// Options configure a run.
type Options struct {
	// PostgresURL is a scratch database; the schema named in its
	// search_path (lethe_bench_scrub by default) is dropped and created.
	PostgresURL string
	// Rows in the table. Defaults to 1,000,000.
	Rows int
	// Rounds of (baseline, scrub), alternating, each on a fresh copy.
	// Defaults to 2.
	Rounds int
	// Workers and Batch are passed to the scrub (0: its defaults).
	Workers, Batch int
	// Log receives one line per step; nil discards.
	Log io.Writer
}

// Result holds the medians of the rounds.
type Result struct {
	Rows int
	// TableBytes is the fresh table's heap and TOAST size (no indexes),
	// the basis of MB per minute.
	TableBytes int64
	// Baseline is the plain UPDATE; Scrub the scrub without compaction;
	// Compact the VACUUM FULL that ends a scrub.
	Baseline, Scrub, Compact time.Duration
	BaselineAll, ScrubAll    []time.Duration
}

// Ratio is the scrub's rate over the baseline's: 1 is as fast.
func (r *Result) Ratio() float64 { return r.Baseline.Seconds() / r.Scrub.Seconds() }

// RowsPerSec is rows over d.
func (r *Result) RowsPerSec(d time.Duration) float64 { return float64(r.Rows) / d.Seconds() }

// MBPerMin is the table's size in MB over d in minutes.
func (r *Result) MBPerMin(d time.Duration) float64 {
	return float64(r.TableBytes) / 1e6 / d.Minutes()
}

// personal are the five personal columns: email is unique.
var personal = []string{"email", "full_name", "phone", "street", "city"}

const template = "people_template"

// Run seeds the template table, then alternates baseline and scrub runs
// on fresh copies of it.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Rows <= 0 {
		o.Rows = 1_000_000
	}
	if o.Rounds <= 0 {
		o.Rounds = 2
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	u, err := url.Parse(o.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	if schema == "" {
		schema = "lethe_bench_scrub"
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
	}
	dsn := u.String()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	exec := func(stmts ...string) error {
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%.60s: %w", s, err)
			}
		}
		return nil
	}
	if err := exec("DROP SCHEMA IF EXISTS "+schema+" CASCADE", "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	defer exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE") //nolint:errcheck // best effort
	logf("seeding %d rows...", o.Rows)
	start := time.Now()
	if err := exec(
		`CREATE TABLE `+template+` (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, phone text,
			street text, city text, created_at timestamptz NOT NULL, total integer NOT NULL)`,
		fmt.Sprintf(`INSERT INTO `+template+` SELECT g, 'person' || g || '@example.org',
			(ARRAY['Anna','Ben','Clara','David','Eva','Felix','Greta','Hans'])[1 + g %% 8] || ' ' || (ARRAY['Keller','Meyer','Schulz','Wagner','Becker','Hoffmann'])[1 + g %% 6] || ' ' || g,
			'+49 30 ' || lpad((g::bigint * 7919 %% 100000000)::text, 8, '0'),
			(g %% 300 + 1) || ' ' || (ARRAY['Main','High','Park','Oak','Lake'])[1 + g %% 5] || ' Street',
			(ARRAY['Berlin','Hamburg','Munich','Cologne','Leipzig','Dresden','Bremen'])[1 + g %% 7],
			now() - (g || ' minutes')::interval, g %% 1000
			FROM generate_series(1, %d) AS g`, o.Rows),
	); err != nil {
		return nil, err
	}
	logf("seeded in %s", time.Since(start).Round(time.Millisecond))

	cfg, err := config.Parse(fmt.Appendf(nil, `controller: {name: Bench}
purposes: [{id: bench, lawful_basis: contract}]
datastores:
  bench:
    driver: postgres
    dsn: %q
    timeout: 10m
    scrub_allowed: true
    collections:
      people:
        identities: {email: email}
        ignore: [created_at, total]
        fields:
          email:     {category: contact.email, erase: hmac}
          full_name: {category: name, erase: fake.name}
          phone:     {category: contact.phone, erase: fake.phone}
          street:    {category: contact.address, erase: fake.street}
          city:      {category: contact.address, erase: fake.city}
`, dsn), "bench.yaml")
	if err != nil {
		return nil, err
	}
	key := []byte("lethe bench scrub key, 32 bytes!")
	res := &Result{Rows: o.Rows}
	var compacts []time.Duration
	fresh := func() error {
		if err := exec("DROP TABLE IF EXISTS people",
			"CREATE TABLE people (LIKE "+template+" INCLUDING ALL)",
			"INSERT INTO people SELECT * FROM "+template,
			"VACUUM ANALYZE people", "CHECKPOINT"); err != nil {
			return err
		}
		if res.TableBytes == 0 {
			return db.QueryRowContext(ctx, "SELECT pg_table_size('people')").Scan(&res.TableBytes)
		}
		return nil
	}
	var update string
	for i, c := range personal {
		if i > 0 {
			update += ", "
		}
		update += c + " = md5(" + c + ")"
	}
	for round := 1; round <= o.Rounds; round++ {
		if err := fresh(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := exec("UPDATE people SET " + update); err != nil {
			return nil, err
		}
		d := time.Since(start)
		res.BaselineAll = append(res.BaselineAll, d)
		logf("round %d: plain UPDATE md5 %s", round, d.Round(time.Millisecond))

		if err := fresh(); err != nil {
			return nil, err
		}
		set := connector.NewSet(cfg.Datastores, connector.Options{})
		eng, err := scrub.New(scrub.Options{Config: cfg, Connectors: set,
			Strategy: func(name string) (scrub.Strategy, error) { return mask.Parse(name, key) }})
		if err != nil {
			set.Close()
			return nil, err
		}
		start = time.Now()
		rep, err := eng.Run(ctx, scrub.Params{Datastore: "bench", Confirm: "bench", NoCompact: true, Workers: o.Workers, Batch: o.Batch})
		d = time.Since(start)
		set.Close()
		if err != nil {
			return nil, err
		}
		if rep.Rows != int64(o.Rows) {
			return nil, fmt.Errorf("the scrub rewrote %d rows, want %d", rep.Rows, o.Rows)
		}
		res.ScrubAll = append(res.ScrubAll, d)
		var left int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM people WHERE email LIKE 'person%@example.org' OR phone LIKE '+49 30 %'").Scan(&left); err != nil {
			return nil, err
		}
		if left != 0 {
			return nil, fmt.Errorf("%d rows still hold an original after the scrub", left)
		}
		start = time.Now()
		if err := exec("VACUUM FULL people"); err != nil {
			return nil, err
		}
		compacts = append(compacts, time.Since(start))
		logf("round %d: scrub %s (%d ranges), then VACUUM FULL %s", round, d.Round(time.Millisecond), rep.Collections[0].Ranges, compacts[len(compacts)-1].Round(time.Millisecond))
	}
	res.Baseline, res.Scrub, res.Compact = median(res.BaselineAll), median(res.ScrubAll), median(compacts)
	return res, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
