package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newOutboxCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "outbox", Short: "E-mails waiting to be sent (verification codes, request notices)"}
	var pending bool
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "Queued e-mails newest first: template, status, attempts; never the recipient or the body",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			msgs, err := a.Store.OutboxList(cmd.Context(), pending, limit)
			if err != nil {
				return err
			}
			type item struct {
				ID            string     `json:"id"`
				Template      string     `json:"template"`
				Status        string     `json:"status"`
				Attempts      int        `json:"attempts"`
				CreatedAt     time.Time  `json:"created_at"`
				NextAttemptAt time.Time  `json:"next_attempt_at"`
				SentAt        *time.Time `json:"sent_at,omitempty"`
				LastError     string     `json:"last_error,omitempty"`
			}
			items := make([]item, len(msgs))
			for i, m := range msgs {
				items[i] = item{m.ID, m.Template, string(m.Status), m.Attempts, m.CreatedAt, m.NextAttemptAt, m.SentAt, m.LastError}
			}
			return g.print(cmd.OutOrStdout(), items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tTEMPLATE\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
				for _, m := range items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Template, m.Status, m.Attempts, m.NextAttemptAt.Format(time.RFC3339), m.LastError)
				}
			})
		},
	}
	list.Flags().BoolVar(&pending, "pending", false, "only messages not yet sent or given up")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	c.AddCommand(list)
	return c
}
