package cli

import (
	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/edge"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newEdgeCmd(g *globals) *cobra.Command {
	var config, name string
	cmd := &cobra.Command{
		Use:   "edge --config FILE --edge NAME",
		Short: "Run one edge location until SIGINT or SIGTERM",
		Long: `Run one edge location: the authoritative DNS server for the topology's
zones (UDP and TCP), the accelerator on the HTTP port, which sends each
request to the nearest healthy region's load balancer and retries the ones
safe to retry on the next region, a health checker that probes every region
and shares its verdicts with the other checkers, and the admin port
(/healthz, /readyz, /metrics, /health/verdicts, /admin/status,
/admin/chaos). ` + "`meridian up`" + ` starts one of these per edge.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			topo, err := topology.Load(config)
			if err != nil {
				return err
			}
			e, err := edge.New(edge.Config{Topology: topo, Edge: name, Logger: log})
			if err != nil {
				return err
			}
			return e.Run(ctxOf(cmd))
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "topology file (YAML)")
	cmd.Flags().StringVar(&name, "edge", "", "name of this edge in the topology")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("edge")
	return cmd
}
