package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/consent"
)

func newConsentCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "consent", Short: "Record, check and prove consent"}
	c.AddCommand(newConsentRecordCmd(g), newConsentCheckCmd(g), newConsentStateCmd(g), newConsentHistoryCmd(g), newConsentReceiptCmd(g))
	return c
}

func newConsentRecordCmd(g *globals) *cobra.Command {
	var p consent.RecordParams
	var grant, withdraw []string
	var extra map[string]string
	c := &cobra.Command{
		Use:   "record --subject-id ID --mechanism M (--grant P | --withdraw P)...",
		Short: "Record a consent form: grants and withdrawals for one subject, atomically",
		Example: `  lethe consent record --subject-id u-1 --policy-version 2026-03 --mechanism signup_form_v3 \
    --grant marketing_email --withdraw personalised_ads --ip 203.0.113.7`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, pur := range grant {
				p.Purposes = append(p.Purposes, consent.PurposeChoice{Purpose: pur, Granted: true})
			}
			for _, pur := range withdraw {
				p.Purposes = append(p.Purposes, consent.PurposeChoice{Purpose: pur, Granted: false})
			}
			p.Evidence.Extra = extra
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			p.Source = "cli"
			res, err := a.Consent.Record(cmd.Context(), p)
			if err != nil {
				return err
			}
			type out struct {
				ID            uuid.UUID `json:"id"`
				Purpose       string    `json:"purpose"`
				Granted       bool      `json:"granted"`
				PolicyVersion string    `json:"policy_version"`
				Mechanism     string    `json:"mechanism"`
				RecordedAt    time.Time `json:"recorded_at"`
			}
			events := make([]out, len(res.Events))
			for i, e := range res.Events {
				events[i] = out{e.ID, e.Purpose, e.Granted, e.PolicyVersion, e.Mechanism, e.RecordedAt}
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"events": events}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "EVENT\tPURPOSE\tGRANTED\tPOLICY\tMECHANISM")
				for _, e := range events {
					fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", e.ID, e.Purpose, e.Granted, e.PolicyVersion, e.Mechanism)
				}
			})
		},
	}
	f := c.Flags()
	f.StringVar(&p.SubjectID, "subject-id", "", "the subject's user_id")
	f.StringVar(&p.PolicyVersion, "policy-version", "", "version of the notice the subject was shown (required for grants)")
	f.StringVar(&p.Mechanism, "mechanism", "", "how consent was collected, e.g. signup_form_v3")
	f.StringVar((*string)(&p.Jurisdiction), "jurisdiction", "", "gdpr, ccpa or lgpd (default: the config's)")
	f.StringArrayVar(&grant, "grant", nil, "purpose the subject consents to (repeatable)")
	f.StringArrayVar(&withdraw, "withdraw", nil, "purpose the subject withdraws consent from (repeatable)")
	f.BoolVar(&p.GPC, "gpc", false, "the subject sent a Global Privacy Control signal: opt out of every gpc purpose not decided explicitly")
	f.StringVar(&p.Evidence.IP, "ip", "", "evidence: the subject's IP address")
	f.StringVar(&p.Evidence.UserAgent, "user-agent", "", "evidence: the subject's user agent")
	f.StringVar(&p.Evidence.Locale, "locale", "", "evidence: the locale the notice was shown in")
	f.StringVar(&p.Evidence.NoticeText, "notice-text", "", "evidence: the exact wording shown")
	f.StringVar(&p.Evidence.NoticeHash, "notice-hash", "", "evidence: a hash of the notice shown")
	f.StringToStringVar(&extra, "evidence", nil, "further evidence as key=value pairs")
	return c
}

func newConsentCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check SUBJECT_ID PURPOSE",
		Short: "Answer whether processing for a purpose is allowed now (exit 1 when not)",
		Args:  exactArgs(2, "SUBJECT_ID and PURPOSE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			d, err := a.Consent.Check(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			err = g.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "PURPOSE\tALLOWED\tREASON\tPOLICY\tRECORDED\tEXPIRES")
				writeDecision(tw, d)
			})
			if err == nil && !d.Allowed {
				return exitError{exitFailed}
			}
			return err
		},
	}
}

func writeDecision(tw *tabwriter.Writer, d lethe.ConsentDecision) {
	fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%s\t%s\n", d.Purpose, d.Allowed, d.Reason, dash(d.PolicyVersion), timeOrDash(d.RecordedAt), timeOrDash(d.ExpiresAt))
}

func newConsentStateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state SUBJECT_ID",
		Short: "Show the decision for every declared purpose",
		Args:  exactArgs(1, "SUBJECT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			ds, err := a.Consent.State(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"subject_id": args[0], "purposes": ds}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "PURPOSE\tALLOWED\tREASON\tPOLICY\tRECORDED\tEXPIRES")
				for _, d := range ds {
					writeDecision(tw, d)
				}
			})
		},
	}
}

func newConsentHistoryCmd(g *globals) *cobra.Command {
	var purpose string
	c := &cobra.Command{
		Use:   "history SUBJECT_ID",
		Short: "Show the subject's consent timeline with the evidence",
		Args:  exactArgs(1, "SUBJECT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			hs, err := a.Consent.History(cmd.Context(), args[0], purpose)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"events": hs}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "RECORDED\tPURPOSE\tGRANTED\tPOLICY\tMECHANISM\tSOURCE\tEVIDENCE")
				for _, h := range hs {
					fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\t%s\n", h.RecordedAt.Format(time.RFC3339), h.Purpose, h.Granted, h.PolicyVersion, h.Mechanism, h.Source, evidenceSummary(h))
				}
			})
		},
	}
	c.Flags().StringVar(&purpose, "purpose", "", "only this purpose")
	return c
}

func evidenceSummary(h consent.HistoryEvent) string {
	switch {
	case h.EvidenceErased:
		return "[erased]"
	case h.Evidence == nil:
		return "-"
	}
	var parts []string
	e := h.Evidence
	for _, kv := range [][2]string{{"ip", e.IP}, {"ua", e.UserAgent}, {"locale", e.Locale}, {"notice_hash", e.NoticeHash}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if e.NoticeText != "" {
		parts = append(parts, "notice_text")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func newConsentReceiptCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "receipt EVENT_ID",
		Short: "Print the consent receipt (Kantara v1.1, ISO/IEC TS 27560 fields) of an event as JSON",
		Args:  exactArgs(1, "EVENT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return lethe.FieldErrorf("event_id", "not a UUID")
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			r, err := a.Consent.Receipt(cmd.Context(), id)
			if err != nil {
				return err
			}
			saved := g.output
			g.output = "json" // a receipt is a document; a table would lose it
			defer func() { g.output = saved }()
			return g.print(cmd.OutOrStdout(), r, nil)
		},
	}
}

func newPurposesCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "purposes", Short: "Show the declared purposes"}
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the declared purposes and their lawful bases",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := loadConfig(g)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"purposes": cfg.Purposes}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tLAWFUL BASIS\tPOLICY\tMAX AGE\tRETENTION\tGPC\tNAME")
				for _, p := range cfg.Purposes {
					basis := string(p.LawfulBasis)
					if p.SpecialCategory {
						basis += " + art9:" + string(p.Art9Condition)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", p.ID, basis, dash(p.PolicyVersion), durOrDash(p.ConsentMaxAge), durOrDash(p.Retention), p.GPC, p.Name)
				}
			})
		},
	})
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func durOrDash(d lethe.Duration) string {
	if d.IsZero() {
		return "-"
	}
	return d.String()
}
