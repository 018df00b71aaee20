// Package health runs Route 53-style health checks and agrees on their
// verdicts with the other checkers of a deployment.
//
// Every edge and every region node runs one Checker. It probes every "http"
// and "tcp" Check itself, turning a run of FailureThreshold consecutive probe
// failures (or, once unhealthy, successes) into its local verdict, and
// measures the round-trip time of the probes. It serves its local verdicts on
// an HTTP endpoint (Handler, mounted at Path) and long-polls the same endpoint
// of every configured peer, so a changed verdict reaches every checker within
// one network round trip.
//
// The global verdict of a check is unhealthy only when a strict majority of
// all configured checkers (this one and every peer, reachable or not)
// currently report it unhealthy. One checker cut off from a region therefore
// cannot fail the region over, while a region that dies together with its own
// checker is still failed over by the others. "calculated" checks combine the
// global verdicts of their children. Health and RTT answer from the global
// state on every DNS query or proxied request without blocking on probes.
//
// # Timing
//
// With the defaults (Interval 1s, Timeout 700ms, FailureThreshold 3) a target
// that stops answering is unhealthy at its checkers at most
// 2×Interval+Timeout after the first probe that misses it, so at most
// 3×Interval+Timeout after it died; the long-poll delivers that to the other
// checkers one network one-way trip later: the whole pipeline fits
// Interval×FailureThreshold + 1s for links under 300ms round trip. (A target
// that refuses connections fails its probes at once; a Timeout above
// Interval stretches the bound.) A peer
// whose verdicts have not been refreshed for ExpireAfter (6s) stops counting
// as a vote either way; quiet peers answer a long-poll every ExpireAfter/3,
// so a reachable peer never expires.
//
// # Importers
//
// internal/edge and internal/region run a Checker and mount its Handler on
// the admin port; internal/cli may read Status for operator commands. The
// DNS server consumes it through its own Health interface and does not import
// this package. This package imports no other Meridian package.
package health
