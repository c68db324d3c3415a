package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/apikey"
)

func newAPIKeyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys"}
	var name, scopes string
	create := &cobra.Command{
		Use:   "create --name NAME --scopes a,b",
		Short: "Create an API key; the key is printed once, alone on the last line of stdout",
		Long: "Create an API key. Scopes: consent:read, consent:write, audit:read, requests:read, requests:write, ropa:read, retention:read, admin (admin implies every scope).\n" +
			"The key is shown once and only its hash is stored: keep it in a secret store.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := apikey.ParseScopes(scopes)
			if err != nil {
				return err
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			k, token, err := a.APIKeys.Create(cmd.Context(), name, sc, "cli")
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.print(cmd.OutOrStdout(), map[string]any{"id": k.ID, "name": k.Name, "scopes": k.Scopes, "created_at": k.CreatedAt, "key": token}, nil)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "created API key %s (%s) with scopes %s; it is shown once:\n", k.ID, k.Name, scopes)
			fmt.Fprintln(w, token)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name for the key (who or what uses it)")
	create.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			keys, err := a.APIKeys.List(cmd.Context())
			if err != nil {
				return err
			}
			type out struct {
				ID        string     `json:"id"`
				Name      string     `json:"name"`
				Scopes    []string   `json:"scopes"`
				CreatedAt time.Time  `json:"created_at"`
				RevokedAt *time.Time `json:"revoked_at,omitempty"`
			}
			rows := make([]out, len(keys))
			for i, k := range keys {
				sc := make([]string, len(k.Scopes))
				for j, s := range k.Scopes {
					sc[j] = string(s)
				}
				rows[i] = out{k.ID, k.Name, sc, k.CreatedAt, k.RevokedAt}
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"keys": rows}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tREVOKED")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(r.Scopes, ","), r.CreatedAt.Format(time.RFC3339), timeOrDash(r.RevokedAt))
				}
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key by id",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.APIKeys.Revoke(cmd.Context(), args[0], "cli"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	c.AddCommand(create, list, revoke)
	return c
}
