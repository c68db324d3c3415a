package demo

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lethe-privacy/lethe"
)

// DefaultSubjects is the number of subjects Seed writes when
// Options.Subjects is zero.
const DefaultSubjects = 1000

// MaxSubjects bounds Options.Subjects (phone numbers are unique up to
// it).
const MaxSubjects = 10_000_000

// DefaultAsOf is the time the estate is generated relative to when
// Options.AsOf is zero: a fixed date, so that the same subjects and seed
// give the same rows on any day.
var DefaultAsOf = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// chunkSubjects is how many subjects' rows are generated and written at a
// time (one transaction per store).
const chunkSubjects = 1000

// Options says how many subjects to seed and where each table goes.
// Tables go to the embedded SQLite file unless an option moves their
// group elsewhere.
type Options struct {
	// Subjects is the number of data subjects. Defaults to
	// DefaultSubjects.
	Subjects int
	// Seed selects the data: the same Subjects, Seed and AsOf give the
	// same rows. Defaults to 0, a seed like any other.
	Seed int64
	// AsOf is the time the estate is generated relative to: accounts and
	// orders fall in the thirteen years before it, sessions in the month
	// before it. Defaults to DefaultAsOf.
	AsOf time.Time
	// SQLitePath is the embedded SQLite file (created with its directory
	// when missing) that holds every table no other option moves.
	// Required unless the other options move every table.
	SQLitePath string
	// SupportSQLitePath moves support_tickets to its own SQLite file.
	SupportSQLitePath string
	// PostgresURL moves users, addresses, orders, order_items and
	// newsletter_subscriptions to PostgreSQL, in the first schema of the
	// URL's search_path.
	PostgresURL string
	// MySQLDSN moves analytics_events to MySQL or MariaDB, in the
	// database the DSN names (go-sql-driver form:
	// user:pass@tcp(host:3306)/db).
	MySQLDSN string
	// RedisURL moves sessions and carts to Redis: keys session:{user_id}
	// and cart:{user_id}.
	RedisURL string
	// RedisPrefix is put before every Redis key (tests use it to share
	// a server). Defaults to none.
	RedisPrefix string
	// Reset drops and recreates the demo tables (deletes the demo's Redis
	// keys) first. Without it, Seed refuses to write into a demo table
	// that already holds rows.
	Reset bool
	// Progress, when set, is called after each chunk of subjects is
	// written to every store, with the subjects written so far; never
	// concurrently.
	Progress func(done, total int)
}

// Result reports what Seed wrote.
type Result struct {
	Subjects int   `json:"subjects"`
	Seed     int64 `json:"seed"`
	// Tables are the tables in the order they were written, parents
	// first.
	Tables []TableResult `json:"tables"`
	// Rows is the sum of the tables' rows.
	Rows    int64         `json:"rows"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Samples are a few subjects to try requests with (SampleSubject of
	// 1, 2, 3, 4, 10 and 42, those not beyond Subjects).
	Samples []Subject `json:"samples"`
}

// TableResult is one table's share of a Result.
type TableResult struct {
	Table string `json:"table"`
	// Driver is where the table went: sqlite, postgres, mysql or redis.
	Driver string `json:"driver"`
	// Path is the SQLite file, for a table in SQLite.
	Path string `json:"path,omitempty"`
	// Rows is the number of rows; in Redis, sessions counts hashes and
	// carts counts list items (cart lines), as the SQL tables would.
	Rows int64 `json:"rows"`
}

// placement is one store and the tables written to it.
type placement struct {
	store  store
	path   string // SQLite file
	tables []*table
	done   int // subjects written, for Progress
}

// Seed writes the estate. It returns EINVALID for bad options,
// ECONFLICT when a demo table already holds rows and Reset is false
// (before writing anything), and EUNAVAILABLE when a database cannot be
// reached. Errors never hold a DSN, URL or a row's values. A failure part
// way leaves the rows written so far; seeding again with Reset starts
// over.
func Seed(ctx context.Context, opts Options) (Result, error) {
	start := time.Now()
	n := cmp.Or(opts.Subjects, DefaultSubjects)
	if n < 1 || n > MaxSubjects {
		return Result{}, lethe.FieldErrorf("subjects", "must be between 1 and %d", MaxSubjects)
	}
	asOf := cmp.Or(opts.AsOf, DefaultAsOf).UTC().Truncate(time.Second)

	places, err := open(ctx, opts)
	defer func() {
		for _, p := range places {
			p.store.close()
		}
	}()
	if err != nil {
		return Result{}, err
	}

	// Check every store before touching any, so that a refusal leaves
	// everything as it was.
	if !opts.Reset {
		var busy []string
		for _, p := range places {
			names, err := p.store.occupied(ctx, p.tables)
			if err != nil {
				return Result{}, err
			}
			if len(names) > 0 {
				busy = append(busy, fmt.Sprintf("%s in %s", strings.Join(names, ", "), p.store.driver()))
			}
		}
		if len(busy) > 0 {
			return Result{}, lethe.Errorf(lethe.ECONFLICT, "the demo tables already hold rows (%s); seed with --reset to drop and recreate them", strings.Join(busy, "; "))
		}
	}
	for _, p := range places {
		if err := p.store.create(ctx, p.tables, opts.Reset); err != nil {
			return Result{}, err
		}
	}

	counts, err := write(ctx, places, opts.Seed, asOf, n, opts.Progress)
	if err != nil {
		return Result{}, err
	}
	for _, p := range places {
		if err := p.store.finish(ctx, p.tables); err != nil {
			return Result{}, err
		}
	}

	res := Result{Subjects: n, Seed: opts.Seed}
	for i, t := range tables {
		for _, p := range places {
			if slices.Contains(p.tables, t) {
				res.Tables = append(res.Tables, TableResult{Table: t.name, Driver: p.store.driver(), Path: p.path, Rows: counts[i]})
				res.Rows += counts[i]
			}
		}
	}
	for _, i := range []int{1, 2, 3, 4, 10, 42} {
		if i <= n {
			res.Samples = append(res.Samples, SampleSubject(opts.Seed, i))
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// open connects to the stores the options select and assigns each table
// to one. On error it returns the stores opened so far, to be closed.
func open(ctx context.Context, opts Options) ([]*placement, error) {
	var places []*placement
	byGroup := map[group]*placement{}
	sqliteFiles := map[string]*placement{}
	openFile := func(path string) (*placement, error) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("sqlite path: %w", err)
		}
		if p, ok := sqliteFiles[abs]; ok {
			return p, nil
		}
		s, err := openSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		p := &placement{store: s, path: path}
		sqliteFiles[abs] = p
		places = append(places, p)
		return p, nil
	}
	remote := []struct {
		g    group
		spec string
		open func() (store, error)
	}{
		{groupShop, opts.PostgresURL, func() (store, error) { return openPostgres(ctx, opts.PostgresURL) }},
		{groupAnalytics, opts.MySQLDSN, func() (store, error) { return openMySQL(ctx, opts.MySQLDSN) }},
		{groupSessions, opts.RedisURL, func() (store, error) { return openRedis(ctx, opts.RedisURL, opts.RedisPrefix) }},
	}
	for _, r := range remote {
		if r.spec == "" {
			continue
		}
		s, err := r.open()
		if err != nil {
			return places, err
		}
		p := &placement{store: s}
		places = append(places, p)
		byGroup[r.g] = p
	}
	if opts.SupportSQLitePath != "" {
		p, err := openFile(opts.SupportSQLitePath)
		if err != nil {
			return places, err
		}
		byGroup[groupSupport] = p
	}
	for _, t := range tables {
		p, ok := byGroup[t.group]
		if !ok {
			if opts.SQLitePath == "" {
				return places, lethe.FieldErrorf("sqlite_path", "the embedded SQLite file is required for %s (or move it elsewhere with another option)", t.name)
			}
			var err error
			if p, err = openFile(opts.SQLitePath); err != nil {
				return places, err
			}
		}
		p.tables = append(p.tables, t)
	}
	return places, nil
}

// write generates the subjects chunk by chunk, one goroutine, and writes
// each chunk to every store, one goroutine per store, so that generation
// and the stores overlap. It returns the rows written per table.
func write(ctx context.Context, places []*placement, seed int64, asOf time.Time, n int, progress func(done, total int)) ([numTables]int64, error) {
	var counts [numTables]int64
	g, ctx := errgroup.WithContext(ctx)
	feeds := make([]chan *chunk, len(places))
	for i := range feeds {
		feeds[i] = make(chan *chunk, 2)
	}
	g.Go(func() error {
		defer func() {
			for _, f := range feeds {
				close(f)
			}
		}()
		gen := &generator{seed: seed, asOf: asOf}
		for first := 1; first <= n; first += chunkSubjects {
			c := &chunk{}
			for i := first; i < first+chunkSubjects && i <= n; i++ {
				gen.subject(c, i)
			}
			for t := range counts {
				counts[t] += int64(len(c.rows[t]))
			}
			for _, f := range feeds {
				select {
				case f <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	var mu sync.Mutex
	reported := 0
	for i, p := range places {
		g.Go(func() error {
			for c := range feeds[i] {
				if err := p.store.write(ctx, p.tables, c); err != nil {
					return err
				}
				if progress != nil {
					mu.Lock()
					p.done += c.subjects
					least := p.done
					for _, q := range places {
						least = min(least, q.done)
					}
					if least > reported {
						reported = least
						progress(least, n)
					}
					mu.Unlock()
				}
			}
			return nil
		})
	}
	return counts, g.Wait()
}
