package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/dsr"
)

func newRerunCmd(g *globals) *cobra.Command {
	var (
		datastore, since string
		dryRun           bool
	)
	c := &cobra.Command{
		Use:   "rerun",
		Short: "Re-apply past erasures to a datastore restored from a backup",
		Long: "Read the identity columns of the datastore's collections, match each value's subject reference\n" +
			"(HMAC) against the tombstones erasures left in Lethe's store, and erase the matched subjects' rows\n" +
			"on that datastore only, with the data map's strategies, holds and verification. Keys are not shredded\n" +
			"again. Run it after every restore, before the restored data is used, with --since set to the time\n" +
			"the backup was taken (RFC 3339, or YYYY-MM-DD in UTC). Exit code 1 when something failed or\n" +
			"verification found residual data.",
		Args: exactArgs(0, "no arguments (name the datastore with --datastore)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if datastore == "" {
				return usageError{fmt.Errorf("name the restored datastore with --datastore")}
			}
			var from time.Time
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				from = t
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			rep, err := a.DSR.Rerun(cmd.Context(), dsr.RerunParams{Datastore: datastore, Since: from, DryRun: dryRun})
			if err != nil {
				return err
			}
			if err := g.print(cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) { printRerun(tw, rep) }); err != nil {
				return err
			}
			if rep.Status != dsr.StatusCompleted {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	c.Flags().StringVar(&datastore, "datastore", "", "the datastore restored from a backup (required)")
	c.Flags().StringVar(&since, "since", "", "re-apply only erasures at or after this time: when the backup was taken")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "find and count the subjects' rows; change nothing")
	return c
}

// parseSince reads --since: RFC 3339, or a date or minute in UTC.
func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageError{fmt.Errorf("--since takes a time such as 2026-11-30T02:00:00Z or 2026-11-30, not %q", s)}
}

func printRerun(tw *tabwriter.Writer, rep *dsr.RerunReport) {
	fmt.Fprintln(tw, "DATASTORE\tCOLLECTION\tACTION\tMATCHED\tROWS\tHELD\tSTATUS")
	for _, s := range rep.Steps {
		status := s.Status
		if s.Error != "" {
			status += ": " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.Datastore, s.Collection, s.Action, s.Matched, s.Rows, s.Held, status)
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(tw, "%s: failed (%s)\n", f.Datastore, f.Message)
	}
	fmt.Fprintf(tw, "%d tombstone(s) matched against %d identity value(s): %d erased subject(s) found again (%d identity value(s))\n",
		rep.Tombstones, rep.Scanned, rep.Subjects, rep.Identities)
	if rep.DryRun {
		fmt.Fprintln(tw, "dry run: nothing was changed")
		return
	}
	if v := rep.Verification; v != nil {
		if v.Passed {
			fmt.Fprintf(tw, "verification: passed (%d rows checked)\n", v.Checked)
		} else {
			fmt.Fprintln(tw, "verification: FAILED")
			for _, r := range v.Residual {
				fmt.Fprintf(tw, "  %s.%s: %d row(s) still hold erased data in %s\n", r.Datastore, r.Collection, r.Rows, strings.Join(r.Fields, ", "))
			}
		}
	}
	fmt.Fprintf(tw, "rerun of %s: %s\n", rep.Datastore, rep.Status)
}
