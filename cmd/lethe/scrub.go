package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/scrub"
)

func newScrubCmd(g *globals) *cobra.Command {
	var (
		p        scrub.Params
		def      string
		progress bool
	)
	c := &cobra.Command{
		Use:   "scrub",
		Short: "Mask every personal field of a database copy in place (for copies marked scrub_allowed)",
		Long: "Rewrite every declared personal field of every collection of the datastore with its scrub strategy (a field's\n" +
			"scrub:, else its erase:), deterministically: the same value gives the same output in every table and datastore,\n" +
			"so joins still hold. Then rewrite the storage (VACUUM FULL, OPTIMIZE TABLE, VACUUM) so that no original is left\n" +
			"in the database files, unless --no-compact. Runs only on a datastore marked scrub_allowed: true in lethe.yaml,\n" +
			"named twice: lethe scrub --datastore copy --confirm copy. Nothing is written unless every check passes.",
		Args: exactArgs(0, "no arguments (name the datastore with --datastore and again with --confirm)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.Datastore == "" {
				return usageError{fmt.Errorf("name the datastore to scrub with --datastore, and again with --confirm")}
			}
			switch def {
			case "", "null", "blank":
				p.Default = scrub.Default(def)
			default:
				return usageError{fmt.Errorf("--default takes null or blank, not %q", def)}
			}
			stderr := cmd.ErrOrStderr()
			tty := isTerminal(stderr)
			if progress || tty {
				p.Progress = scrubProgress(stderr, p.Datastore, tty)
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			rep, err := a.Scrub(cmd.Context(), p, "cli")
			if tty && p.Progress != nil && rep != nil && rep.Rows > 0 && !rep.DryRun {
				fmt.Fprintln(stderr) // end the line the progress rewrote
			}
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) { printScrub(tw, rep) })
		},
	}
	f := c.Flags()
	f.StringVar(&p.Datastore, "datastore", "", "the datastore to scrub: a copy marked scrub_allowed: true (required)")
	f.StringVar(&p.Confirm, "confirm", "", "the datastore's name again, to confirm (required)")
	f.BoolVar(&p.Strict, "strict", false, "refuse when a table has columns the data map does not declare")
	f.StringVar(&def, "default", "", "mask undeclared text columns with null or blank")
	f.BoolVar(&p.NoCompact, "no-compact", false, "skip rewriting the storage (faster; originals stay in the files until the database reuses the space)")
	f.BoolVar(&p.DryRun, "dry-run", false, "check and count; change nothing")
	f.BoolVar(&p.CompactOnly, "compact-only", false, "only rewrite the storage (after a scrub whose compaction failed)")
	f.IntVar(&p.Workers, "workers", 0, "ranges scrubbed at once, across tables and key ranges (default: the number of CPUs)")
	f.IntVar(&p.Batch, "batch", 0, "rows read and written at once (default 50000; MariaDB and SQLite write pages of at most 1000)")
	f.BoolVar(&progress, "progress", false, "report progress on stderr even when it is not a terminal")
	return c
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// scrubProgress prints rows done, rate and time left: on a terminal on
// one line rewritten at most five times a second, elsewhere (a log) a
// line every five seconds; always the last batch.
func scrubProgress(w io.Writer, datastore string, tty bool) func(scrub.Progress) {
	var (
		mu   sync.Mutex
		last time.Time
	)
	every, format := 5*time.Second, "%s\n"
	if tty {
		every, format = 200*time.Millisecond, "\r%s   " // spaces cover a longer line before
	}
	return func(pr scrub.Progress) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if now.Sub(last) < every && pr.Rows < pr.Total {
			return
		}
		last = now
		fmt.Fprintf(w, format, progressLine(datastore, pr))
	}
}

// progressLine is one progress report: rows done of the total, percent,
// rate, and the time left at that rate.
func progressLine(datastore string, pr scrub.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scrub %s: %d/%d rows", datastore, pr.Rows, pr.Total)
	if pr.Total > 0 {
		fmt.Fprintf(&b, " (%d%%)", pr.Rows*100/pr.Total)
	}
	if secs := pr.Elapsed.Seconds(); secs > 0 && pr.Rows > 0 {
		rate := float64(pr.Rows) / secs
		fmt.Fprintf(&b, ", %.0f rows/s", rate)
		if left := pr.Total - pr.Rows; left > 0 {
			fmt.Fprintf(&b, ", %s left", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	return b.String()
}

func printScrub(tw *tabwriter.Writer, rep *scrub.Report) {
	fmt.Fprintln(tw, "COLLECTION\tTABLE\tROWS\tRANGES\tCOLUMNS")
	for _, c := range rep.Collections {
		cols := make([]string, len(c.Columns))
		for i, col := range c.Columns {
			cols[i] = col.Column + "=" + col.Strategy
			if col.Source != scrub.SourceField {
				cols[i] += " (" + col.Source + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Collection, c.Table, c.Rows, c.Ranges, strings.Join(cols, ", "))
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(tw, "warning: %s\n", w)
	}
	switch {
	case len(rep.Collections) == 0 && rep.Compacted:
		fmt.Fprintf(tw, "storage of %s compacted\n", rep.Datastore)
	case rep.DryRun:
		fmt.Fprintf(tw, "dry run: %d rows would be scrubbed in %s; nothing was changed\n", rep.Rows, rep.Datastore)
	case rep.Compacted:
		fmt.Fprintf(tw, "scrubbed %d rows of %s in %s; storage compacted\n", rep.Rows, rep.Datastore, rep.Elapsed.Round(time.Millisecond))
	default:
		fmt.Fprintf(tw, "scrubbed %d rows of %s in %s; storage NOT compacted (--no-compact): originals may remain in the database files\n", rep.Rows, rep.Datastore, rep.Elapsed.Round(time.Millisecond))
	}
}
