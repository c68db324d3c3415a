package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/app"
	api "github.com/lethe-privacy/lethe/http"
	"github.com/lethe-privacy/lethe/intake"
)

func newServeCmd(g *globals) *cobra.Command {
	var addr, logFormat string
	var every time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API (and sign audit checkpoints in the background)",
		Example: `  lethe serve --config examples/lethe.yaml
  lethe apikey create --name admin --scopes admin   # in another shell, same --data-dir`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := newLogger(logFormat, cmd.ErrOrStderr())
			path := g.resolvedConfig()
			if path == "" {
				return usageError{errNoConfig}
			}
			a, err := app.Open(ctx, app.Options{
				ConfigPath: path, DataDir: g.dataDir, DatabaseURL: g.databaseURL, Synchronous: g.synchronous,
				Actor: "server", AuditConfigLoad: true, Logger: log,
			})
			if err != nil {
				return err
			}
			defer a.Close()
			// Retention's scheduler, built before the server that shows its
			// state (GET /v1/retention).
			sched, err := a.RetentionScheduler()
			if err != nil {
				return err
			}
			srv, err := api.NewServer(api.Options{
				Ledger: a.Consent, Audit: a.Audit, APIKeys: a.APIKeys, Store: a.Store, Requests: a.Requests, Config: a.Config, Ready: a.Ready, Logger: log, Version: buildVersion(),
				Retention: sched, Intake: publicIntake(a), SubjectRef: a.Keyring.SubjectRef, TrustedProxies: a.TrustedProxies,
			})
			if err != nil {
				return err
			}
			if every > 0 {
				go signCheckpoints(ctx, a, every, log)
			}
			// The outbox sends queued mail (or, without smtp:, lets it wait
			// for `lethe outbox list`) until the server stops.
			go a.Outbox.Run(ctx)
			// The event dispatcher tails the audit log and delivers consent
			// changes, request outcomes and Art. 19 notices to the
			// subscribers of lethe.yaml (none: it returns at once).
			go a.Events.Run(ctx)
			// The request worker runs verified requests and resumes those a
			// stopped process left running, once their lease runs out.
			go a.Requests.Run(ctx)
			// Public intake: expired verification codes and the counters of
			// rate limit windows that ended are purged.
			go a.Intake.Run(ctx)
			// Retention runs daily (retention.at in lethe.yaml); the
			// schedule in the store keeps one node at a time on it and
			// catches up a run missed while no node was up.
			if sched != nil {
				go sched.Run(ctx)
			}
			log.Info("lethe serving", "addr", addr, "purposes", len(a.Config.Purposes), "store", storeKind(g))
			err = srv.ListenAndServe(ctx, addr)
			// Sign what the last requests appended before going away.
			if every > 0 {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if _, cerr := a.Audit.Checkpoint(cctx); cerr != nil {
					log.Warn("final audit checkpoint", "err", cerr)
				}
			}
			return err
		},
	}
	c.Flags().StringVar(&addr, "addr", envOr("LETHE_ADDR", "127.0.0.1:8080"), "listen address (env LETHE_ADDR)")
	c.Flags().DurationVar(&every, "checkpoint-interval", time.Minute, "sign an audit checkpoint this often when the log grew (0 disables)")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return c
}

// signCheckpoints signs a checkpoint whenever the log grew, so that entries
// are protected by a signature soon after they are written.
func signCheckpoints(ctx context.Context, a *app.App, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		head, err := a.Store.AuditHead(ctx)
		if err != nil || head.Size == last {
			continue
		}
		if _, err := a.Audit.Checkpoint(ctx); err != nil {
			log.Warn("audit checkpoint", "err", err)
			continue
		}
		last = head.Size
	}
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func storeKind(g *globals) string {
	if g.databaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + g.dataDir + " (synchronous=" + strings.ToLower(g.synchronous) + ")"
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// publicIntake is the intake the server offers people without an API key:
// none when requests.public_intake is false (their calls are then 401).
func publicIntake(a *app.App) *intake.Service {
	if !a.PublicIntake {
		return nil
	}
	return a.Intake
}
