// Package s3 is Meridian's object store engine: buckets, object versions,
// multipart uploads and the cross-region replication of object bytes, behind
// the S3 wire adapter in internal/s3/s3api.
//
// Metadata lives in the replicated store (internal/store), so it reaches every
// region by itself:
//
//   - Space "s3b", Hash = bucket name: the bucket (Range ""), its versioning
//     state (Range "v") and its replication configuration (Range "r"), each a
//     last-writer-wins document naming the bucket's random id, so a bucket
//     deleted and created again never sees the old objects or settings.
//   - Space "s3:<bucket id>", Hash = object key, Range "": the key's versions.
//     In a bucket that never had versioning, the one version is the item's
//     base document (a whole-item write: last writer wins, bounded state).
//     Once versioning was enabled, versions are an add-wins set (field "v")
//     of immutable version records, and base versions written before are
//     hidden through field "x". Field "r" records the regions holding each
//     version's bytes. A version's tag, the store's (HLC timestamp, origin),
//     orders versions the same way in every region, so concurrent writes
//     converge to the same current version.
//     Range "t"+id: the tag set of one version (last writer wins).
//
// Object bytes are files under Config.Dir, one per version, written to a
// temporary file, verified, fsynced and renamed before the metadata commits.
// Bytes written in one region are copied to the others by an asynchronous,
// persisted queue: the engine's store.Indexer keeps, in the store's local index
// space and in the same batch as every metadata change, a "pending" entry for
// each visible version whose bytes are not on this node and a "garbage" entry
// for each dead version whose file still is. Run drains both: it fetches
// pending versions from their origin (or any region holding them) over the
// peers' API ports, verifies their checksums and records the replica in the
// store, from which the origin computes x-amz-replication-status.
//
// Only the API adapter (internal/s3/s3api), the API port's wiring
// (internal/awsapi) and tests import it.
package s3
