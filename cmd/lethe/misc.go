package main

import (
	"fmt"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	api "github.com/lethe-privacy/lethe/http"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Lethe's version",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := map[string]string{"version": buildVersion()}
			if bi, ok := debug.ReadBuildInfo(); ok {
				v["go"] = bi.GoVersion
			}
			return g.print(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "lethe %s (%s)\n", v["version"], v["go"]) })
		},
	}
}

func loadConfig(g *globals) (*lethe.Config, config.Info, error) {
	path := g.resolvedConfig()
	if path == "" {
		return nil, config.Info{}, errNoConfig
	}
	return config.Load(path)
}

func newConfigCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Validate the config and print its JSON Schema"}
	c.AddCommand(&cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a config file: every problem with its path and line (exit 3 when invalid)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.configPath = args[0]
			}
			cfg, info, err := loadConfig(g)
			if err != nil {
				if g.output == "json" && lethe.ErrorCode(err) == lethe.EINVALID {
					_ = g.print(cmd.OutOrStdout(), map[string]any{"valid": false, "problems": lethe.ErrorFields(err)}, nil)
					return exitError{exitInvalid}
				}
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"valid": true, "purposes": len(cfg.Purposes), "sha256": info.Hash}, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s: valid (%d purposes, sha256 %s)\n", g.resolvedConfig(), len(cfg.Purposes), info.Hash)
			})
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of lethe.yaml (for editors)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cmd.OutOrStdout().Write(config.Schema())
			return err
		},
	})
	return c
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's migrations (also done on every start)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			where := "embedded database in " + g.dataDir
			if g.databaseURL != "" {
				where = "PostgreSQL"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrations applied (%s)\n", where)
			return nil
		},
	}
}

func newOpenAPICmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI 3.1 document of the HTTP API",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := openAPIDocument()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	}
}

// openAPIDocument builds the API's OpenAPI document without a store: the
// routes and schemas do not depend on one.
func openAPIDocument() ([]byte, error) {
	srv, err := api.NewServer(api.Options{Logger: discardLogger()})
	if err != nil {
		return nil, err
	}
	return srv.OpenAPI(), nil
}
