package shop

import (
	"fmt"
	"regexp"
	"slices"
)

// Product is one item for sale.
type Product struct {
	// ID is the product's fixed id: lower-case letters, digits and dashes.
	// Fixed ids are what make seeding idempotent.
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Icon is a short symbol shown in place of a photo.
	Icon       string `json:"icon"`
	PriceCents int64  `json:"price_cents"`
	// Stock is the total number of units the shop may ever sell, over all
	// regions.
	Stock int64 `json:"stock"`
	// Allocation is how Stock is split between regions; each region sells
	// only its own share. Computed when the product is first seeded.
	Allocation map[string]int64 `json:"allocation,omitempty"`
}

// maxCatalog keeps a checkout (one action per product, plus the order and
// the cart) within TransactWriteItems' 100 actions.
const maxCatalog = 90

var productID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

func (p Product) validate() error {
	switch {
	case !productID.MatchString(p.ID):
		return fmt.Errorf("catalog: product id %q must be 1 to 64 lower-case letters, digits and dashes", p.ID)
	case p.Name == "":
		return fmt.Errorf("catalog: product %q has no name", p.ID)
	case p.PriceCents <= 0:
		return fmt.Errorf("catalog: product %q must have a positive price", p.ID)
	case p.Stock < 0:
		return fmt.Errorf("catalog: product %q has negative stock", p.ID)
	}
	return nil
}

// DefaultCatalog is the catalog `meridian shop serve` seeds. The last
// product is deliberately scarce, so that selling out is easy to see.
func DefaultCatalog() []Product {
	return []Product{
		{ID: "mug", Name: "Meridian mug", Icon: "☕", PriceCents: 1400, Stock: 300,
			Description: "Stoneware, 350 ml. Holds coffee in every region at once."},
		{ID: "tee", Name: "Active-active T-shirt", Icon: "★", PriceCents: 2500, Stock: 200,
			Description: "Organic cotton. Printed with the replication diagram."},
		{ID: "notebook", Name: "Runbook notebook", Icon: "✎", PriceCents: 900, Stock: 500,
			Description: "A5, dotted, for writing down what the pager said."},
		{ID: "stickers", Name: "Sticker pack", Icon: "✦", PriceCents: 500, Stock: 1000,
			Description: "Six stickers: one per region you have not lost yet."},
		{ID: "hoodie", Name: "Failover hoodie", Icon: "☂", PriceCents: 5500, Stock: 120,
			Description: "Warm when your primary region is not."},
		{ID: "print", Name: "Signed first-edition print", Icon: "⚑", PriceCents: 12000, Stock: 6,
			Description: "A numbered print of the first multi-region map. Only six exist."},
	}
}

// allocate splits total units between regions as evenly as possible; the
// remainder goes to the first regions in sorted order, so every instance
// in every region computes the same split.
func allocate(total int64, regions []string) map[string]int64 {
	rs := slices.Clone(regions)
	slices.Sort(rs)
	rs = slices.Compact(rs)
	out := make(map[string]int64, len(rs))
	if len(rs) == 0 {
		return out
	}
	n := int64(len(rs))
	for i, r := range rs {
		out[r] = total / n
		if int64(i) < total%n {
			out[r]++
		}
	}
	return out
}
