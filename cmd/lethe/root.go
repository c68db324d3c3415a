package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
)

var errNoConfig = lethe.Errorf(lethe.EINVALID, "no config: pass --config FILE or set LETHE_CONFIG (see examples/lethe.yaml)")

// globals are the flags every command accepts.
type globals struct {
	configPath  string
	dataDir     string
	databaseURL string
	synchronous string
	output      string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "lethe",
		Short:         "Privacy engineering over the databases you already run",
		Long:          "Lethe keeps an append-only consent ledger, per-subject encryption with crypto-shredding and a tamper-evident audit log, as a server (lethe serve), this CLI, and a Go library.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "table" && g.output != "json" {
				return usageError{fmt.Errorf("--output must be json or table, not %q", g.output)}
			}
			if s := strings.ToLower(g.synchronous); s != "full" && s != "normal" {
				return usageError{fmt.Errorf("--sqlite-synchronous must be full or normal, not %q", g.synchronous)}
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", os.Getenv("LETHE_CONFIG"), "privacy-as-code config file (env LETHE_CONFIG; default ./lethe.yaml when present)")
	pf.StringVar(&g.dataDir, "data-dir", cmp.Or(os.Getenv("LETHE_DATA_DIR"), "lethe-data"), "data directory: embedded database and secrets (env LETHE_DATA_DIR)")
	pf.StringVar(&g.databaseURL, "database-url", os.Getenv("LETHE_DATABASE_URL"), "PostgreSQL URL; when set, Lethe's state lives there instead of the embedded database (env LETHE_DATABASE_URL)")
	pf.StringVar(&g.synchronous, "sqlite-synchronous", cmp.Or(os.Getenv("LETHE_SQLITE_SYNCHRONOUS"), "full"), "embedded database durability: full (every commit fsynced, survives power loss) or normal (faster; a power loss may lose the last commits) (env LETHE_SQLITE_SYNCHRONOUS)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })

	bench := newBenchCmd(g)
	bench.AddCommand(newBenchDSRCmd(g))
	bench.AddCommand(newBenchScrubCmd())
	bench.AddCommand(newBenchRequestsCmd())
	root.AddCommand(
		newServeCmd(g),
		newConsentCmd(g),
		newPurposesCmd(g),
		newAuditCmd(g),
		newAPIKeyCmd(g),
		newSubjectCmd(g),
		newConfigCmd(g),
		newMigrateCmd(g),
		newOpenAPICmd(g),
		newVersionCmd(g),
		bench,
		newDemoCmd(g),
		newAccessCmd(g),
		newEraseCmd(g),
		newRerunCmd(g),
		newScrubCmd(g),
		newRectifyCmd(g),
		newRequestCmd(g),
		newOutboxCmd(g),
		newEventsCmd(g),
		newRestrictionCmd(g),
		newObjectionCmd(g),
		newDatamapCmd(g),
		newROPACmd(g),
		newScanCmd(g),
		newRetentionCmd(g),
	)
	return root
}

// resolvedConfig returns the config path to use: the flag, or ./lethe.yaml
// when it exists.
func (g *globals) resolvedConfig() string {
	if g.configPath != "" {
		return g.configPath
	}
	if _, err := os.Stat("lethe.yaml"); err == nil {
		return "lethe.yaml"
	}
	return ""
}

// open wires Lethe for a command. Commands that need purposes require a
// config; the others (migrate, apikey, audit) run without one.
func (g *globals) open(ctx context.Context, needConfig bool, actor string) (*app.App, error) {
	path := g.resolvedConfig()
	if needConfig && path == "" {
		return nil, errNoConfig
	}
	// The config may place datastores under the data directory
	// (${LETHE_DATA_DIR:-lethe-data}/demo/shop.db): --data-dir must mean
	// the same directory there.
	if os.Getenv("LETHE_DATA_DIR") != g.dataDir {
		os.Setenv("LETHE_DATA_DIR", g.dataDir)
	}
	return app.Open(ctx, app.Options{
		ConfigPath:  path,
		DataDir:     g.dataDir,
		DatabaseURL: g.databaseURL,
		Synchronous: g.synchronous,
		Actor:       actor,
	})
}

// print writes v as JSON, or calls table to write it as a table.
func (g *globals) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if g.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s", cmd.CommandPath(), names)}
		}
		return nil
	}
}
