package cli

import (
	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/awsapi"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newRegionCmd(g *globals) *cobra.Command {
	var config, node string
	cmd := &cobra.Command{
		Use:   "region --config FILE --node NAME",
		Short: "Run one node of one region until SIGINT or SIGTERM",
		Long: `Run one node of one region: the replicated store, the peer port
(replication over mutual TLS), the AWS-compatible API port and the admin
port (/healthz, /readyz, /metrics, /admin/status, /admin/kv,
/admin/groups). When the region declares instance groups the node also
runs them, supervised, with the region's API endpoint and credentials in
their environment, behind the region's load balancer on the LB port; they
stop with the node. The topology file says where every node listens;
--node picks this one. ` + "`meridian up`" + ` starts one of these per node.`,
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
			n, err := region.New(region.Config{Topology: topo, Node: node, Logger: log, API: awsapi.New})
			if err != nil {
				return err
			}
			return n.Run(ctxOf(cmd))
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "topology file (YAML)")
	cmd.Flags().StringVar(&node, "node", "", "name of this node in the topology")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("node")
	return cmd
}
