package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/internal/demo"
)

func newDemoCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "demo", Short: "A sample online shop to try data subject requests on"}
	var opts demo.Options
	seed := &cobra.Command{
		Use:   "seed",
		Short: "Write the sample estate of Example Shop (examples/lethe.yaml) with synthetic subjects",
		Long: "Writes the tables of an online shop, filled with synthetic, deterministic data subjects (the same --subjects and\n" +
			"--seed give the same rows): users, addresses, orders, order_items, newsletter_subscriptions, analytics_events,\n" +
			"support_tickets, sessions and carts. By default every table goes to one embedded SQLite file,\n" +
			"<data-dir>/demo/shop.db, the datastore of examples/lethe.yaml. The flags move groups of tables to other engines,\n" +
			"the estate of examples/lethe-multi.yaml: --postgres (the shop tables), --mysql (analytics_events),\n" +
			"--sqlite (support_tickets) and --redis (sessions and carts, as keys session:{user_id} and cart:{user_id}).\n\n" +
			"It refuses to write into demo tables that already hold rows; --reset drops and recreates them (only them).",
		Example: "  lethe demo seed\n" +
			"  lethe demo seed --subjects 100000 --reset\n" +
			"  lethe demo seed --postgres \"$SHOP_DATABASE_URL\" --mysql \"$ANALYTICS_DSN\" --sqlite \"$SUPPORT_SQLITE_PATH\" --redis \"$SESSIONS_REDIS_URL\"",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.SQLitePath = filepath.Join(g.dataDir, "demo", "shop.db")
			if opts.Subjects < 1 {
				return usageError{fmt.Errorf("--subjects must be at least 1")}
			}
			opts.Progress = progressPrinter(cmd.ErrOrStderr())
			res, err := demo.Seed(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) { printSeedResult(tw, res) })
		},
	}
	f := seed.Flags()
	f.IntVar(&opts.Subjects, "subjects", demo.DefaultSubjects, "number of data subjects (about 14 rows each)")
	f.Int64Var(&opts.Seed, "seed", 1, "random seed: the same --subjects and --seed give the same data")
	f.BoolVar(&opts.Reset, "reset", false, "drop and recreate the demo tables (and delete the demo's Redis keys) first")
	f.StringVar(&opts.PostgresURL, "postgres", "", "PostgreSQL URL: users, addresses, orders, order_items and newsletter_subscriptions go there")
	f.StringVar(&opts.MySQLDSN, "mysql", "", "MySQL/MariaDB DSN (user:pass@tcp(host:3306)/db): analytics_events goes there")
	f.StringVar(&opts.SupportSQLitePath, "sqlite", "", "SQLite file of the support desk: support_tickets goes there")
	f.StringVar(&opts.RedisURL, "redis", "", "Redis URL: sessions and carts go there, as keys session:{user_id} and cart:{user_id}")
	f.StringVar(&opts.RedisPrefix, "redis-prefix", "", "prefix of every Redis key")
	c.AddCommand(seed)
	return c
}

// progressPrinter reports seeding progress at most once a second, and at
// the end.
func progressPrinter(w io.Writer) func(done, total int) {
	var last time.Time
	return func(done, total int) {
		if done < total && time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "seeded %d/%d subjects\n", done, total)
	}
}

func printSeedResult(tw *tabwriter.Writer, res demo.Result) {
	fmt.Fprintf(tw, "Seeded %d subjects (seed %d): %d rows in %s.\n\n", res.Subjects, res.Seed, res.Rows, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintln(tw, "TABLE\tDRIVER\tROWS\tWHERE")
	for _, t := range res.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.Table, t.Driver, t.Rows, t.Path)
	}
	fmt.Fprintln(tw, "\nSubjects to try (synthetic):")
	for _, s := range res.Samples {
		who := fmt.Sprintf("user %d", s.UserID)
		if !s.HasAccount() {
			who = "no account"
		}
		fmt.Fprintf(tw, "  subject %d\t%s\t%s\t%s\n", s.Index, who, s.Email, s.Name)
	}
	dataMap := "examples/lethe.yaml"
	for _, t := range res.Tables {
		if t.Driver != "sqlite" || t.Table == "support_tickets" && t.Path != res.Tables[0].Path {
			dataMap = "examples/lethe-multi.yaml"
		}
	}
	fmt.Fprintf(tw, "\nThe data map of this estate: %s\n", dataMap)
}
