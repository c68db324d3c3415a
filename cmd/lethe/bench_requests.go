package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/internal/demo"
)

// benchRequestsOptions are the flags of `lethe bench requests`.
type benchRequestsOptions struct {
	benchDSROptions
	requests int
	store    string // PostgreSQL URL for Lethe's own store (two workers)
}

func newBenchRequestsCmd() *cobra.Command {
	o := benchRequestsOptions{}
	c := &cobra.Command{
		Use:   "requests",
		Short: "Erasure requests processed per minute by the request workers vs a loop calling the engine directly",
		Long: "Seeds the demo shop (examples/lethe-multi.yaml) across PostgreSQL, MariaDB, SQLite, Redis and a webhook, then\n" +
			"erases --requests subjects four ways, each on subjects of its own, and reports requests per minute:\n" +
			"  loop     one loop calling the engine's Erase directly (the baseline: audit, tombstones, shred included),\n" +
			"           once on the embedded store and once on the PostgreSQL store (--store)\n" +
			"  node     requests recorded verified and run by one process's worker on the embedded store\n" +
			"  2 procs  requests run by two `lethe serve` processes sharing the PostgreSQL store\n" +
			"The worker does what the loop does plus the lifecycle: leases, checkpoints, transitions, notices.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchRequests(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := c.Flags()
	o.registerEstate(f)
	f.IntVar(&o.requests, "requests", 200, "erasure requests per measurement")
	f.StringVar(&o.store, "store", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&search_path=lethe_bench_store", "PostgreSQL URL for Lethe's store of the two-process run (the schema in search_path is dropped and created)")
	return c
}

func benchRequests(ctx context.Context, stdout, stderr io.Writer, o benchRequestsOptions) error {
	dir, err := os.MkdirTemp("", "lethe-bench-requests-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	supportPath := filepath.Join(dir, "support.db")
	if err := prepareBenchDatabases(ctx, o.benchDSROptions); err != nil {
		return err
	}
	storeURL, err := freshSchema(ctx, o.store)
	if err != nil {
		return err
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
	cfgPath, err := filepath.Abs(o.configPath)
	if err != nil {
		return err
	}

	var picks []demo.Subject
	step := max(1, o.subjects/(5*o.requests+8))
	for i := 11; len(picks) < 4*o.requests && i <= o.subjects; i += step {
		if s := demo.SampleSubject(o.seed, i); s.HasAccount() {
			picks = append(picks, s)
		}
	}
	if len(picks) < 4*o.requests {
		return usageError{fmt.Errorf("the estate has too few subjects for %d requests; raise --subjects", o.requests)}
	}
	ids := func(s demo.Subject) []lethe.Identity {
		return []lethe.Identity{{Type: lethe.IdentityEmail, Value: s.Email}, {Type: lethe.IdentityUserID, Value: fmt.Sprint(s.UserID)}}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	loop := func(a *app.App, subjects []demo.Subject) (time.Duration, error) {
		start := time.Now()
		for _, s := range subjects {
			cert, err := a.DSR.Erase(ctx, dsr.EraseParams{RequestID: "req_loop_" + fmt.Sprint(s.UserID), Identities: ids(s)})
			if err != nil {
				return 0, fmt.Errorf("engine erase: %w", err)
			}
			if cert.Status != dsr.StatusCompleted {
				return 0, fmt.Errorf("engine erase: %s", cert.Status)
			}
		}
		return time.Since(start), nil
	}
	// create records the requests, verified, as an application with a
	// trusted key does; workers already running pick them up at once.
	create := func(a *app.App, subjects []demo.Subject) ([]string, error) {
		var created []string
		for _, s := range subjects {
			r, err := a.Requests.Create(ctx, dsr.CreateParams{Type: lethe.RequestErasure, Identities: ids(s), Verified: true, Actor: "bench"})
			if err != nil {
				return nil, err
			}
			created = append(created, r.ID)
		}
		return created, nil
	}
	n := o.requests

	fmt.Fprintln(stderr, "measuring the loop and one node's worker on the embedded store...")
	a, err := app.Open(ctx, app.Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "node"), Logger: quiet, Actor: "bench"})
	if err != nil {
		return err
	}
	defer a.Close()
	loopNode, err := loop(a, picks[:n])
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go a.Requests.Run(wctx)
	start := time.Now()
	created, err := create(a, picks[n:2*n])
	if err == nil {
		err = waitFinished(ctx, a.Store, created)
	}
	node := time.Since(start)
	stop()
	if err != nil {
		return err
	}

	fmt.Fprintln(stderr, "measuring the loop and two worker processes on a PostgreSQL store...")
	pgDir := filepath.Join(dir, "pg")
	b, err := app.Open(ctx, app.Options{ConfigPath: cfgPath, DataDir: pgDir, DatabaseURL: storeURL, Logger: quiet, Actor: "bench"})
	if err != nil {
		return err
	}
	defer b.Close()
	loopPG, err := loop(b, picks[2*n:3*n])
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
	}()
	for range 2 {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		p := exec.Command(self, "--config", cfgPath, "--data-dir", pgDir, "--database-url", storeURL, "serve", "--addr", addr, "--checkpoint-interval", "0")
		p.Stdout, p.Stderr = io.Discard, io.Discard
		if err := p.Start(); err != nil {
			return err
		}
		procs = append(procs, p)
		if err := waitReady(ctx, addr); err != nil {
			return err
		}
	}
	start = time.Now()
	created, err = create(b, picks[3*n:4*n])
	if err == nil {
		err = waitFinished(ctx, b.Store, created)
	}
	two := time.Since(start)
	if err != nil {
		return err
	}

	perMin := func(d time.Duration) float64 { return float64(o.requests) / d.Minutes() }
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "estate: %d subjects, %d rows; %d erasure requests per measurement\n", o.subjects, res.Rows, o.requests)
	fmt.Fprintln(tw, "MEASUREMENT\tELAPSED\tREQUESTS/MIN\tRATIO TO LOOP")
	fmt.Fprintf(tw, "loop calling the engine (embedded store)\t%s\t%.0f\t1.00\n", loopNode.Round(time.Millisecond), perMin(loopNode))
	fmt.Fprintf(tw, "one node's worker (embedded store)\t%s\t%.0f\t%.2f\n", node.Round(time.Millisecond), perMin(node), perMin(node)/perMin(loopNode))
	fmt.Fprintf(tw, "loop calling the engine (PostgreSQL store)\t%s\t%.0f\t1.00\n", loopPG.Round(time.Millisecond), perMin(loopPG))
	fmt.Fprintf(tw, "two worker processes (PostgreSQL store)\t%s\t%.0f\t%.2f\n", two.Round(time.Millisecond), perMin(two), perMin(two)/perMin(loopPG))
	fmt.Fprintln(tw, "workers: from the first request recorded to the last one completed (recording included); loops: the engine alone")
	return tw.Flush()
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady waits until lethe serve at addr answers /readyz.
func waitReady(ctx context.Context, addr string) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("lethe serve on %s did not become ready", addr)
}

// waitFinished polls the store until every request finished, and fails
// if one did not complete.
func waitFinished(ctx context.Context, store lethe.RequestStore, ids []string) error {
	left := map[string]bool{}
	for _, id := range ids {
		left[id] = true
	}
	for deadline := time.Now().Add(30 * time.Minute); len(left) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d requests did not finish in 30 minutes", len(left))
		}
		for id := range left {
			r, err := store.RequestGet(ctx, id)
			if err != nil {
				return err
			}
			if r.Status.Finished() {
				if r.Status != lethe.RequestCompleted {
					return fmt.Errorf("request %s: %s (%s)", id, r.Status, r.Error)
				}
				delete(left, id)
			}
		}
	}
	return nil
}

// freshSchema drops and creates the schema named by the URL's
// search_path, for Lethe's store.
func freshSchema(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", usageError{fmt.Errorf("--store is not a URL")}
	}
	schema := u.Query().Get("search_path")
	if !lethe.IsIdentifier(schema) || !strings.HasPrefix(schema, "lethe_bench") {
		return "", usageError{fmt.Errorf("--store: search_path must be a scratch schema named lethe_bench...")}
	}
	db, err := sql.Open("pgx", raw)
	if err != nil {
		return "", err
	}
	defer db.Close()
	for _, q := range []string{"DROP SCHEMA IF EXISTS " + schema + " CASCADE", "CREATE SCHEMA " + schema} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return "", lethe.Errorf(lethe.EUNAVAILABLE, "prepare the store schema %s: %v", schema, lethe.ErrorMessage(err))
		}
	}
	return raw, nil
}
