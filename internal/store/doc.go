// Package store is a node's replicated state on Pebble: items kept as
// mergeable states (last-writer-wins documents with tombstones, PN-counters,
// add-wins sets), the gap-free change log of every origin region, the version
// vector of what has been applied, and Merkle leaf digests for anti-entropy.
//
// A write is committed, with its change record, in one fsynced batch before it
// is acknowledged; concurrent writes share fsyncs (group commit). Records from
// peers apply in per-origin order, idempotently. States are a
// join-semilattice, so regions that have applied the same writes, in any
// order and by any path (log or anti-entropy), hold byte-identical states.
//
// The replication layer (internal/repl) and the API engines import it; it
// imports nothing of Meridian's but hlc and codec.
package store
