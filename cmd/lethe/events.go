package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newEventsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "events", Short: "Event subscribers (NATS, webhooks, recipients' Art. 19 webhooks) and their delivery"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Each subscriber's delivery: status, backlog, attempts, last error (never a URL or an identity)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			list, err := a.Events.Status(cmd.Context())
			if err != nil {
				return err
			}
			type item struct {
				Name            string     `json:"name"`
				Status          string     `json:"status"`
				Cursor          uint64     `json:"cursor"`
				Behind          uint64     `json:"behind"`
				Delivered       uint64     `json:"delivered"`
				Attempts        int        `json:"attempts"`
				NextAttemptAt   time.Time  `json:"next_attempt_at"`
				LastDeliveredAt *time.Time `json:"last_delivered_at,omitempty"`
				LastError       string     `json:"last_error,omitempty"`
			}
			items := make([]item, len(list))
			for i, s := range list {
				items[i] = item{s.Name, string(s.Status), s.Cursor, s.Behind, s.Delivered, s.Attempts, s.NextAttemptAt, s.LastDeliveredAt, s.LastError}
			}
			return g.print(cmd.OutOrStdout(), items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSTATUS\tBEHIND\tDELIVERED\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
				for _, s := range items {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Status, s.Behind, s.Delivered, s.Attempts, s.NextAttemptAt.Format(time.RFC3339), s.LastError)
				}
			})
		},
	}
	retry := &cobra.Command{
		Use:     "retry NAME",
		Short:   "Resume a failed subscriber (or one backing off) at once, attempts counted from zero",
		Example: "  lethe events retry webhook:crm",
		Args:    exactArgs(1, "the subscriber's name, as lethe events status shows it"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.Events.Retry(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s resumes at the next delivery pass of lethe serve\n", args[0])
			return nil
		},
	}
	c.AddCommand(status, retry)
	return c
}
