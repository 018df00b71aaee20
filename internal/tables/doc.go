// Package tables is Meridian's DynamoDB-compatible table engine: global
// tables on the replicated store (internal/store). It keeps the table
// catalog, validates and executes every DynamoDB data-plane and
// control-plane operation on Go values (attr.Item, parsed expr expressions)
// and reports failures as *Error values carrying DynamoDB's error codes and
// messages. It speaks no HTTP or JSON: the DynamoDB wire adapter
// (internal/tables/dynamoapi) parses requests, calls an Engine and renders
// its results.
//
// Data model. The catalog lives in store space "_tables" (Hash = table
// name); a table's items live in space "t:<table id>" with Hash and Range the
// order-preserving encodings of the partition and sort key values. An item's
// stored state is a last-writer-wins document (attr.EncodeItem of what the
// last whole-item write wrote) plus PN-counters for top-level numeric ADDs
// and add-wins sets for top-level set ADD/DELETE; an Engine materializes the
// item from all three. Secondary indexes (GSIs and LSIs) and the TTL queue
// are derived locally in each region by the store's Indexer hook and are
// never replicated. See docs/tables.md for the merge rules and what
// conditions guarantee across regions.
//
// It imports internal/store, internal/tables/attr and internal/tables/expr;
// the DynamoDB adapter and the region node import it.
package tables
