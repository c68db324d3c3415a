package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/dsr"
)

// identityFlags are the ways a command names the subject.
type identityFlags struct {
	email, userID, phone string
	other                []string
}

func (f *identityFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.email, "email", "", "the subject's e-mail address")
	fs.StringVar(&f.userID, "user-id", "", "the subject's user id")
	fs.StringVar(&f.phone, "phone", "", "the subject's phone number")
	fs.StringArrayVar(&f.other, "identity", nil, "another identity as TYPE=VALUE (repeatable)")
}

func (f *identityFlags) identities() ([]lethe.Identity, error) {
	var ids []lethe.Identity
	add := func(t lethe.IdentityType, v string) {
		if v != "" {
			ids = append(ids, lethe.Identity{Type: t, Value: v})
		}
	}
	add(lethe.IdentityEmail, f.email)
	add(lethe.IdentityUserID, f.userID)
	add(lethe.IdentityPhone, f.phone)
	for _, o := range f.other {
		t, v, ok := strings.Cut(o, "=")
		if !ok || t == "" || v == "" {
			return nil, usageError{fmt.Errorf("--identity takes TYPE=VALUE, e.g. --identity customer_no=C-1042")}
		}
		add(lethe.IdentityType(t), v)
	}
	if len(ids) == 0 {
		return nil, usageError{fmt.Errorf("name the subject with --email, --user-id, --phone or --identity TYPE=VALUE")}
	}
	return ids, nil
}

func newAccessCmd(g *globals) *cobra.Command {
	var ids identityFlags
	var out string
	var portability bool
	c := &cobra.Command{
		Use:   "access",
		Short: "Export everything the data map holds about a subject (Art. 15) as a ZIP package",
		Long: "Find the subject's rows in every datastore of the data map, following references, and write the\n" +
			"export package: data.json, one CSV per collection, report.html and the Art. 15 information.\n" +
			"--portability limits it to the data provided under consent or contract (Art. 20).",
		Args: exactArgs(0, "no arguments (name the subject with flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := ids.identities()
			if err != nil {
				return err
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			id := "req_" + uuid.Must(uuid.NewV7()).String()
			if out == "" {
				out = id + ".zip"
			}
			w, closeOut, err := createOutput(out, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			res, err := a.DSR.Access(cmd.Context(), dsr.AccessParams{RequestID: id, Identities: list, Portability: portability}, w)
			if cerr := closeOut(err == nil); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if out == "-" {
				return nil
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"file": out, "result": res}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DATASTORE\tCOLLECTION\tROWS")
				for _, c := range res.Collections {
					fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Datastore, c.Collection, c.Rows)
				}
				for _, f := range res.Failed {
					fmt.Fprintf(tw, "%s\t(unreachable: %s)\t-\n", f.Datastore, f.Message)
				}
				fmt.Fprintf(tw, "wrote %s: %d rows\n", out, res.Rows)
			})
		},
	}
	ids.register(c)
	c.Flags().StringVarP(&out, "out", "O", "", "where to write the ZIP (- for stdout; default <request id>.zip)")
	c.Flags().BoolVar(&portability, "portability", false, "export only data provided under consent or contract (Art. 20)")
	return c
}

// createOutput opens the export destination; the file appears under its
// name only when complete (written to a temporary name, then renamed).
func createOutput(path string, stdout io.Writer) (io.Writer, func(ok bool) error, error) {
	if path == "-" {
		return stdout, func(bool) error { return nil }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".lethe-export-*")
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", path, err)
	}
	return f, func(ok bool) error {
		cerr := f.Close()
		if !ok || cerr != nil {
			os.Remove(f.Name())
			return cerr
		}
		if err := os.Chmod(f.Name(), 0o600); err != nil {
			return err
		}
		return os.Rename(f.Name(), path)
	}, nil
}

func newEraseCmd(g *globals) *cobra.Command {
	var ids identityFlags
	var dryRun bool
	c := &cobra.Command{
		Use:   "erase",
		Short: "Erase or anonymise a subject everywhere the data map says (Art. 17), verify, and print the certificate",
		Long: "Plan the erasure per datastore in dependency order, honour holds (Art. 17(3)), apply each datastore's\n" +
			"steps in one transaction, verify that none of the subject's values remain, then shred the subject's keys.\n" +
			"--dry-run prints the plan with row counts and changes nothing. Exit code 1 when a datastore failed or\n" +
			"verification found residual data.",
		Args: exactArgs(0, "no arguments (name the subject with flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := ids.identities()
			if err != nil {
				return err
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			id := "req_" + uuid.Must(uuid.NewV7()).String()
			cert, err := a.DSR.Erase(cmd.Context(), dsr.EraseParams{RequestID: id, Identities: list, DryRun: dryRun})
			if err != nil {
				return err
			}
			if !dryRun { // the server's export packages of this subject are copies too
				if _, err := a.Requests.ForgetExports(cmd.Context(), list, "cli"); err != nil {
					return err
				}
			}
			if err := g.print(cmd.OutOrStdout(), cert, func(tw *tabwriter.Writer) { printCertificate(tw, cert) }); err != nil {
				return err
			}
			if cert.Status != dsr.StatusCompleted || cert.Verification != nil && !cert.Verification.Passed {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	ids.register(c)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the plan and row counts; change nothing")
	return c
}

func printCertificate(tw *tabwriter.Writer, cert *dsr.Certificate) {
	fmt.Fprintln(tw, "DATASTORE\tCOLLECTION\tACTION\tMATCHED\tROWS\tHELD\tSTATUS")
	for _, s := range cert.Steps {
		status := s.Status
		if s.Error != "" {
			status += ": " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.Datastore, s.Collection, s.Action, s.Matched, s.Rows, s.Held, status)
	}
	for _, s := range cert.Steps {
		if s.Hold != nil && s.Held > 0 {
			fmt.Fprintf(tw, "hold on %s.%s: %d row(s) kept, Art. 17(3) %s (%s), %s then %s\n", s.Datastore, s.Collection, s.Held, s.Hold.Basis, s.Hold.Reason, s.Hold.KeepFor, s.Hold.Then)
		}
	}
	if cert.DryRun {
		fmt.Fprintln(tw, "dry run: nothing was changed")
		return
	}
	if v := cert.Verification; v != nil {
		if v.Passed {
			fmt.Fprintf(tw, "verification: passed (%d rows checked)\n", v.Checked)
		} else {
			fmt.Fprintf(tw, "verification: FAILED\n")
			for _, r := range v.Residual {
				fmt.Fprintf(tw, "  %s.%s: %d row(s) still hold the subject's data in %s\n", r.Datastore, r.Collection, r.Rows, strings.Join(r.Fields, ", "))
			}
			for _, s := range v.Skipped {
				fmt.Fprintf(tw, "  %s: not verified (unreachable)\n", s)
			}
		}
	}
	fmt.Fprintf(tw, "request %s: %s; %d key(s) shredded\n", cert.RequestID, cert.Status, cert.KeysShredded)
	if cert.Audit != nil {
		fmt.Fprintf(tw, "audit entry %d, tree size %d, root %s\n", cert.Audit.EntrySeq, cert.Audit.TreeSize, cert.Audit.Root)
	}
	for _, w := range cert.Warnings {
		fmt.Fprintf(tw, "warning: %s\n", w)
	}
}

func newRectifyCmd(g *globals) *cobra.Command {
	var ids identityFlags
	var set []string
	c := &cobra.Command{
		Use:   "rectify",
		Short: "Correct a subject's data everywhere the data map holds it (Art. 16) and read it back",
		Long: "Write corrected values into every matching row, one transaction per datastore, then read the rows\n" +
			"again to check them. --set takes a field (datastore.collection.column) or a data category\n" +
			"(contact.address: every field of that category) and the new value. Exit code 1 when a datastore\n" +
			"failed or a value did not read back.",
		Args: exactArgs(0, "no arguments (name the subject with flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := ids.identities()
			if err != nil {
				return err
			}
			values := map[string]string{}
			for _, kv := range set {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--set takes FIELD=VALUE, e.g. --set contact.address=\"1 New Street\"")}
				}
				values[k] = v
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			res, err := a.DSR.Rectify(cmd.Context(), dsr.RectifyParams{RequestID: "req_" + uuid.Must(uuid.NewV7()).String(), Identities: list, Values: values})
			if err != nil {
				return err
			}
			if err := g.print(cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DATASTORE\tCOLLECTION\tROWS\tSTATUS")
				for _, s := range res.Steps {
					status := s.Status
					if s.Error != "" {
						status += ": " + s.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Datastore, s.Collection, s.Rows, status)
				}
				fmt.Fprintf(tw, "request %s: %s; read back: %v\n", res.RequestID, res.Status, res.Verification.Passed)
			}); err != nil {
				return err
			}
			if res.Status != dsr.StatusCompleted {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	ids.register(c)
	c.Flags().StringArrayVar(&set, "set", nil, "FIELD=VALUE: a field (datastore.collection.column) or data category and its corrected value (repeatable)")
	return c
}

func newDatamapCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "datamap", Short: "Check the data map against the databases it describes"}
	var strict bool
	var only []string
	check := &cobra.Command{
		Use:   "check",
		Short: "Connect to every datastore and report missing tables/columns, unfit strategies, drift and missing indexes",
		Long: "Errors: missing tables or columns, an erase strategy that cannot be written to its column, an unreachable\n" +
			"datastore. Warnings: columns the database has but the data map does not declare (errors with --strict),\n" +
			"identity and reference columns without an index, strategies that break a unique column. Exit code 1 on errors.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			rep, err := a.CheckDatamap(cmd.Context(), strict, only)
			if err != nil {
				return err
			}
			if err := g.print(cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				for _, f := range rep.Findings {
					fmt.Fprintln(tw, f.String())
				}
				fmt.Fprintf(tw, "%d datastore(s) checked: %d error(s), %d warning(s)\n", len(rep.Checked), rep.Errors, rep.Warnings)
			}); err != nil {
				return err
			}
			if !rep.OK() {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	check.Flags().BoolVar(&strict, "strict", false, "treat undeclared columns (drift) as errors, for CI")
	check.Flags().StringSliceVar(&only, "datastore", nil, "check only these datastores")
	c.AddCommand(check)
	return c
}
