// Package iam holds Meridian's identities: access keys today, principals and
// policies in a later issue.
//
// Access keys live in the replicated store (space "_iam:keys", one item per
// access key ID, last writer wins), so a key created in one region signs
// requests in every region once replicated. SigV4 needs the secret access key
// itself, so it cannot be hashed; it is stored under envelope encryption: a
// fresh 256-bit data key per access key encrypts the secret with AES-256-GCM,
// and the data key is sealed with the cluster master key (AES-256-GCM), whose
// ID is recorded with it so that the master key can be rotated later. The
// master key is a 32-byte file readable only by its owner (EnsureMasterKey);
// every node of the cluster needs the same one. No secret is logged or
// written to the store in the clear.
//
// Keys.Lookup is the sigv4.Config.Lookup of every AWS-compatible API. The
// bootstrap administrator key is kept in an AWS shared-credentials file
// (EnsureBootstrapCredentials) that `meridian up` hands to users and that
// each region node stores with Keys.Bootstrap.
//
// Imported by the region node, the CLI and the API adapters' tests. It
// imports internal/store and internal/sigv4.
package iam
