package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newUpCmd(g *globals) *cobra.Command {
	var (
		cfg          deploy.Config
		regions      []string
		wan, subnet  string
		readyTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a whole multi-region deployment on this machine",
		Long: `Start a whole deployment on this machine: one ` + "`meridian region`" + ` child process
per region, region i listening on <subnet>.i (127.0.1.i by default) with the
same ports. The first run writes DIR/topology.yaml and a private CA with node
certificates under DIR/certs; later runs on the same directory resume from
them with all data (flags that contradict the file are refused).

Every region runs the reference shop (` + "`meridian shop serve`" + `) as the instance
group "shop", 2 to 6 instances, behind its load balancer on <host>:8080;
change it with ` + "`meridian apply`" + `.

Each region also gets an edge (` + "`meridian edge`" + `), edge i on the next subnet
(127.0.2.i by default): authoritative DNS on port 5353 for meridian.test
(shop.meridian.test latency-routed to the regions' balancers,
www.meridian.test to the edges) and the accelerator on port 8080, which
sends requests to the nearest healthy region and fails over per request.
` + "`meridian chaos`" + ` injects faults into the running deployment.

While it runs, DIR/endpoints.json lists every node's pid and URLs and
DIR/logs/<node>.log holds each node's output. A node that dies is restarted.
Ctrl-C (or SIGTERM) stops every node cleanly.

--subnet moves every node (and the edges to the subnet after it) to another
127.x.y network, so that a second
deployment (or a test) can run next to the default one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			// Only flags the operator gave are checked against an existing
			// topology; defaults apply to a first run.
			if cmd.Flags().Changed("regions") {
				cfg.Regions = regions
			}
			if cmd.Flags().Changed("wan") {
				cfg.WAN = wan
			}
			if cmd.Flags().Changed("subnet") {
				cfg.Subnet = subnet
			}
			cfg.ReadyTimeout = readyTimeout
			cfg.ChildArgs = g.childArgs()
			cfg.Logger = log
			cfg.Out = cmd.OutOrStdout()
			return deploy.Up(ctxOf(cmd), cfg)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&regions, "regions", topology.DefaultRegions(), "regions to start, comma-separated (first run only)")
	f.StringVar(&cfg.Dir, "data", topology.DefaultDataDir, "data directory: topology, certificates, node data, logs, endpoints.json")
	f.StringVar(&wan, "wan", topology.WANRealistic, "simulated round trips between regions: realistic (70-200ms) or none (first run only)")
	f.StringVar(&subnet, "subnet", deploy.DefaultSubnet, "first three octets of the loopback addresses nodes listen on (first run only)")
	f.DurationVar(&readyTimeout, "ready-timeout", 15*time.Second, "how long to wait for every node to be ready")
	return cmd
}
