package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/consent"
	api "github.com/lethe-privacy/lethe/http"
)

// benchConfig is the purpose set the benchmark records against.
func benchConfig() *lethe.Config {
	return &lethe.Config{
		Controller:   lethe.Controller{Name: "Bench GmbH"},
		Jurisdiction: lethe.GDPR,
		Purposes: []lethe.Purpose{
			{ID: "marketing_email", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03", ConsentMaxAge: lethe.Duration{Months: 13}},
			{ID: "analytics", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03"},
		},
	}
}

func newBenchCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "bench", Short: "Reproducible benchmarks, reported as ratios against baselines measured in the same run"}
	var n, writers, rounds, checks, subjects, conns int
	var dur time.Duration
	consentCmd := &cobra.Command{
		Use:   "consent",
		Short: "Ledger append vs raw insert, in-process check, HTTP check vs a bare handler",
		Long: "Measures, in one run, on a fresh database: the ledger's append rate against raw INSERTs of equivalent rows into\n" +
			"the same engine with the same durability (ratio); in-process check ns/op; and HTTP check req/s against a bare\n" +
			"net/http handler on the same machine (ratio). Uses a temporary embedded database (at the durability of\n" +
			"--sqlite-synchronous, full by default), or with --database-url the PostgreSQL database given (its tables get\n" +
			"benchmark rows: give a scratch database).",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchConsent(cmd.Context(), cmd.OutOrStdout(), g.databaseURL, g.synchronous, n, writers, rounds, checks, subjects, conns, dur)
		},
	}
	f := consentCmd.Flags()
	f.IntVar(&n, "appends", 10000, "events appended per ledger measurement (new subjects, returning subjects), and rows per raw baseline run")
	f.IntVar(&writers, "writers", 8, "concurrent appenders in the second append measurement (as a server's request goroutines); the raw baseline runs with as many")
	f.IntVar(&rounds, "rounds", 5, "rounds each append measurement is split into, raw and ledger alternating")
	f.IntVar(&checks, "checks", 1_000_000, "in-process checks")
	f.IntVar(&subjects, "subjects", 1000, "distinct subjects checked")
	f.IntVar(&conns, "connections", 2*runtime.GOMAXPROCS(0), "concurrent HTTP connections")
	f.DurationVar(&dur, "duration", 5*time.Second, "time per HTTP measurement")
	c.AddCommand(consentCmd)
	return c
}

type rawBaseline interface {
	RawInsertBaseline(ctx context.Context, n, writers int) (time.Duration, error)
}

// concurrently runs fn(0) to fn(n-1) from the given number of goroutines
// and returns how long they took together, or the first error.
func concurrently(n, writers int, fn func(i int) error) (time.Duration, error) {
	var (
		next     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return time.Since(start), nil
}

func benchConsent(ctx context.Context, w io.Writer, databaseURL, synchronous string, n, writers, rounds, checks, subjects, conns int, dur time.Duration) error {
	dir, err := os.MkdirTemp("", "lethe-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	engine := "sqlite, synchronous=" + strings.ToLower(synchronous)
	opts := app.Options{Config: benchConfig(), DataDir: dir, Synchronous: synchronous, Actor: "bench"}
	if databaseURL != "" {
		engine, opts.DatabaseURL = "postgres", databaseURL
	}
	a, err := app.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	raw, ok := a.Store.(rawBaseline)
	if !ok {
		return fmt.Errorf("store has no raw insert baseline")
	}
	fmt.Fprintf(w, "# lethe bench consent (%s, GOMAXPROCS=%d, %s)\n\n", engine, runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))

	// 1. Append vs raw insert, first from one writer, then from several
	// (as a server's request goroutines append). A new subject costs a
	// data key; a returning subject's key is cached. Raw and ledger runs
	// alternate in short rounds so that drift (disk caches, a neighbour's
	// load on a shared machine) hits both alike.
	var seq atomic.Int64
	record := func(subject string) error {
		_, err := a.Consent.Record(ctx, consent.RecordParams{
			SubjectID: subject, PolicyVersion: "2026-03", Mechanism: "signup_form_v3", Source: "bench",
			Evidence: lethe.ConsentEvidence{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
			Purposes: []consent.PurposeChoice{{Purpose: "marketing_email", Granted: true}},
		})
		return err
	}
	for i := range 100 {
		if err := record(fmt.Sprintf("returning-%d", i)); err != nil {
			return err
		}
	}
	rounds = max(rounds, 1)
	chunk := max(n/rounds, 1)
	type appendRow struct {
		writers               int
		raw, fresh, returning float64 // events per second
		cold                  float64 // returning, key not cached (one writer only)
	}
	var rows []appendRow
	for _, nw := range []int{1, max(writers, 1)} {
		if nw == 1 && len(rows) > 0 {
			break
		}
		var rawTime, freshTime, returningTime, coldTime time.Duration
		for range rounds {
			if nw == 1 {
				// A returning subject whose key the keyring does not
				// hold (a long tail of subjects, or just after a start):
				// its guessed key is refused until the keyring, seeing
				// most guesses fail, reads first (probing 1 miss in 16).
				d, err := concurrently(chunk, 1, func(i int) error {
					a.Keyring.ForgetAll()
					return record(fmt.Sprintf("returning-%d", i%100))
				})
				if err != nil {
					return err
				}
				coldTime += d
			}
			for _, returning := range []bool{false, true} {
				d, err := raw.RawInsertBaseline(ctx, chunk, nw)
				if err != nil {
					return err
				}
				rawTime += d
				d, err = concurrently(chunk, nw, func(i int) error {
					if returning {
						return record(fmt.Sprintf("returning-%d", i%100))
					}
					return record(fmt.Sprintf("new-%d", seq.Add(1)))
				})
				if err != nil {
					return err
				}
				if returning {
					returningTime += d
				} else {
					freshTime += d
				}
			}
		}
		total := float64(rounds * chunk)
		row := appendRow{writers: nw, raw: 2 * total / rawTime.Seconds(), fresh: total / freshTime.Seconds(), returning: total / returningTime.Seconds()}
		if coldTime > 0 {
			row.cold = total / coldTime.Seconds()
		}
		rows = append(rows, row)
	}

	// 2. In-process check, warm cache, many subjects.
	for i := range subjects {
		p := consent.RecordParams{SubjectID: fmt.Sprintf("check-%d", i), PolicyVersion: "2026-03", Mechanism: "bench", Source: "bench",
			Purposes: []consent.PurposeChoice{{Purpose: "marketing_email", Granted: i%3 != 0}}}
		if _, err := a.Consent.Record(ctx, p); err != nil {
			return err
		}
	}
	ids := make([]string, subjects)
	for i := range ids {
		ids[i] = fmt.Sprintf("check-%d", i)
	}
	for _, id := range ids {
		if _, err := a.Consent.Check(ctx, id, "marketing_email"); err != nil {
			return err
		}
	}
	start := time.Now()
	for i := range checks {
		if _, err := a.Consent.Check(ctx, ids[i%len(ids)], "marketing_email"); err != nil {
			return err
		}
	}
	checkNs := float64(time.Since(start).Nanoseconds()) / float64(checks)

	// 3. HTTP check vs a bare handler, same client, same listener kind.
	_, token, err := a.APIKeys.Create(ctx, "bench", []lethe.Scope{lethe.ScopeConsentRead}, "bench")
	if err != nil {
		return err
	}
	srv, err := api.NewServer(api.Options{Ledger: a.Consent, Audit: a.Audit, APIKeys: a.APIKeys, Store: a.Store, Ready: a.Ready, Logger: discardLogger()})
	if err != nil {
		return err
	}
	bareRate, err := loadTest(ctx, api.BaselineHandler(), "", "/", conns, dur)
	if err != nil {
		return err
	}
	apiRate, err := loadTest(ctx, srv.Handler(), token, "/v1/subjects/%s/consents/marketing_email", conns, dur, ids...)
	if err != nil {
		return err
	}

	fmt.Fprintln(w, "| measurement | Lethe | baseline | ratio | goal |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		who := "1 writer"
		if r.writers > 1 {
			who = fmt.Sprintf("%d writers", r.writers)
		}
		fmt.Fprintf(w, "| append, new subject (events/s, %s) vs raw INSERT | %.0f | %.0f | %.2f | >= 0.5 |\n", who, r.fresh, r.raw, r.fresh/r.raw)
		fmt.Fprintf(w, "| append, returning subject (events/s, %s) vs raw INSERT | %.0f | %.0f | %.2f | >= 0.5 |\n", who, r.returning, r.raw, r.returning/r.raw)
		if r.cold > 0 {
			fmt.Fprintf(w, "| append, returning subject, key not cached (events/s, %s) vs raw INSERT | %.0f | %.0f | %.2f | - |\n", who, r.cold, r.raw, r.cold/r.raw)
		}
	}
	fmt.Fprintf(w, "| in-process check (ns/op, warm, %d subjects) | %.0f | - | - | < 2000 |\n", subjects, checkNs)
	fmt.Fprintf(w, "| HTTP check (req/s, %d conns) vs bare net/http | %.0f | %.0f | %.2f | >= 0.5 |\n", conns, apiRate, bareRate, apiRate/bareRate)
	return nil
}

// loadTest serves h on a loopback listener and drives it from conns
// keep-alive clients for dur, returning requests per second.
func loadTest(ctx context.Context, h http.Handler, token, pathFmt string, conns int, dur time.Duration, ids ...string) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var done atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; time.Now().Before(stop) && ctx.Err() == nil; i += conns {
				path := pathFmt
				if len(ids) > 0 {
					path = fmt.Sprintf(pathFmt, ids[i%len(ids)])
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := client.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					firstErr.CompareAndSwap(nil, fmt.Errorf("status %d from %s", resp.StatusCode, pathFmt))
					return
				}
				done.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
