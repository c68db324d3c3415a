// Command lethe is Lethe's server and CLI: privacy engineering over the
// databases an organisation already runs. See `lethe --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lethe-privacy/lethe"
)

// Exit codes, documented in the README: scripts rely on them.
const (
	exitOK          = 0
	exitFailed      = 1 // a check answered "not allowed", verification failed, or an internal error
	exitUsage       = 2 // bad flags or arguments
	exitInvalid     = 3 // invalid input, not found, conflict, not permitted
	exitUnavailable = 4 // the database or a secret cannot be reached, or a rate limit: try again later
)

// exitCodes maps each error code to the CLI exit code: the one place where
// that mapping lives.
var exitCodes = map[lethe.Code]int{
	lethe.EINVALID:      exitInvalid,
	lethe.ENOTFOUND:     exitInvalid,
	lethe.ECONFLICT:     exitInvalid,
	lethe.EUNAUTHORIZED: exitInvalid,
	lethe.EFORBIDDEN:    exitInvalid,
	lethe.ETOOLARGE:     exitInvalid,
	lethe.ESHREDDED:     exitInvalid,
	lethe.EUNAVAILABLE:  exitUnavailable,
	lethe.ERATELIMITED:  exitUnavailable,
	lethe.EINTERNAL:     exitFailed,
}

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitError carries an exit code without a message (the command already
// printed its answer, e.g. "not allowed").
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "lethe: %v\n(see %s --help)\n", err, commandPath(root, args))
		return exitUsage
	}
	// One line: scripts read the first line, and a driver's multi-line
	// cause (one line per address tried) would break that.
	fmt.Fprintf(stderr, "lethe: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	if c, ok := exitCodes[lethe.ErrorCode(err)]; ok {
		return c
	}
	return exitFailed
}

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil {
		return root.Name()
	}
	return c.CommandPath()
}
