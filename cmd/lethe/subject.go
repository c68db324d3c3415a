package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
)

func newSubjectCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "subject", Short: "Crypto-shred a subject's keys and re-apply shreds after a restore"}
	var idType string
	shred := &cobra.Command{
		Use:   "shred IDENTITY",
		Short: "Destroy the subject's data keys: their consent evidence becomes unreadable everywhere, backups included",
		Long: "Destroy the subject's data keys. The pseudonymous consent timeline and the audit log stay verifiable;\n" +
			"the evidence (IP, user agent, notice, subject id) can never be decrypted again. This cannot be undone.",
		Args: exactArgs(1, "IDENTITY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			ref, err := a.Keyring.SubjectRef(lethe.Identity{Type: lethe.IdentityType(idType), Value: args[0]})
			if err != nil {
				return err
			}
			n, err := a.ShredSubject(cmd.Context(), ref, "cli")
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"subject_ref": ref, "keys_destroyed": n}, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "subject %s: %d key(s) destroyed\n", ref, n)
			})
		},
	}
	shred.Flags().StringVar(&idType, "identity-type", string(lethe.IdentityUserID), "identity type of IDENTITY")

	shreds := &cobra.Command{
		Use:   "shreds",
		Short: "Write the PII-free record of every shred (keep it apart from store backups)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			list, err := a.Store.SubjectShredList(cmd.Context())
			if err != nil {
				return err
			}
			return keyring.WriteShreds(cmd.OutOrStdout(), list)
		},
	}
	reshred := &cobra.Command{
		Use:   "reshred FILE",
		Short: "Re-apply shreds (from `lethe subject shreds` or the data directory's shred journal) to a restored store",
		Args:  exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return lethe.Errorf(lethe.EINVALID, "cannot open %s: %v", args[0], err)
			}
			defer f.Close()
			list, err := keyring.ReadShreds(f)
			if err != nil {
				return err
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			n, err := a.Keyring.Reshred(cmd.Context(), list)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d shred record(s) applied, %d key(s) destroyed\n", len(list), n)
			return nil
		},
	}
	c.AddCommand(shred, shreds, reshred)
	return c
}
