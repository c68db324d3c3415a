package retention_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/retention"
)

// now is the fixed instant the tests run at: ages are counted from it.
var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return now }

// estate is one database of one engine, with a raw handle to check what
// is really stored.
type estate struct {
	driver, dsn string
	db          *sql.DB
	// ts is how a time is written as a parameter in the fixture rows.
	ts func(time.Time) any
}

func engines(t *testing.T) map[string]func(t *testing.T) estate {
	return map[string]func(t *testing.T) estate{
		"postgres": func(t *testing.T) estate {
			dsn := testenv.PostgresSchema(t)
			return open(t, estate{driver: lethe.DriverPostgres, dsn: dsn}, "pgx", dsn, func(x time.Time) any { return x })
		},
		"mysql": func(t *testing.T) estate {
			dsn := testenv.MySQLDatabase(t)
			return open(t, estate{driver: lethe.DriverMySQL, dsn: dsn}, "mysql", dsn, func(x time.Time) any { return x })
		},
		"sqlite": func(t *testing.T) estate {
			path := filepath.Join(t.TempDir(), "shop.db")
			// SQLite has no time type: text as applications write it.
			return open(t, estate{driver: lethe.DriverSQLite, dsn: path}, "sqlite", path, func(x time.Time) any { return x.UTC().Format("2006-01-02 15:04:05") })
		},
	}
}

func open(t *testing.T, e estate, driver, dsn string, ts func(time.Time) any) estate {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db, e.ts = db, ts
	return e
}

func (e estate) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if e.driver == lethe.DriverPostgres {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := e.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e estate) ids(t *testing.T, q string) []int64 {
	t.Helper()
	rows, err := e.db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func timeType(driver string) string {
	switch driver {
	case lethe.DriverPostgres:
		return "timestamptz"
	case lethe.DriverMySQL:
		return "DATETIME"
	}
	return "TEXT"
}

// seedAccounts writes 30 accounts: 1-10 past the limit (closed, seen 5
// years ago, created 6 years ago), 11-15 as old but open, 16-20 closed
// but seen a year ago, 21-25 old and closed but created a year ago (the
// two-year hold keeps them), 26-30 never seen (NULL).
func seedAccounts(t *testing.T, e estate) {
	tt := timeType(e.driver)
	e.exec(t, "CREATE TABLE accounts (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL, status VARCHAR(20) NOT NULL, last_seen "+tt+" NULL, created_at "+tt+" NOT NULL)")
	old, young := now.AddDate(-5, 0, 0), now.AddDate(-1, 0, 0)
	for id := 1; id <= 30; id++ {
		status, seen, created := "closed", any(e.ts(old)), e.ts(now.AddDate(-6, 0, 0))
		switch {
		case id <= 10:
		case id <= 15:
			status = "open"
		case id <= 20:
			seen = e.ts(young)
		case id <= 25:
			created = e.ts(young)
		default:
			seen = nil
		}
		e.exec(t, "INSERT INTO accounts (id, email, status, last_seen, created_at) VALUES (?, ?, ?, ?, ?)", id, fmt.Sprintf("user%d@example.com", id), status, seen, created)
	}
}

// auditLog collects the entries a run appends.
type auditLog struct {
	mu      sync.Mutex
	records []lethe.AuditRecord
}

func (a *auditLog) Append(_ context.Context, recs ...lethe.AuditRecord) ([]lethe.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, recs...)
	return nil, nil
}

func newEngine(t testing.TB, e estate, collections string, batch int, audit retention.Auditor) (*retention.Engine, *connector.Set) {
	t.Helper()
	src := fmt.Sprintf(`
controller: {name: Shop}
purposes: [{id: accounts, lawful_basis: contract, retention: 3y}]
datastores:
  shop:
    driver: %s
    dsn: %q
    collections:
%s`, e.driver, e.dsn, collections)
	cfg, err := config.Parse([]byte(src), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	t.Cleanup(func() { set.Close() })
	key := []byte("0123456789abcdef0123456789abcdef")
	eng, err := retention.New(retention.Options{
		Config: cfg, Connectors: set, BatchSize: batch, Clock: fixedClock{}, Audit: audit, Actor: "test",
		Masks: func(s string) (lethe.Mask, error) { return mask.Parse(s, key) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return eng, set
}

const accountsMap = `      accounts:
        identities: {email: email}
        purposes: [accounts]
        fields: {email: {category: contact.email}}
        hold: {basis: legal_claims, reason: claims, keep_for: 2y, since: created_at}
        retention:
          column: last_seen
          where: [{column: status, equals: closed}]
`

func TestDeleteRespectsLimitFilterAndHold(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := mk(t)
			seedAccounts(t, e)
			audit := &auditLog{}
			eng, _ := newEngine(t, e, accountsMap, 3, audit)
			ctx := context.Background()

			plan, err := eng.Plan(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Collections) != 1 || plan.Collections[0].Rows != 10 || plan.Collections[0].Error != "" {
				t.Fatalf("plan = %+v", plan.Collections)
			}
			p := plan.Collections[0]
			if p.MaxAge != "3y" || p.Action != lethe.EraseDelete || p.Oldest == nil || p.Oldest.Year() != 2021 {
				t.Errorf("plan: max_age %s (the purpose's 3y), action %s, oldest %v", p.MaxAge, p.Action, p.Oldest)
			}
			if got := e.ids(t, "SELECT id FROM accounts"); len(got) != 30 {
				t.Fatalf("Plan changed the table: %d rows", len(got))
			}

			var progress []retention.Progress
			run, err := eng.Run(ctx, retention.RunParams{Progress: func(p retention.Progress) { progress = append(progress, p) }})
			if err != nil {
				t.Fatal(err)
			}
			c := run.Collections[0]
			if run.Done != 10 || c.Done != 10 || c.Batches != 4 || c.MaxLock <= 0 || run.Failed != 0 {
				t.Errorf("run: done %d, batches %d (want 4 of at most 3), max lock %v, failed %d", c.Done, c.Batches, c.MaxLock, run.Failed)
			}
			want := []int64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30}
			if got := e.ids(t, "SELECT id FROM accounts ORDER BY id"); !slices.Equal(got, want) {
				t.Errorf("rows left %v, want the open, young, held and never seen ones %v", got, want)
			}
			if len(progress) != 4 || progress[3].Done != 10 || progress[3].Total != 10 {
				t.Errorf("progress = %+v", progress)
			}

			if len(audit.records) != 1 {
				t.Fatalf("%d audit entries, want 1", len(audit.records))
			}
			rec := audit.records[0]
			if rec.Action != "retention.run" || rec.Details["shop.accounts"] != "delete 10" || rec.Details["rows"] != "10" {
				t.Errorf("audit entry %+v", rec)
			}
			for k, v := range rec.Details {
				if strings.Contains(k+v, "@") {
					t.Errorf("the audit entry holds personal data: %s=%s", k, v)
				}
			}

			// Nothing is left to do.
			again, err := eng.Run(ctx, retention.RunParams{})
			if err != nil || again.Done != 0 {
				t.Errorf("second run: %d rows, %v", again.Done, err)
			}
		})
	}
}

func TestInterruptedRunResumes(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := mk(t)
			seedAccounts(t, e)
			audit := &auditLog{}
			eng, _ := newEngine(t, e, accountsMap, 2, audit)
			ctx, cancel := context.WithCancel(context.Background())
			// The run is killed after its second batch.
			run, err := eng.Run(ctx, retention.RunParams{Progress: func(p retention.Progress) {
				if p.Done >= 4 {
					cancel()
				}
			}})
			if err == nil || !run.Interrupted {
				t.Fatalf("cancelled run: %v, interrupted %v", err, run.Interrupted)
			}
			left := e.ids(t, "SELECT id FROM accounts WHERE id <= 10 ORDER BY id")
			if run.Done != 4 || !slices.Equal(left, []int64{5, 6, 7, 8, 9, 10}) {
				t.Errorf("after the kill: done %d, rows 1-10 left %v; want the first two batches gone", run.Done, left)
			}
			if len(audit.records) != 1 || audit.records[0].Details["interrupted"] != "true" {
				t.Errorf("the interrupted run is not audited as such: %+v", audit.records)
			}
			run, err = eng.Run(context.Background(), retention.RunParams{})
			if err != nil || run.Done != 6 {
				t.Fatalf("re-run: %d rows, %v; want the 6 left", run.Done, err)
			}
			if got := e.ids(t, "SELECT id FROM accounts WHERE id <= 10"); len(got) != 0 {
				t.Errorf("rows past the limit left after the re-run: %v", got)
			}
			if got := e.ids(t, "SELECT id FROM accounts"); len(got) != 20 {
				t.Errorf("%d rows left, want the 20 kept", len(got))
			}
		})
	}
}

func TestAnonymise(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := mk(t)
			tt := timeType(e.driver)
			e.exec(t, "CREATE TABLE events (id BIGINT PRIMARY KEY, user_id BIGINT NULL, ip VARCHAR(64) NULL, occurred_at "+tt+" NOT NULL)")
			for id := 1; id <= 10; id++ {
				at := now.AddDate(0, -20, 0)
				if id > 7 {
					at = now.AddDate(0, -2, 0)
				}
				e.exec(t, "INSERT INTO events (id, user_id, ip, occurred_at) VALUES (?, ?, ?, ?)", id, 100+id, fmt.Sprintf("203.0.113.%d", id), e.ts(at))
			}
			eng, _ := newEngine(t, e, `      events:
        references: {user_id: users.id}
        fields:
          user_id: {category: online.identifier, erase: "null"}
          ip: {category: network.ip, erase: truncate.ip}
        retention: {column: occurred_at, max_age: 14mo, action: anonymise}
      users:
        identities: {user_id: id}
`, 3, nil)
			ctx := context.Background()
			run, err := eng.Run(ctx, retention.RunParams{})
			if err != nil {
				t.Fatal(err)
			}
			var events retention.CollectionResult
			for _, c := range run.Collections {
				if c.Collection == "shop.events" {
					events = c
				}
			}
			if events.Done != 7 || events.Action != lethe.EraseAnonymise {
				t.Fatalf("events: %+v", events)
			}
			if got := e.ids(t, "SELECT id FROM events WHERE user_id IS NULL AND ip = '203.0.113.0' ORDER BY id"); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7}) {
				t.Errorf("anonymised rows %v, want 1-7", got)
			}
			if got := e.ids(t, "SELECT id FROM events WHERE user_id = 100 + id AND ip <> '203.0.113.0' ORDER BY id"); !slices.Equal(got, []int64{8, 9, 10}) {
				t.Errorf("untouched rows %v, want the young 8-10", got)
			}
			plan, err := eng.Plan(ctx, []string{"shop"})
			if err != nil || plan.Rows != 0 {
				t.Errorf("after the run, the plan still covers %d rows (%v): anonymised rows must not match again", plan.Rows, err)
			}
		})
	}
}

func TestDailyAt(t *testing.T) {
	at, err := retention.ParseDailyAt("")
	if err != nil || at != (retention.DailyAt{Hour: 2}) {
		t.Fatalf("default = %+v, %v", at, err)
	}
	day := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name      string
		last, now time.Time
		due       bool
	}{
		{"never ran", time.Time{}, day(2, 1, 0), true},
		{"ran today after 02:00", day(2, 2, 5), day(2, 23, 0), false},
		{"ran yesterday, before today's slot", day(1, 2, 5), day(2, 1, 59), false},
		{"ran yesterday, at today's slot", day(1, 2, 5), day(2, 2, 0), true},
		{"missed three days", day(1, 2, 5), day(4, 15, 0), true},
	}
	for _, c := range cases {
		if got := at.Due(c.last, c.now); got != c.due {
			t.Errorf("%s: Due = %v, want %v", c.name, got, c.due)
		}
	}
	if _, err := retention.ParseDailyAt("25:00"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("25:00: %v, want EINVALID", err)
	}
}

// notices collects the warnings a run sends.
type notices struct {
	mu  sync.Mutex
	got []retention.Warning
}

func (n *notices) RetentionWarning(_ context.Context, w retention.Warning) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, w)
	return true, nil
}

func TestWarnWindow(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := mk(t)
			tt := timeType(e.driver)
			e.exec(t, "CREATE TABLE members (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL, seen "+tt+" NULL)")
			for id, days := range map[int]int{1: 40, 2: 25, 3: 21, 4: 10, 5: 0} { // days past 3 years ago: 1 is past the limit
				e.exec(t, "INSERT INTO members (id, email, seen) VALUES (?, ?, ?)", id, fmt.Sprintf("m%d@example.com", id), e.ts(now.AddDate(-3, 0, 30-days)))
			}
			e.exec(t, "INSERT INTO members (id, email, seen) VALUES (6, 'm6@example.com', NULL)")
			cfg := fmt.Sprintf(`
controller: {name: Shop}
purposes: [{id: accounts, lawful_basis: contract}]
datastores:
  shop:
    driver: %s
    dsn: %q
    collections:
      members:
        identities: {email: email}
        fields: {email: {category: contact.email}}
        retention: {column: seen, max_age: 3y, warn: {before: 14d, email: email}}
`, e.driver, e.dsn)
			parsed, err := config.Parse([]byte(cfg), "lethe.yaml")
			if err != nil {
				t.Fatal(err)
			}
			set := connector.NewSet(parsed.Datastores, connector.Options{})
			defer set.Close()
			n := &notices{}
			eng, _ := retention.New(retention.Options{Config: parsed, Connectors: set, Clock: fixedClock{}, Notifier: n})
			run, err := eng.Run(context.Background(), retention.RunParams{})
			if err != nil {
				t.Fatal(err)
			}
			// seen = now - 3y + (30 - days): 1 (-10d) is past the limit,
			// 2 (+5d) and 3 (+9d) are within 14 days of it, 4 (+20d) and
			// 5 (+30d) are not yet.
			var emails []string
			for _, w := range n.got {
				emails = append(emails, w.Email)
				if w.ID == "" || strings.Contains(w.ID, "@") || w.At.Before(now) {
					t.Errorf("notice %+v: id must be set and impersonal, the date ahead", w)
				}
			}
			slices.Sort(emails)
			if !slices.Equal(emails, []string{"m2@example.com", "m3@example.com"}) {
				t.Errorf("warned %v, want m2 and m3", emails)
			}
			if c := run.Collections[0]; c.Warned != 2 || c.Done != 1 {
				t.Errorf("run: warned %d, done %d; want 2 and 1", c.Warned, c.Done)
			}
		})
	}
}
