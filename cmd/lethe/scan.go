package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/scan"
)

func newScanCmd(g *globals) *cobra.Command {
	var (
		opts            scan.Options
		format          string
		propose, failOn bool
		progress        bool
	)
	c := &cobra.Command{
		Use:   "scan",
		Short: "Find personal data in the datastores that the data map does not declare",
		Long: "Sample rows of every table of the data map's datastores (PostgreSQL, MySQL/MariaDB and SQLite: every\n" +
			"table of the database; Redis: the keys of the declared patterns) and classify each column: e-mail,\n" +
			"phone, IP address, IBAN, payment card, date of birth, postal code, national identifier, person name,\n" +
			"free text holding any of these. Findings carry a confidence and how many sampled values matched,\n" +
			"never a value. Columns the data map declares, or lists under ignore:, are not undeclared.\n" +
			"--propose prints data-map YAML for the undeclared ones. Exit code 1 with --fail-on-undeclared when\n" +
			"something is undeclared; 4 when a datastore cannot be reached. See docs/scan.md.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				format = map[string]string{"json": "json"}[g.output]
			}
			switch format {
			case "", "text":
				format = "text"
			case "json":
			default:
				return usageError{fmt.Errorf("--format must be text or json, not %q", format)}
			}
			if opts.Sample < 1 || opts.Sample > scan.MaxSample {
				return usageError{fmt.Errorf("--sample must be between 1 and %d rows", scan.MaxSample)}
			}
			if opts.MinConfidence <= 0 || opts.MinConfidence > 1 {
				return usageError{fmt.Errorf("--min-confidence must be above 0 and at most 1")}
			}
			stderr := cmd.ErrOrStderr()
			if progress || isTerminal(stderr) {
				opts.Progress = scanProgress(stderr)
			}
			a, err := g.open(cmd.Context(), true, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			rep, err := a.Scan(cmd.Context(), opts)
			if opts.Progress != nil {
				fmt.Fprintln(stderr)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				err = printScanJSON(out, rep, propose)
			} else {
				err = printScan(out, rep, propose)
			}
			if err != nil {
				return err
			}
			if err := rep.Err(); err != nil {
				return err
			}
			if failOn && rep.Undeclared > 0 {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&opts.Sample, "sample", lethe.DefaultSampleSize, "rows sampled per table")
	f.StringSliceVar(&opts.Datastores, "datastore", nil, "scan only these datastores")
	f.Float64Var(&opts.MinConfidence, "min-confidence", scan.DefaultMinConfidence, "report columns at least this confident (0-1)")
	f.StringSliceVar(&opts.Regions, "region", nil, "regions national phone numbers are tried in (default "+strings.Join(scan.DefaultRegions, ",")+")")
	f.BoolVar(&propose, "propose", false, "print data-map YAML (category and erase strategy) for undeclared columns")
	f.BoolVar(&failOn, "fail-on-undeclared", false, "exit 1 when a column holds personal data the data map does not declare (for CI)")
	f.BoolVar(&progress, "progress", false, "report progress on stderr even when it is not a terminal")
	f.StringVar(&format, "format", "", "output format: text or json (default: text, or json with --output json)")
	return c
}

func printScanJSON(w io.Writer, rep *scan.Report, propose bool) error {
	v := struct {
		*scan.Report
		Proposal string `json:"proposal,omitempty"`
	}{Report: rep}
	if propose {
		var b strings.Builder
		if err := rep.Propose(&b); err != nil {
			return err
		}
		v.Proposal = b.String()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printScan(w io.Writer, rep *scan.Report, propose bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASTORE\tTABLE\tDECLARED\tROWS\tSAMPLE\tNOTE")
	for _, d := range rep.Datastores {
		switch {
		case d.Unsupported != "":
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", d.Name, d.Unsupported)
		case d.Error != "":
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", d.Name, d.Error)
		}
		for _, t := range d.Tables {
			declared := "no"
			if t.Declared {
				declared = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.Name, t.Table, declared, t.Rows, t.Method, t.Error)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCOLUMN\tKIND\tCONFIDENCE\tMATCHED\tDECLARED / SUGGESTED")
	for _, f := range rep.Findings {
		kind := string(f.Kind)
		if f.Detail != "" {
			kind += " (" + f.Detail + ")"
		}
		note := f.Declared
		if f.Status == scan.StatusUndeclared {
			note = "suggest " + f.Category + ", erase: " + f.Erase
		}
		fmt.Fprintf(tw, "%s\t%s.%s.%s\t%s\t%.2f\t%d/%d\t%s\n", f.Status, f.Datastore, f.Collection, f.Column, kind, f.Confidence, f.Evidence.Matched, f.Evidence.Sampled, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d finding(s): %d undeclared, %d mismatched; %d on ignored columns not shown; sample %d rows per table\n",
		len(rep.Findings), rep.Undeclared, rep.Mismatched, rep.Ignored, rep.Sample)
	if propose {
		fmt.Fprintln(w)
		return rep.Propose(w)
	}
	return nil
}

// scanProgress prints, on one line, the tables sampled so far in each
// datastore.
func scanProgress(w io.Writer) func(scan.Progress) {
	var mu sync.Mutex
	done := map[string]scan.Progress{}
	var names []string
	return func(p scan.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := done[p.Datastore]; !ok {
			names = append(names, p.Datastore)
			slices.Sort(names)
		}
		done[p.Datastore] = p
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %d/%d tables", n, done[n].Tables, done[n].Total)
		}
		fmt.Fprint(w, "\rscan: "+strings.Join(parts, ", ")+"   ")
	}
}
