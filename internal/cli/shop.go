package cli

import (
	"github.com/spf13/cobra"

	"github.com/meridian-platform/meridian/internal/shop"
)

func newShopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shop",
		Short: "The reference e-commerce application",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "serve",
		Short: "Serve one shop instance until SIGINT or SIGTERM",
		Long: `Serve one instance of the reference shop: catalog, product pages, cart,
checkout and orders in DynamoDB global tables of its region. It reads its
settings from the environment an instance group gives each process:
MERIDIAN_LISTEN_ADDR (or HOST and PORT), MERIDIAN_REGION, MERIDIAN_INSTANCE,
AWS_ENDPOINT_URL, AWS_REGION, AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE.
` + "`meridian up`" + ` runs it in every region as the group "shop"; see docs/shop.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg := shop.ConfigFromEnv()
			cfg.Logger = log
			return shop.Run(ctxOf(cmd), cfg)
		},
	})
	return cmd
}
