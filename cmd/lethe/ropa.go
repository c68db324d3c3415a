package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/ropa"
)

func newROPACmd(g *globals) *cobra.Command {
	var format, file string
	var check bool
	c := &cobra.Command{
		Use:   "ropa",
		Short: "Print the records of processing activities (GDPR Art. 30) built from the config",
		Long: "Builds the controller's record from lethe.yaml: controller, DPO and representative (a), and for each purpose\n" +
			"its description (b), categories of data subjects and personal data (c), recipients (d), third-country\n" +
			"transfers with safeguards (e), time limits for erasure (f) and security measures (g). What is missing is\n" +
			"listed on stderr: (a)-(e) as errors, (f)-(g) as warnings. With --check, exit code 1 when an error is found.\n" +
			"It reads only the config: no database is opened.",
		Example: `  lethe ropa --config examples/lethe.yaml --format html --file ropa.html
  lethe ropa --format csv > ropa.csv
  lethe ropa --check --format json > /dev/null   # in CI`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ropa.ParseFormat(format)
			if err != nil {
				return usageError{fmt.Errorf("--format must be json, csv or html, not %q", format)}
			}
			path := g.resolvedConfig()
			if path == "" {
				return errNoConfig
			}
			cfg, _, err := config.Load(path)
			if err != nil {
				return err
			}
			rec := ropa.Build(cfg, time.Now())
			out := cmd.OutOrStdout()
			if file != "" {
				fh, err := os.Create(file)
				if err != nil {
					return fmt.Errorf("create %s: %w", file, err)
				}
				defer fh.Close()
				out = fh
			}
			if err := rec.Write(out, f); err != nil {
				return err
			}
			if file != "" {
				if err := out.(*os.File).Close(); err != nil {
					return fmt.Errorf("write %s: %w", file, err)
				}
			}
			for _, fd := range rec.Findings {
				fmt.Fprintln(cmd.ErrOrStderr(), fd.String())
			}
			if check && !rec.OK() {
				fmt.Fprintf(cmd.ErrOrStderr(), "the record lacks %d required element(s) and has %d warning(s)\n", rec.Errors, rec.Warnings)
				return exitError{exitFailed}
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "json", "json, csv or html")
	c.Flags().StringVar(&file, "file", "", "write to this file instead of stdout")
	c.Flags().BoolVar(&check, "check", false, "exit 1 when a required element (Art. 30(1)(a)-(e)) is missing")
	return c
}
