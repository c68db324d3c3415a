package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/consent"
)

// subjectFlags are the flags every restriction and objection command takes.
type subjectFlags struct {
	userID    string
	requestID string
}

func (s *subjectFlags) add(c *cobra.Command, withRequest bool) {
	c.Flags().StringVar(&s.userID, "user-id", "", "the subject's user_id (required)")
	if withRequest {
		c.Flags().StringVar(&s.requestID, "request-id", "", "the data subject request this carries out, if any")
	}
	_ = c.MarkFlagRequired("user-id")
}

// openSubject opens the app and pseudonymises the subject.
func (s *subjectFlags) open(ctx context.Context, g *globals) (*app.App, lethe.SubjectRef, error) {
	a, err := g.open(ctx, true, "cli")
	if err != nil {
		return nil, lethe.SubjectRef{}, err
	}
	ref, err := a.Consent.SubjectRef(s.userID)
	if err != nil {
		a.Close()
		return nil, ref, err
	}
	return a, ref, nil
}

func newRestrictionCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "restriction", Short: "Restrict processing of a subject's data (Art. 18): consent checks answer restricted"}

	var add subjectFlags
	addCmd := &cobra.Command{
		Use:   "add --user-id ID",
		Short: "Restrict the subject: every consent check answers allowed false, reason restricted (idempotent)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ref, err := add.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.Consent.Restrict(cmd.Context(), []lethe.SubjectRef{ref}, consent.RestrictParams{RequestID: add.requestID, Actor: "cli"}); err != nil {
				return err
			}
			return showControls(cmd, g, a, ref)
		},
	}
	add.add(addCmd, true)

	var lift subjectFlags
	var email, outOfBand string
	liftCmd := &cobra.Command{
		Use:   "lift --user-id ID (--notify-email ADDRESS | --notified-out-of-band REASON)",
		Short: "Lift the restriction, after queuing the notice to the person (Art. 18(3))",
		Example: `  lethe restriction lift --user-id u-1 --notify-email jane@example.com --request-id req_123
  lethe restriction lift --user-id u-1 --notified-out-of-band "told by phone, ticket 4711"`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ref, err := lift.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			err = a.Consent.LiftRestriction(cmd.Context(), []lethe.SubjectRef{ref},
				consent.LiftParams{RequestID: lift.requestID, Actor: "cli", NotifyEmail: email, NotifiedOutOfBand: outOfBand})
			if err != nil {
				return err
			}
			return showControls(cmd, g, a, ref)
		},
	}
	lift.add(liftCmd, true)
	liftCmd.Flags().StringVar(&email, "notify-email", "", "the address the notice that the restriction is lifted is queued for")
	liftCmd.Flags().StringVar(&outOfBand, "notified-out-of-band", "", "the person was told another way: why and how (kept with the restriction, hashed in the audit log)")

	var show subjectFlags
	showCmd := &cobra.Command{
		Use:   "show --user-id ID",
		Short: "The subject's restriction and objections",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ref, err := show.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			return showControls(cmd, g, a, ref)
		},
	}
	show.add(showCmd, false)
	c.AddCommand(addCmd, liftCmd, showCmd)
	return c
}

func newObjectionCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "objection", Short: "Objections to processing for a purpose (Art. 21): consent checks answer objected"}

	var add subjectFlags
	var purposes []string
	addCmd := &cobra.Command{
		Use:   "add --user-id ID --purpose P...",
		Short: "Record an objection to legitimate-interests, public-task or direct-marketing purposes (idempotent)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ref, err := add.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.Consent.Object(cmd.Context(), ref, purposes, consent.ObjectParams{RequestID: add.requestID, Actor: "cli"}); err != nil {
				return err
			}
			return showControls(cmd, g, a, ref)
		},
	}
	add.add(addCmd, true)
	addCmd.Flags().StringArrayVar(&purposes, "purpose", nil, "a purpose objected to (repeatable)")
	_ = addCmd.MarkFlagRequired("purpose")

	var ov subjectFlags
	var purpose, grounds string
	overrideCmd := &cobra.Command{
		Use:   "override --user-id ID --purpose P --grounds TEXT",
		Short: "Override an objection with compelling legitimate grounds (Art. 21(1)); never for direct marketing",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ref, err := ov.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.Consent.OverrideObjection(cmd.Context(), ref, purpose, grounds, "cli"); err != nil {
				return err
			}
			return showControls(cmd, g, a, ref)
		},
	}
	ov.add(overrideCmd, false)
	overrideCmd.Flags().StringVar(&purpose, "purpose", "", "the purpose objected to (required)")
	overrideCmd.Flags().StringVar(&grounds, "grounds", "", "the compelling legitimate grounds (required; kept with the objection, hashed in the audit log)")
	_ = overrideCmd.MarkFlagRequired("purpose")
	_ = overrideCmd.MarkFlagRequired("grounds")

	var show subjectFlags
	showCmd := &cobra.Command{
		Use:   "show --user-id ID",
		Short: "The subject's restriction and objections",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ref, err := show.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			return showControls(cmd, g, a, ref)
		},
	}
	show.add(showCmd, false)
	c.AddCommand(addCmd, overrideCmd, showCmd)
	return c
}

// controlsView is what the commands print: no subject identity, only the
// state and who recorded it.
type controlsView struct {
	Restricted  bool             `json:"restricted"`
	Restriction *restrictionView `json:"restriction,omitempty"`
	Objections  []objectionView  `json:"objections"`
}

type restrictionView struct {
	RequestID    string     `json:"request_id,omitempty"`
	RestrictedAt time.Time  `json:"restricted_at"`
	LiftedAt     *time.Time `json:"lifted_at,omitempty"`
	Notice       string     `json:"notice,omitempty"` // the outbox message id of the lift notice
	OutOfBand    string     `json:"notified_out_of_band,omitempty"`
}

type objectionView struct {
	Purpose      string     `json:"purpose"`
	Active       bool       `json:"active"`
	RequestID    string     `json:"request_id,omitempty"`
	ObjectedAt   time.Time  `json:"objected_at"`
	OverriddenAt *time.Time `json:"overridden_at,omitempty"`
	Grounds      string     `json:"grounds,omitempty"`
}

func showControls(cmd *cobra.Command, g *globals, a *app.App, ref lethe.SubjectRef) error {
	c, err := a.Consent.Controls(cmd.Context(), ref)
	if err != nil {
		return err
	}
	v := controlsView{Restricted: c.Restricted(), Objections: []objectionView{}}
	if r := c.Restriction; r != nil {
		v.Restriction = &restrictionView{RequestID: r.RequestID, RestrictedAt: r.RestrictedAt}
		if r.Lift != nil {
			at := r.Lift.LiftedAt
			v.Restriction.LiftedAt, v.Restriction.Notice, v.Restriction.OutOfBand = &at, r.Lift.Notice, r.Lift.OutOfBand
		}
	}
	for _, o := range c.Objections {
		ov := objectionView{Purpose: o.Purpose, Active: o.Active(), RequestID: o.RequestID, ObjectedAt: o.ObjectedAt}
		if o.Override != nil {
			at := o.Override.OverriddenAt
			ov.OverriddenAt, ov.Grounds = &at, o.Override.Grounds
		}
		v.Objections = append(v.Objections, ov)
	}
	return g.print(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
		switch r := c.Restriction; {
		case r == nil:
			fmt.Fprintln(tw, "RESTRICTION\tnone")
		case r.Active():
			fmt.Fprintf(tw, "RESTRICTION\trestricted since %s (request %s)\n", r.RestrictedAt.Format(time.RFC3339), dash(r.RequestID))
		default:
			how := "notice " + r.Lift.Notice
			if r.Lift.Notice == "" {
				how = "notified out of band"
			}
			fmt.Fprintf(tw, "RESTRICTION\tlifted %s (%s)\n", r.Lift.LiftedAt.Format(time.RFC3339), how)
		}
		fmt.Fprintln(tw, "PURPOSE\tOBJECTION\tSINCE\tREQUEST")
		for _, o := range v.Objections {
			state := "stands"
			if !o.Active {
				state = "overridden " + o.OverriddenAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Purpose, state, o.ObjectedAt.Format(time.RFC3339), dash(o.RequestID))
		}
	})
}
