package main

import (
	"encoding/hex"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe/audit"
)

func newAuditCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Verify the tamper-evident audit log, sign checkpoints, prove entries"}
	var quiet bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the whole log: exit 0 with its size and root, or exit 1 naming the first bad entry",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			var opts audit.VerifyOptions
			if !quiet {
				last := time.Now()
				opts.Progress = func(done, total uint64) {
					if time.Since(last) > time.Second || done == total {
						last = time.Now()
						fmt.Fprintf(cmd.ErrOrStderr(), "\rverifying %d/%d entries", done, total)
						if done == total {
							fmt.Fprintln(cmd.ErrOrStderr())
						}
					}
				}
			}
			res, err := a.Audit.Verify(cmd.Context(), opts)
			if err != nil {
				return err
			}
			err = g.print(cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				if res.OK {
					fmt.Fprintf(tw, "ok: %d entries, root %s, %d signed checkpoints verified\n", res.Size, hex.EncodeToString(res.Root[:]), res.Checkpoints)
					return
				}
				fmt.Fprintf(tw, "TAMPERED: %s\n", res.Problem)
				if res.FirstBadSeq != nil {
					fmt.Fprintf(tw, "first bad entry: seq %d\n", *res.FirstBadSeq)
				}
			})
			if err == nil && !res.OK {
				return exitError{exitFailed}
			}
			return err
		},
	}
	verify.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")

	checkpoint := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign a checkpoint of the log's current size and root",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			cp, err := a.Audit.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"size": cp.Size, "root": hex.EncodeToString(cp.Root[:]), "created_at": cp.CreatedAt, "note": string(cp.Note)}, func(tw *tabwriter.Writer) {
				fmt.Fprint(tw, string(cp.Note))
			})
		},
	}

	var seq, treeSize, from, to uint64
	proof := &cobra.Command{
		Use:   "proof (--seq N [--tree-size M] | --from A --to B)",
		Short: "Print an inclusion proof of an entry, or a consistency proof between two tree sizes",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			inclusion := cmd.Flags().Changed("seq")
			consistency := cmd.Flags().Changed("from") || cmd.Flags().Changed("to")
			if inclusion == consistency {
				return usageError{fmt.Errorf("give --seq (inclusion) or --from and --to (consistency)")}
			}
			a, err := g.open(cmd.Context(), false, "cli")
			if err != nil {
				return err
			}
			defer a.Close()
			saved := g.output
			g.output = "json"
			defer func() { g.output = saved }()
			if inclusion {
				size := treeSize
				if size == 0 {
					head, err := a.Store.AuditHead(cmd.Context())
					if err != nil {
						return err
					}
					size = head.Size
				}
				p, err := a.Audit.InclusionProof(cmd.Context(), seq, size)
				if err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), p, nil)
			}
			p, err := a.Audit.ConsistencyProof(cmd.Context(), from, to)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), p, nil)
		},
	}
	proof.Flags().Uint64Var(&seq, "seq", 0, "entry to prove (0-based)")
	proof.Flags().Uint64Var(&treeSize, "tree-size", 0, "tree size to prove against (default: current)")
	proof.Flags().Uint64Var(&from, "from", 0, "older tree size")
	proof.Flags().Uint64Var(&to, "to", 0, "newer tree size")

	c.AddCommand(verify, checkpoint, proof)
	return c
}
