package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/retention"
)

func newRetentionCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "retention",
		Short: "Apply the data map's retention rules: delete or anonymise rows past their limit",
		Long: "Each collection's retention rule (datastores.*.collections.*.retention in lethe.yaml) deletes or anonymises\n" +
			"the rows whose column is older than max_age, except rows an Art. 17(3) hold keeps. `lethe serve` runs it\n" +
			"daily (retention.at, 02:00 UTC by default); these commands plan or run it by hand or from cron.",
	}
	var only []string
	plan := &cobra.Command{
		Use:   "plan",
		Short: "Count, per collection, the rows a run would delete or anonymise now, with the oldest",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			eng, err := a.Retention("cli")
			if err != nil {
				return err
			}
			p, err := eng.Plan(cmd.Context(), only)
			if err != nil {
				return err
			}
			if err := g.print(cmd.OutOrStdout(), p, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "COLLECTION\tACTION\tCOLUMN\tMAX AGE\tCUTOFF\tROWS\tOLDEST\tSTATUS")
				for _, c := range p.Collections {
					printPlanRow(tw, c, c.Rows, "")
				}
				fmt.Fprintf(tw, "%d row(s) past their limit in %d collection(s)\n", p.Rows, len(p.Collections))
			}); err != nil {
				return err
			}
			if p.Failed > 0 {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	plan.Flags().StringSliceVar(&only, "datastore", nil, "only these datastores")

	var dryRun bool
	var batch int
	run := &cobra.Command{
		Use:   "run",
		Short: "Delete or anonymise the rows past their limit, in batches, with progress on stderr",
		Long: "Works through each collection in batches of primary keys (--batch-size rows, one transaction each, so\n" +
			"that no transaction holds locks for long) and reports the rows, batches and the longest batch (lock\n" +
			"time). Interrupted (Ctrl-C), it stops between batches: what is done stays done, and the next run\n" +
			"finishes the rest. Every run is an audit entry with the rows per collection. Exit code 1 when a\n" +
			"collection failed.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 0 {
				return usageError{fmt.Errorf("--batch-size must be positive")}
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			if batch > 0 {
				s := lethe.RetentionSchedule{}
				if a.Config.Retention != nil {
					s = *a.Config.Retention
				}
				s.BatchSize = batch
				a.Config.Retention = &s
			}
			eng, err := a.Retention("cli")
			if err != nil {
				return err
			}
			errw := cmd.ErrOrStderr()
			res, runErr := eng.Run(cmd.Context(), retention.RunParams{DryRun: dryRun, Datastores: only, Progress: retentionProgress(errw)})
			if res == nil {
				return runErr
			}
			if err := g.print(cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) { printRun(tw, res) }); err != nil {
				return err
			}
			if runErr != nil {
				return runErr
			}
			if res.Failed > 0 {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	run.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be done; change nothing")
	run.Flags().IntVar(&batch, "batch-size", 0, "rows per batch (transaction); default retention.batch_size or 5000")
	run.Flags().StringSliceVar(&only, "datastore", nil, "only these datastores")

	status := &cobra.Command{
		Use:   "status",
		Short: "When the scheduled run last completed, and who holds its lease",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			sc, err := a.Store.ScheduleGet(cmd.Context(), retention.ScheduleName)
			if err != nil && lethe.ErrorCode(err) != lethe.ENOTFOUND {
				return err
			}
			sc.Name = retention.ScheduleName
			return g.print(cmd.OutOrStdout(), sc, func(tw *tabwriter.Writer) {
				if sc.LastCompletedAt.IsZero() {
					fmt.Fprintln(tw, "last completed:\tnever")
				} else {
					fmt.Fprintf(tw, "last completed:\t%s\n", sc.LastCompletedAt.Format(time.RFC3339))
				}
				if sc.LeaseOwner != "" {
					fmt.Fprintf(tw, "running on:\t%s (lease until %s)\n", sc.LeaseOwner, sc.LeaseUntil.Format(time.RFC3339))
				}
			})
		},
	}
	c.AddCommand(plan, run, status)
	return c
}

func printPlanRow(tw *tabwriter.Writer, c retention.CollectionPlan, rows int64, extra string) {
	oldest, cutoff, st := "-", "-", "ok"
	if c.Oldest != nil {
		oldest = c.Oldest.Format("2006-01-02")
	}
	if !c.Cutoff.IsZero() {
		cutoff = c.Cutoff.Format("2006-01-02")
	}
	if c.Error != "" {
		st = "failed: " + c.Error
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s%s\n", c.Collection, c.Action, c.Column, c.MaxAge, cutoff, rows, oldest, st, extra)
}

func printRun(tw *tabwriter.Writer, r *retention.RetentionRun) {
	if r.DryRun {
		fmt.Fprintln(tw, "COLLECTION\tACTION\tCOLUMN\tMAX AGE\tCUTOFF\tROWS\tOLDEST\tSTATUS")
		for _, c := range r.Collections {
			printPlanRow(tw, c.CollectionPlan, c.Rows, "")
		}
		fmt.Fprintln(tw, "dry run: nothing was changed")
		return
	}
	fmt.Fprintln(tw, "COLLECTION\tACTION\tROWS\tBATCHES\tLONGEST BATCH\tTIME\tSTATUS")
	for _, c := range r.Collections {
		st := "ok"
		if c.Error != "" {
			st = "failed: " + c.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", c.Collection, c.Action, c.Done, c.Batches, c.MaxLock.Round(time.Millisecond), c.Duration.Round(time.Millisecond), st)
	}
	msg := "retention run: %d row(s) in %d collection(s), %d failed\n"
	if r.Interrupted {
		msg = "retention run INTERRUPTED: %d row(s) in %d collection(s), %d failed; run it again to finish\n"
	}
	fmt.Fprintf(tw, msg, r.Done, len(r.Collections), r.Failed)
}

// retentionProgress writes one line per batch: rows done, rate and time
// left for the collection under way.
func retentionProgress(w io.Writer) func(retention.Progress) {
	return func(p retention.Progress) {
		left := "-"
		if p.Remaining > 0 {
			left = p.Remaining.Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s: %d/%d rows, %.0f rows/s, %s left\n", p.Collection, p.Done, p.Total, p.Rate, left)
	}
}
