package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/internal/scrubbench"
)

func newBenchScrubCmd() *cobra.Command {
	var o scrubbench.Options
	c := &cobra.Command{
		Use:   "scrub",
		Short: "lethe scrub of a 1,000,000-row PostgreSQL table vs a plain UPDATE ... SET col = md5(col)",
		Long: "Generates a table of --rows people with five personal columns (email unique), then alternates, --rounds times, on\n" +
			"fresh copies of it: a plain UPDATE setting the five columns to md5 of themselves (the baseline), and lethe scrub\n" +
			"(hmac on email, fake.* on the others; deterministic, unique-preserving) without compaction, followed by the VACUUM\n" +
			"FULL that compaction runs, timed apart. Reports rows/s, MB/min of table data, and the ratio of the medians. The\n" +
			"schema in the URL's search_path (lethe_bench_scrub when none) is dropped and recreated: give a scratch database.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Log = cmd.ErrOrStderr()
			return benchScrub(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.PostgresURL, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&search_path=lethe_bench_scrub", "PostgreSQL URL of a scratch database")
	f.IntVar(&o.Rows, "rows", 1_000_000, "rows in the table")
	f.IntVar(&o.Rounds, "rounds", 2, "alternating rounds of baseline and scrub")
	f.IntVar(&o.Workers, "workers", 0, "scrub workers (default: the number of CPUs)")
	f.IntVar(&o.Batch, "batch", 0, "scrub batch size (default 50000)")
	return c
}

func benchScrub(ctx context.Context, w io.Writer, o scrubbench.Options) error {
	r, err := scrubbench.Run(ctx, o)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "table: %d rows, %.1f MB (heap)\n", r.Rows, float64(r.TableBytes)/1e6)
	fmt.Fprintln(tw, "MEASUREMENT\tMEDIAN\tROWS/S\tMB/MIN\tRUNS")
	fmt.Fprintf(tw, "plain UPDATE ... = md5(col)\t%s\t%.0f\t%.0f\t%v\n", r.Baseline.Round(1e6), r.RowsPerSec(r.Baseline), r.MBPerMin(r.Baseline), r.BaselineAll)
	fmt.Fprintf(tw, "lethe scrub (no compaction)\t%s\t%.0f\t%.0f\t%v\n", r.Scrub.Round(1e6), r.RowsPerSec(r.Scrub), r.MBPerMin(r.Scrub), r.ScrubAll)
	fmt.Fprintf(tw, "then VACUUM FULL\t%s\t\t\t\n", r.Compact.Round(1e6))
	fmt.Fprintf(tw, "ratio scrub/plain (rate)\t%.2f\t\t\tgoal >= 0.8\n", r.Ratio())
	return tw.Flush()
}
