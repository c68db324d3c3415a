package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/dsr"
)

// maxRequestScan bounds the requests a filtered listing reads.
const maxRequestScan = 1_000_000

func newRequestCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "request", Short: "Data subject requests: create, verify, run, retry, cancel, reject, extend, export; list them with their deadlines, show one",
		Long: "Requests live in Lethe's store, the one source of truth of their lifecycle:\n" +
			"unverified -> verified -> running -> completed | partially_completed | failed, or rejected | cancelled.\n" +
			"A running `lethe serve` picks up verified requests; `lethe request run ID` runs one here instead."}
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
			scan := limit
			if overdue || within != "" {
				// The urgent requests are usually old ones: look at every
				// request, and keep limit of those that match.
				scan = maxRequestScan
			}
			all, err := a.Store.RequestList(cmd.Context(), scan)
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
				open := r.Open()
				late := open && !r.Due().IsZero() && now.After(r.Due())
				switch {
				case overdue && !late:
					continue
				case within != "" && !(open && !late && !r.Due().IsZero() && !horizon.AddTo(now).Before(r.Due())):
					continue
				}
				if len(out) == limit {
					break
				}
				out = append(out, row{r, late})
			}
			if g.output == "json" {
				items := make([]map[string]any, len(out))
				for i, r := range out {
					items[i] = map[string]any{"id": r.ID, "type": r.Type, "status": r.Status, "jurisdiction": r.Jurisdiction,
						"created_at": r.CreatedAt, "due_at": r.Due(), "completed_at": r.CompletedAt, "overdue": r.Overdue}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tJURISDICTION\tRECEIVED\tDUE")
			for _, r := range out {
				due := r.Due().Format(time.DateOnly)
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
	list.Flags().IntVar(&limit, "limit", 1000, "at most N requests, newest first (--overdue and --due-within look at every request)")

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
			return printRequest(cmd, r)
		},
	}
	c.AddCommand(list, show, newRequestCreateCmd(g), newRequestExportCmd(g))
	c.AddCommand(requestStep(g, "verify ID", "Mark an unverified request verified (the person's identity was checked out of band)", false,
		func(ctx context.Context, a *app.App, id, _ string) (lethe.Request, error) {
			return a.Requests.Verify(ctx, id, "cli")
		}))
	c.AddCommand(requestStep(g, "run ID", "Run a verified request here and now, as a worker would, and print its outcome", false,
		func(ctx context.Context, a *app.App, id, _ string) (lethe.Request, error) {
			return a.Requests.RunOne(ctx, id)
		}))
	c.AddCommand(requestStep(g, "retry ID", "Run a failed or partially completed request again (what was done stays done); a running server picks it up", false,
		func(ctx context.Context, a *app.App, id, _ string) (lethe.Request, error) {
			return a.Requests.Retry(ctx, id, "cli")
		}))
	c.AddCommand(requestStep(g, "cancel ID", "Withdraw a request that is not running (--reason says why)", false,
		func(ctx context.Context, a *app.App, id, reason string) (lethe.Request, error) {
			return a.Requests.Cancel(ctx, id, reason, "cli")
		}))
	c.AddCommand(requestStep(g, "reject ID --reason TEXT", "Refuse a request; the person is told the reason and their right to complain (Art. 12(4))", true,
		func(ctx context.Context, a *app.App, id, reason string) (lethe.Request, error) {
			return a.Requests.Reject(ctx, id, reason, "cli")
		}))
	c.AddCommand(requestStep(g, "extend ID --reason TEXT", "Extend the deadline (GDPR: two further months, within the first; CCPA: 45 days); the person is told the reason", true,
		func(ctx context.Context, a *app.App, id, reason string) (lethe.Request, error) {
			return a.Requests.Extend(ctx, id, reason, "cli")
		}))
	return c
}

// requestStep is a lifecycle command that takes the request id (and a
// reason) and prints the request afterwards.
func requestStep(g *globals, use, short string, needReason bool, fn func(ctx context.Context, a *app.App, id, reason string) (lethe.Request, error)) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if needReason && strings.TrimSpace(reason) == "" {
				return usageError{fmt.Errorf("--reason is required: the person is told it")}
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			r, err := fn(cmd.Context(), a, args[0], reason)
			if err != nil {
				return err
			}
			return printRequest(cmd, r)
		},
	}
	if strings.Contains(use, "--reason") || strings.HasPrefix(use, "cancel") {
		c.Flags().StringVar(&reason, "reason", "", "why (told to the person; no personal data)")
	}
	return c
}

func newRequestCreateCmd(g *globals) *cobra.Command {
	var (
		ids          identityFlags
		typ          string
		jurisdiction string
		unverified   bool
		wait         bool
		set          []string
	)
	c := &cobra.Command{
		Use:   "create --type TYPE (--email ... | --user-id ... | --identity TYPE=VALUE)",
		Short: "Record a request made to the controller (by post, phone, e-mail); a running server runs it, or --wait runs it here",
		Long: "Record a data subject request. An operator who checked the person's identity creates it verified\n" +
			"(the default); --unverified records it until `lethe request verify`. --wait runs it here and prints\n" +
			"the outcome; otherwise a running `lethe serve` picks it up.",
		Args: exactArgs(0, "no arguments (name the subject with flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := ids.identities()
			if err != nil {
				return err
			}
			if typ == "" {
				return usageError{fmt.Errorf("--type is required: access, portability, erasure or rectification")}
			}
			values := map[string]string{}
			for _, kv := range set {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--set takes FIELD=VALUE")}
				}
				values[k] = v
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			r, err := a.Requests.Create(cmd.Context(), dsr.CreateParams{
				Type: lethe.RequestType(typ), Identities: list, Actor: "cli", Channel: lethe.ChannelCLI,
				Verified: !unverified, Wait: wait && !unverified, Jurisdiction: lethe.Jurisdiction(jurisdiction), Values: values,
			})
			if err != nil {
				return err
			}
			return printRequest(cmd, r)
		},
	}
	ids.register(c)
	c.Flags().StringVar(&typ, "type", "", "access, portability, erasure or rectification")
	c.Flags().StringVar(&jurisdiction, "jurisdiction", "", "gdpr, ccpa or lgpd (default: the config's)")
	c.Flags().BoolVar(&unverified, "unverified", false, "the person's identity is still to be verified")
	c.Flags().BoolVar(&wait, "wait", false, "run it here and print the outcome")
	c.Flags().StringArrayVar(&set, "set", nil, "rectification: FIELD=VALUE (repeatable)")
	return c
}

func newRequestExportCmd(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "export ID -O FILE",
		Short: "Write a completed access or portability request's package to FILE (or - for stdout)",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{fmt.Errorf("-O FILE is required (- for stdout)")}
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			f, _, err := a.Requests.OpenExport(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			var w io.Writer = cmd.OutOrStdout()
			if out != "-" {
				dst, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return lethe.Errorf(lethe.EINVALID, "cannot create %s: %v", out, err)
				}
				defer dst.Close()
				w = dst
			}
			n, err := io.Copy(w, f)
			if err != nil {
				return fmt.Errorf("write export: %w", err)
			}
			if out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", out, n)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output-file", "O", "", "where to write the package (- for stdout)")
	return c
}

// printRequest prints a request as JSON: its lifecycle and outcome, no
// personal data.
func printRequest(cmd *cobra.Command, r lethe.Request) error {
	out := map[string]any{"id": r.ID, "type": r.Type, "status": r.Status, "channel": r.Channel, "jurisdiction": r.Jurisdiction,
		"subject_ref": r.SubjectRef, "actor": r.Actor, "created_at": r.CreatedAt, "due_at": r.Due(), "completed_at": r.CompletedAt,
		"verified_at": r.VerifiedAt, "attempts": r.Attempts, "overdue": r.Open() && time.Now().After(r.Due())}
	for k, v := range map[string]string{"error": r.Error, "reason": r.Reason, "extension_reason": r.ExtensionReason, "progress": r.Progress} {
		if v != "" {
			out[k] = v
		}
	}
	if r.ExtendedAt != nil {
		out["extended_at"] = r.ExtendedAt
	}
	if r.NextAttemptAt != nil {
		out["next_attempt_at"] = r.NextAttemptAt
	}
	if r.Export != "" {
		out["export"] = r.Export
	}
	if r.Result != nil {
		out["result"] = json.RawMessage(r.Result)
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
