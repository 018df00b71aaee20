package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/chaos"
	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newChaosCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Inject faults into a running deployment: kill, restart, partition, heal, latency",
		Long: `Run a game day against the deployment ` + "`meridian up`" + ` runs from --data.
Names are nodes (us-east-1), edges (edge-1) or regions (us-east, meaning all
its nodes). Faults are kept in DIR/chaos.json and pushed to every running
process, so they hold across restarts until healed:

  meridian chaos kill us-east            kill -9 the region's nodes and keep them down
  meridian chaos restart us-east         let them run again
  meridian chaos partition us-east edge-1 [--one-way]
  meridian chaos latency us-east eu-west 300ms
  meridian chaos heal                    end every partition and latency override
  meridian chaos show                    print the faults in force`,
	}
	cmd.PersistentFlags().StringVar(&dir, "data", topology.DefaultDataDir, "data directory of the deployment")

	inject := func(cmd *cobra.Command, change func(*chaos.State)) error {
		st, warnings, err := deploy.Inject(ctxOf(cmd), dir, change)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			_, _ = fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
		}
		return printState(cmd.OutOrStdout(), st)
	}
	kill := &cobra.Command{
		Use: "kill NAME", Short: "Kill a node, edge or region with SIGKILL and keep it down", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := deploy.Kill(ctxOf(cmd), dir, args[0])
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "killed %s; `meridian chaos restart %s` brings it back\n", strings.Join(names, ", "), args[0])
			return nil
		},
	}
	restart := &cobra.Command{
		Use: "restart NAME", Short: "Start a killed node, edge or region again, or restart a running one", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := deploy.Restart(ctxOf(cmd), dir, args[0])
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "restarting %s\n", strings.Join(names, ", "))
			return nil
		},
	}
	var oneWay bool
	partition := &cobra.Command{
		Use: "partition A B", Short: "Black-hole traffic between A and B (only A to B with --one-way)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inject(cmd, func(s *chaos.State) { s.Partition(args[0], args[1], oneWay) })
		},
	}
	partition.Flags().BoolVar(&oneWay, "one-way", false, "cut only the direction from A to B")
	heal := &cobra.Command{
		Use: "heal", Short: "End every partition and latency override (killed processes stay down)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return inject(cmd, func(s *chaos.State) { s.Heal() })
		},
	}
	latency := &cobra.Command{
		Use: "latency A B RTT", Short: "Set the round trip between A and B (\"300ms\", or a number of milliseconds)", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			rtt, err := parseRTT(args[2])
			if err != nil {
				return err
			}
			return inject(cmd, func(s *chaos.State) { s.SetLatency(args[0], args[1], rtt) })
		},
	}
	show := &cobra.Command{
		Use: "show", Short: "Print the faults in force", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := chaos.Load(dir)
			if err != nil {
				return err
			}
			return printState(cmd.OutOrStdout(), st)
		},
	}
	cmd.AddCommand(kill, restart, partition, heal, latency, show)
	return cmd
}

func parseRTT(s string) (time.Duration, error) {
	if ms, err := strconv.ParseFloat(s, 64); err == nil && ms >= 0 {
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("round trip %q: give milliseconds (150) or a duration (150ms)", s)
	}
	return d, nil
}

func printState(w io.Writer, st chaos.State) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		return fmt.Errorf("writing chaos state: %w", err)
	}
	return nil
}
