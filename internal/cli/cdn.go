package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/topology"
)

func newCDNCmd() *cobra.Command {
	var dir, distribution string
	cmd := &cobra.Command{
		Use:   "cdn",
		Short: "Manage the edge cache of a running deployment",
	}
	cmd.PersistentFlags().StringVar(&dir, "data", topology.DefaultDataDir, "data directory of the deployment")
	invalidate := &cobra.Command{
		Use:   "invalidate PATTERN...",
		Short: "Remove cached objects from every edge",
		Long: `Remove the objects of a distribution whose path matches a pattern from every
edge's cache, as a CloudFront invalidation does: "/images/*" (a trailing *
matches anything, query included), "/logo.svg" (that path exactly).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := deploy.Invalidate(ctxOf(cmd), dir, distribution, args)
			if err != nil {
				return err
			}
			failed := false
			for _, r := range res {
				if r.Error != "" {
					failed = true
					_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", r.Edge, r.Error)
					continue
				}
				_, _ = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d objects invalidated\n", r.Edge, r.Result.Invalidated)
			}
			if failed {
				return errors.New("some edges did not invalidate")
			}
			return nil
		},
	}
	invalidate.Flags().StringVar(&distribution, "distribution", "static", "name of the distribution (the topology's cdn.distributions)")
	cmd.AddCommand(invalidate)
	return cmd
}
