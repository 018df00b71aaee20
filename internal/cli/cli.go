// Package cli is the `meridian` command line: cobra commands and their
// flags, nothing else. Each command parses its flags and hands over to the
// package that does the work (region, deploy).
//
// Imported only by cmd/meridian and its tests.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// Run runs the meridian command line with args (without the program name)
// and returns the process exit code: 0 on success, 1 on any error, which is
// printed to stderr. Cancelling ctx (SIGINT, SIGTERM) stops long-running
// commands cleanly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ex exitError
	if !errors.As(err, &ex) || ex.msg != "" {
		_, _ = fmt.Fprintf(stderr, "meridian: %s\n", strings.TrimSpace(err.Error()))
	}
	return 1
}

// exitError fails a command; an empty msg means the command already said
// why (like status printing an unhealthy table).
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }

// globals are the flags every subcommand accepts.
type globals struct {
	logFormat string
	logLevel  string
	stderr    io.Writer
}

// NewRoot builds the `meridian` command tree writing to stdout and stderr.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stderr: stderr}
	root := &cobra.Command{
		Use:   "meridian",
		Short: "Meridian: an active-active multi-region platform in one binary",
		Long: `Meridian runs the architecture of a global multi-region service (replicated
data, health-checked routing, regional load balancing) as one binary.

Start a whole deployment on this machine with ` + "`meridian up`" + `, then inspect it
with ` + "`meridian status`" + `.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "least severe log level: debug, info, warn or error")
	root.AddCommand(
		newRegionCmd(g),
		newEdgeCmd(g),
		newUpCmd(g),
		newStatusCmd(),
		newApplyCmd(),
		newChaosCmd(),
		newCDNCmd(),
		newShopCmd(g),
	)
	return root
}

// logger builds the slog logger the global flags ask for.
func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", g.logFormat)
	}
}

// childArgs passes the global flags on to child processes.
func (g *globals) childArgs() []string {
	return []string{"--log-format", g.logFormat, "--log-level", g.logLevel}
}

// ctxOf returns the command's context, never nil.
func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
