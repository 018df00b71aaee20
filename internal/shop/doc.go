// Package shop is Meridian's reference workload: a small global e-commerce
// application (catalog, product pages, cart, checkout, order confirmation,
// and a JSON API for the same actions) that keeps its data in DynamoDB
// global tables through aws-sdk-go-v2, talking only to its own region's API
// endpoint.
//
// It is written to be read: it shows how an application built on Meridian
// creates its tables, seeds data idempotently from many instances in many
// regions at once, uses numeric ADD counters, and sells limited stock
// without overselling even though every region accepts writes (see
// docs/shop.md for the inventory model and its guarantee).
//
// Run serves one instance; `meridian shop serve` calls it with
// ConfigFromEnv, the environment an instance group gives each process.
// Only the CLI imports this package.
package shop
