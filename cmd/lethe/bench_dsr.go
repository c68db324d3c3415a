package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/connector/webhook"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/internal/demo"
	"github.com/lethe-privacy/lethe/mask"
)

// benchDSROptions are the flags of `lethe bench dsr`.
type benchDSROptions struct {
	subjects, samples int
	postgres, mysql   string
	redis, configPath string
	noSeed            bool
	seed              int64
	cpuProfile        string
}

func newBenchDSRCmd(g *globals) *cobra.Command {
	o := benchDSROptions{}
	c := &cobra.Command{
		Use:   "dsr",
		Short: "Access and erasure latency over a seeded four-engine estate vs hand-written queries",
		Long: "Seeds the demo shop (examples/lethe-multi.yaml) across PostgreSQL, MariaDB, SQLite and Redis, then measures,\n" +
			"per subject, the engine's access export and erasure (with its pre-pass, verification and certificate) against\n" +
			"hand-written code doing the same indexed reads and the same deletes/updates directly, in the same run, on\n" +
			"alternating subjects. Reports p50/p99 and their ratios. The databases given are scratch: their demo tables are\n" +
			"replaced (PostgreSQL schema and MariaDB database lethe_bench by default, Redis database 5).",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchDSR(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := c.Flags()
	o.registerEstate(f)
	f.IntVar(&o.samples, "samples", 200, "requests per measurement (engine and baseline each)")
	f.BoolVar(&o.noSeed, "no-seed", false, "reuse an estate seeded by a previous run")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measurements to this file")
	return c
}

// registerEstate adds the flags of the seeded demo estate that the
// benchmarks over it share.
func (o *benchDSROptions) registerEstate(f *pflag.FlagSet) {
	f.IntVar(&o.subjects, "subjects", 100_000, "subjects in the seeded estate (about 13 rows each)")
	f.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&search_path=lethe_bench", "PostgreSQL URL for the shop tables (schema in search_path is created)")
	f.StringVar(&o.mysql, "mysql", "root@tcp(127.0.0.1:3306)/lethe_bench", "MariaDB DSN for analytics events (database is created)")
	f.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/5", "Redis URL for sessions and carts (the database's demo keys are replaced)")
	f.StringVar(&o.configPath, "datamap", "examples/lethe-multi.yaml", "the multi-store data map of the demo")
	f.Int64Var(&o.seed, "seed", 1, "demo seed")
}

// benchEstate is the seeded estate with raw handles for the baseline.
type benchEstate struct {
	cfg     *lethe.Config
	shop    *sql.DB
	events  *sql.DB
	support *sql.DB
	redis   *goredis.Client
	mailer  *benchMailer
	cutoff  time.Time
}

func benchDSR(ctx context.Context, stdout, stderr io.Writer, o benchDSROptions) error {
	dir, err := os.MkdirTemp("", "lethe-bench-dsr-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	supportPath := filepath.Join(dir, "support.db")
	if err := prepareBenchDatabases(ctx, o); err != nil {
		return err
	}
	if o.noSeed {
		return usageError{fmt.Errorf("--no-seed needs the SQLite file of a previous run, which is temporary; seed again")}
	}
	fmt.Fprintf(stderr, "seeding %d subjects across PostgreSQL, MariaDB, SQLite and Redis...\n", o.subjects)
	res, err := demo.Seed(ctx, demo.Options{
		Subjects: o.subjects, Seed: o.seed, Reset: true,
		PostgresURL: o.postgres, MySQLDSN: o.mysql, SupportSQLitePath: supportPath, RedisURL: o.redis,
		SQLitePath: filepath.Join(dir, "shop.db"),
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stderr, "seeded %d rows in %s\n", res.Rows, res.Elapsed.Round(time.Millisecond))

	mailer, err := startBenchMailer()
	if err != nil {
		return err
	}
	defer mailer.close()
	for k, v := range map[string]string{
		"SHOP_DATABASE_URL": o.postgres, "ANALYTICS_DSN": o.mysql, "SUPPORT_SQLITE_PATH": supportPath, "SESSIONS_REDIS_URL": o.redis,
		"MAILER_WEBHOOK_URL": mailer.url, "MAILER_WEBHOOK_SECRET": string(mailer.secret),
	} {
		os.Setenv(k, v)
	}
	cfg, _, err := config.Load(o.configPath)
	if err != nil {
		return err
	}
	var dropped []string
	builtin := connector.Builtin()
	for name, ds := range cfg.Datastores {
		if builtin[ds.Driver] == nil {
			dropped = append(dropped, name+" ("+ds.Driver+")")
			delete(cfg.Datastores, name)
		}
	}
	e, err := openBenchEstate(ctx, cfg, o, supportPath)
	if err != nil {
		return err
	}
	e.mailer = mailer
	defer e.close()

	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	key, _ := hkdf.Key(sha256.New, []byte("bench"), nil, "lethe mask key v1", 32)
	eng, err := dsr.New(dsr.Options{
		Config: cfg, Connectors: set, TempDir: dir,
		Masks: func(s string) (lethe.Mask, error) { return mask.Parse(s, key) },
	})
	if err != nil {
		return err
	}

	// Subjects with an account, spread over the estate; the ones with the
	// fixed awkward identities are left out so that every sample is alike.
	var picks []demo.Subject
	step := max(1, o.subjects/(6*o.samples+8)) // every tenth subject has no account
	for i := 11; len(picks) < 5*o.samples && i <= o.subjects; i += step {
		if s := demo.SampleSubject(o.seed, i); s.HasAccount() {
			picks = append(picks, s)
		}
	}
	if len(picks) < 5*o.samples {
		return usageError{fmt.Errorf("the estate has too few subjects for %d samples; raise --subjects", o.samples)}
	}
	ids := func(s demo.Subject) []lethe.Identity {
		return []lethe.Identity{{Type: lethe.IdentityEmail, Value: s.Email}, {Type: lethe.IdentityUserID, Value: fmt.Sprint(s.UserID)}}
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var accEngine, accBase, eraEngine, eraBase []time.Duration
	var accRows int64
	fmt.Fprintln(stderr, "measuring access...")
	for i := 0; i < 2*o.samples; i++ {
		s := picks[i]
		start := time.Now()
		if i%2 == 0 {
			r, err := eng.Access(ctx, dsr.AccessParams{RequestID: fmt.Sprint("bench-", i), Identities: ids(s)}, io.Discard)
			if err != nil {
				return fmt.Errorf("engine access: %w", err)
			}
			if len(r.Failed) > 0 {
				return fmt.Errorf("engine access: %s failed: %s", r.Failed[0].Datastore, r.Failed[0].Message)
			}
			accEngine = append(accEngine, time.Since(start))
			accRows += r.Rows
		} else {
			if _, err := e.baselineAccess(ctx, s); err != nil {
				return fmt.Errorf("baseline access: %w", err)
			}
			accBase = append(accBase, time.Since(start))
		}
	}
	fmt.Fprintln(stderr, "measuring erasure...")
	var eraChecked []time.Duration
	for k := 0; k < 3*o.samples; k++ {
		s := picks[2*o.samples+k]
		start := time.Now()
		switch k % 3 {
		case 0:
			cert, err := eng.Erase(ctx, dsr.EraseParams{RequestID: fmt.Sprint("bench-", k), Identities: ids(s)})
			if err != nil {
				return fmt.Errorf("engine erase: %w", err)
			}
			if cert.Status != dsr.StatusCompleted || !cert.Verification.Passed {
				b, _ := json.Marshal(cert)
				return fmt.Errorf("engine erase did not complete: %s", b)
			}
			eraEngine = append(eraEngine, time.Since(start))
		case 1:
			if err := e.baselineErase(ctx, s); err != nil {
				return fmt.Errorf("baseline erase: %w", err)
			}
			eraBase = append(eraBase, time.Since(start))
		case 2:
			if err := e.baselineEraseChecked(ctx, s); err != nil {
				return fmt.Errorf("baseline erase with checks: %w", err)
			}
			eraChecked = append(eraChecked, time.Since(start))
		}
	}

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "estate: %d subjects, %d rows, datastores %s\n", o.subjects, res.Rows, strings.Join(cfg.DatastoreNames(), ", "))
	if len(dropped) > 0 {
		fmt.Fprintf(tw, "not measured (no connector yet): %s\n", strings.Join(dropped, ", "))
	}
	fmt.Fprintf(tw, "access: %.1f rows per subject on average\n", float64(accRows)/float64(len(accEngine)))
	fmt.Fprintln(tw, "MEASUREMENT\tENGINE p50\tBASELINE p50\tRATIO p50\tENGINE p99\tBASELINE p99\tRATIO p99")
	row := func(name string, en, ba []time.Duration) {
		e50, b50, e99, b99 := pct(en, 50), pct(ba, 50), pct(en, 99), pct(ba, 99)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%.2f\n", name, ms(e50), ms(b50), float64(e50)/float64(b50), ms(e99), ms(b99), float64(e99)/float64(b99))
	}
	row("access", accEngine, accBase)
	row("erasure", eraEngine, eraBase)
	row("erasure vs checked", eraEngine, eraChecked)
	fmt.Fprintln(tw, "goal: engine within 2x of the baseline (ratio <= 2.0); \"checked\" is the hand-written erasure that also looks the user up by e-mail first and reads every table again afterwards, as the engine's verification does")
	return tw.Flush()
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// prepareBenchDatabases creates the PostgreSQL schema and the MariaDB
// database the flags name, if missing.
func prepareBenchDatabases(ctx context.Context, o benchDSROptions) error {
	u, err := url.Parse(o.postgres)
	if err != nil {
		return usageError{fmt.Errorf("--postgres is not a URL")}
	}
	if schema := u.Query().Get("search_path"); schema != "" {
		if !lethe.IsIdentifier(schema) {
			return usageError{fmt.Errorf("--postgres: search_path must be a plain identifier")}
		}
		db, err := sql.Open("pgx", o.postgres)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return lethe.Errorf(lethe.EUNAVAILABLE, "create the PostgreSQL schema %s: %v", schema, lethe.ErrorMessage(err))
		}
	}
	mc, err := gomysql.ParseDSN(o.mysql)
	if err != nil {
		return usageError{fmt.Errorf("--mysql is not a DSN")}
	}
	name := mc.DBName
	if !lethe.IsIdentifier(name) {
		return usageError{fmt.Errorf("--mysql: the database name must be a plain identifier")}
	}
	mc.DBName = ""
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+name+" CHARACTER SET utf8mb4"); err != nil {
		return lethe.Errorf(lethe.EUNAVAILABLE, "create the MariaDB database %s: %v", name, lethe.ErrorMessage(err))
	}
	return nil
}

func openBenchEstate(ctx context.Context, cfg *lethe.Config, o benchDSROptions, supportPath string) (*benchEstate, error) {
	e := &benchEstate{cfg: cfg, cutoff: time.Now().AddDate(-10, 0, 0)}
	var err error
	if e.shop, err = sql.Open("pgx", o.postgres); err != nil {
		return nil, err
	}
	mc, _ := gomysql.ParseDSN(o.mysql)
	mc.ParseTime = true
	if e.events, err = sql.Open("mysql", mc.FormatDSN()); err != nil {
		return nil, err
	}
	if e.support, err = sql.Open("sqlite", "file:"+supportPath+"?_pragma=busy_timeout(10000)"); err != nil {
		return nil, err
	}
	for _, db := range []*sql.DB{e.shop, e.events, e.support} {
		db.SetMaxIdleConns(8) // as the connectors do: no dialling inside a measurement
	}
	ro, err := goredis.ParseURL(o.redis)
	if err != nil {
		return nil, usageError{fmt.Errorf("--redis is not a URL")}
	}
	e.redis = goredis.NewClient(ro)
	return e, e.redis.Ping(ctx).Err()
}

func (e *benchEstate) close() {
	e.shop.Close()
	e.events.Close()
	e.support.Close()
	e.redis.Close()
}

// baselineAccess is what a developer would write by hand to export one
// subject: the same indexed queries, per datastore concurrently, each row
// encoded as JSON into a ZIP (discarded).
func (e *benchEstate) baselineAccess(ctx context.Context, s demo.Subject) (int64, error) {
	var mu sync.Mutex
	zw := zip.NewWriter(io.Discard)
	var n int64
	emit := func(name string, rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var buf []byte
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			rec := make(map[string]any, len(cols))
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					rec[c] = string(b)
				} else {
					rec[c] = vals[i]
				}
			}
			b, _ := json.Marshal(rec)
			buf = append(append(buf, b...), '\n')
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		w, err := zw.Create(name)
		if err != nil {
			return err
		}
		_, err = w.Write(buf)
		return err
	}
	uid := s.UserID
	var wg sync.WaitGroup
	errs := make([]error, 5)
	wg.Add(5)
	go func() {
		defer wg.Done()
		body, err := e.mailer.call(ctx, "access", s.Email)
		if err == nil {
			mu.Lock()
			var w io.Writer
			if w, err = zw.Create("mailer"); err == nil {
				_, err = w.Write(body)
			}
			mu.Unlock()
		}
		errs[4] = err
	}()
	go func() {
		defer wg.Done()
		q := func(name, query string, args ...any) {
			if errs[0] == nil {
				rows, err := e.shop.QueryContext(ctx, query, args...)
				errs[0] = emit(name, rows, err)
			}
		}
		q("users", `SELECT * FROM users WHERE id = $1 OR email = $2`, uid, s.Email)
		q("addresses", `SELECT * FROM addresses WHERE user_id = $1`, uid)
		q("orders", `SELECT * FROM orders WHERE user_id = $1`, uid)
		q("order_items", `SELECT * FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id = $1)`, uid)
		q("newsletter", `SELECT * FROM newsletter_subscriptions WHERE email = $1`, s.Email)
	}()
	go func() {
		defer wg.Done()
		rows, err := e.events.QueryContext(ctx, `SELECT * FROM analytics_events WHERE user_id = ?`, uid)
		errs[1] = emit("events", rows, err)
	}()
	go func() {
		defer wg.Done()
		rows, err := e.support.QueryContext(ctx, `SELECT * FROM support_tickets WHERE user_id = ? OR email = ?`, uid, s.Email)
		errs[2] = emit("tickets", rows, err)
	}()
	go func() {
		defer wg.Done()
		p := e.redis.Pipeline()
		h := p.HGetAll(ctx, fmt.Sprint("session:", uid))
		l := p.LRange(ctx, fmt.Sprint("cart:", uid), 0, -1)
		if _, err := p.Exec(ctx); err != nil && err != goredis.Nil {
			errs[3] = err
			return
		}
		b, _ := json.Marshal(map[string]any{"session": h.Val(), "cart": l.Val()})
		mu.Lock()
		defer mu.Unlock()
		w, err := zw.Create("redis")
		if err == nil {
			_, err = w.Write(b)
		}
		errs[3] = err
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return n, err
		}
	}
	return n, zw.Close()
}

// baselineErase is the same erasure written by hand: per datastore one
// transaction with the deletes and updates the data map asks for, the
// datastores concurrently. It does not count, verify or certify.
func (e *benchEstate) baselineErase(ctx context.Context, s demo.Subject) error {
	uid := s.UserID
	var wg sync.WaitGroup
	errs := make([]error, 5)
	wg.Add(5)
	go func() {
		defer wg.Done()
		_, errs[4] = e.mailer.call(ctx, "erasure", s.Email)
	}()
	go func() {
		defer wg.Done()
		errs[0] = inTx(ctx, e.shop, func(tx *sql.Tx) error {
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`DELETE FROM addresses WHERE user_id = $1`, []any{uid}},
				{`UPDATE orders SET shipping_name = 'Anonymous', shipping_address = '***' WHERE user_id = $1 AND created_at < $2`, []any{uid, e.cutoff}},
				{`DELETE FROM newsletter_subscriptions WHERE email = $1`, []any{s.Email}},
				{`DELETE FROM users WHERE id = $1 OR email = $2`, []any{uid, s.Email}},
			} {
				if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	go func() {
		defer wg.Done()
		errs[1] = inTx(ctx, e.events, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE analytics_events SET user_id = NULL, user_agent = NULL, ip = CONCAT(SUBSTRING_INDEX(ip, '.', 3), '.0') WHERE user_id = ?`, uid)
			return err
		})
	}()
	go func() {
		defer wg.Done()
		errs[2] = inTx(ctx, e.support, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM support_tickets WHERE user_id = ? OR email = ?`, uid, s.Email)
			return err
		})
	}()
	go func() {
		defer wg.Done()
		errs[3] = e.redis.Del(ctx, fmt.Sprint("session:", uid), fmt.Sprint("cart:", uid)).Err()
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// baselineEraseChecked is the hand-written erasure a careful developer
// would write: look the account up by e-mail, erase as baselineErase does,
// then read every table again to check that nothing of the subject is
// left. It is what the engine does, without the engine.
func (e *benchEstate) baselineEraseChecked(ctx context.Context, s demo.Subject) error {
	var uid int64
	if err := e.shop.QueryRowContext(ctx, `SELECT id FROM users WHERE email = $1`, s.Email).Scan(&uid); err != nil {
		return err
	}
	if err := e.baselineErase(ctx, s); err != nil {
		return err
	}
	checks := []struct {
		db    *sql.DB
		query string
		args  []any
	}{
		{e.shop, `SELECT count(*) FROM addresses WHERE user_id = $1`, []any{uid}},
		{e.shop, `SELECT count(*) FROM orders WHERE user_id = $1 AND created_at < $2 AND shipping_name <> 'Anonymous'`, []any{uid, e.cutoff}},
		{e.shop, `SELECT count(*) FROM newsletter_subscriptions WHERE email = $1`, []any{s.Email}},
		{e.shop, `SELECT count(*) FROM users WHERE id = $1 OR email = $2`, []any{uid, s.Email}},
		{e.events, `SELECT count(*) FROM analytics_events WHERE user_id = ?`, []any{uid}},
		{e.support, `SELECT count(*) FROM support_tickets WHERE user_id = ? OR email = ?`, []any{uid, s.Email}},
	}
	errs := make([]error, len(checks)+1)
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			if err := c.db.QueryRowContext(ctx, c.query, c.args...).Scan(&n); err != nil {
				errs[i] = err
			} else if n != 0 {
				errs[i] = fmt.Errorf("%d rows left", n)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := e.redis.Exists(ctx, fmt.Sprint("session:", uid), fmt.Sprint("cart:", uid)).Result()
		if err == nil && n != 0 {
			err = fmt.Errorf("%d keys left", n)
		}
		errs[len(checks)] = err
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// benchMailer stands in for the mailing service of the multi-store data
// map: a webhook receiver on loopback that verifies Lethe's signature and
// answers from memory, so that the webhook datastore is measured too.
type benchMailer struct {
	url    string
	secret []byte
	srv    *http.Server
	client *http.Client
	mu     sync.Mutex
	erased map[string]bool
}

func startBenchMailer() (*benchMailer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &benchMailer{url: "http://" + ln.Addr().String() + "/lethe", secret: []byte("bench-mailer-secret-0123456789ab"), erased: map[string]bool{}, client: &http.Client{}}
	m.srv = &http.Server{Handler: webhook.VerifyRequest(m.secret, http.HandlerFunc(m.serve)), ReadHeaderTimeout: 5 * time.Second}
	go m.srv.Serve(ln)
	return m, nil
}

func (m *benchMailer) close() { m.srv.Close() }

func (m *benchMailer) serve(w http.ResponseWriter, r *http.Request) {
	var call struct {
		Action     string              `json:"action"`
		Identities map[string][]string `json:"identities"`
	}
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, "bad call", http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	rows := []map[string]any{}
	erased := 0
	for _, email := range call.Identities["email"] {
		if m.erased[email] {
			continue
		}
		if call.Action == "erasure" {
			m.erased[email] = true
			erased++
			continue
		}
		rows = append(rows, map[string]any{"email": email, "first_name": strings.Split(email, ".")[0], "opens": 12})
	}
	if call.Action == "erasure" {
		json.NewEncoder(w).Encode(map[string]int{"erased": erased})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"rows": rows})
}

// call is the baseline's hand-written signed call.
func (m *benchMailer) call(ctx context.Context, action, email string) ([]byte, error) {
	body, _ := json.Marshal(map[string]any{"action": action, "collection": "subscribers", "identities": map[string][]string{"email": {email}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lethe-Signature", webhook.Sign(m.secret, body, time.Now()))
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mailer answered %d", resp.StatusCode)
	}
	return out, err
}
