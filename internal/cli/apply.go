package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newApplyCmd() *cobra.Command {
	var (
		file, dir string
		wait      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Change an instance group in every region of a running deployment",
		Long: `Read one instance group spec from FILE (YAML or JSON, the fields of a
region's groups entry in the topology file, such as

  name: shop
  command: meridian
  args: [shop, serve]
  env: {GREETING: hello}
  min: 2
  max: 6
  desired: 3

), write it into DIR/topology.yaml and send it to every region node, which
applies it at once: a change of command, arguments, environment, health
check or timeouts replaces the instances one at a time, each new one
healthy before an old one drains; other changes apply in place. Prints
what changed in each region. Exits non-zero if any region refused it or
could not be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("reading group spec: %w", err)
			}
			results, err := deploy.Apply(ctxOf(cmd), dir, spec, wait, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if err := deploy.WriteApplyResults(cmd.OutOrStdout(), results); err != nil {
				return err
			}
			for _, r := range results {
				if r.Error != "" {
					return exitError{}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "group spec (YAML or JSON)")
	f.StringVar(&dir, "data", topology.DefaultDataDir, "data directory of the deployment (where `meridian up` wrote endpoints.json)")
	f.DurationVar(&wait, "wait", time.Minute, "how long each region waits for the group to converge before answering")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
