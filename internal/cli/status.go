package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newStatusCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the health and replication lag of a running deployment",
		Long: `Ask every node listed in DIR/endpoints.json for its status and print, per
region, whether it is healthy and, per peer region, whether replication is
connected and how far behind it is (seconds and records). Exits non-zero if
any region is unhealthy or cannot be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eps, err := deploy.ReadEndpoints(dir)
			if err != nil {
				return err
			}
			report := deploy.Collect(ctxOf(cmd), eps, nil)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return fmt.Errorf("writing status: %w", err)
				}
			} else if err := report.WriteTable(out); err != nil {
				return err
			}
			if !report.Healthy() {
				return exitError{}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", topology.DefaultDataDir, "data directory of the deployment (where `meridian up` wrote endpoints.json)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}
