package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
)

func newRequestCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "request", Short: "Data subject requests recorded by the server: list them with their deadlines, show one"}
	var overdue bool
	var within string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "Requests newest first, with their legal deadline; --overdue and --due-within 7d select the urgent ones",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var horizon lethe.Duration
			if within != "" {
				d, err := lethe.ParseDuration(within)
				if err != nil {
					return usageError{fmt.Errorf("--due-within: %v", err)}
				}
				horizon = d
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			all, err := a.Store.RequestList(cmd.Context(), limit)
			if err != nil {
				return err
			}
			now := time.Now()
			type row struct {
				lethe.Request
				Overdue bool `json:"overdue"`
			}
			var out []row
			for _, r := range all {
				open := r.CompletedAt == nil
				late := open && !r.DueAt.IsZero() && now.After(r.DueAt)
				switch {
				case overdue && !late:
					continue
				case within != "" && !(open && !late && !r.DueAt.IsZero() && !horizon.AddTo(now).Before(r.DueAt)):
					continue
				}
				out = append(out, row{r, late})
			}
			if g.output == "json" {
				items := make([]map[string]any, len(out))
				for i, r := range out {
					items[i] = map[string]any{"id": r.ID, "type": r.Type, "status": r.Status, "jurisdiction": r.Jurisdiction,
						"created_at": r.CreatedAt, "due_at": r.DueAt, "completed_at": r.CompletedAt, "overdue": r.Overdue}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tJURISDICTION\tRECEIVED\tDUE")
			for _, r := range out {
				due := r.DueAt.Format(time.DateOnly)
				if r.Overdue {
					due += " OVERDUE"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Type, r.Status, r.Jurisdiction, r.CreatedAt.Format(time.DateOnly), due)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&overdue, "overdue", false, "only unfinished requests past their deadline")
	list.Flags().StringVar(&within, "due-within", "", "only unfinished requests due within this period (e.g. 7d)")
	list.Flags().IntVar(&limit, "limit", 1000, "look at the newest N requests")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "One request with its outcome (rows per collection, or the erasure certificate)",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			r, err := a.Store.RequestGet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := map[string]any{"id": r.ID, "type": r.Type, "status": r.Status, "jurisdiction": r.Jurisdiction, "subject_ref": r.SubjectRef,
				"actor": r.Actor, "created_at": r.CreatedAt, "due_at": r.DueAt, "completed_at": r.CompletedAt, "error": r.Error,
				"result": json.RawMessage(r.Result)}
			if r.Result == nil {
				delete(out, "result")
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	c.AddCommand(list, show)
	return c
}
