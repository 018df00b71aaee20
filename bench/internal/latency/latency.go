// Package latency is the benchmarks' latency histogram: log-linear buckets
// of microseconds, exact to about 1.6%, one per load goroutine, merged at the
// end. Only the programs under bench/ import it.
package latency

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// subBuckets is how many linear steps each power of two is split into: the
// recorded quantiles are exact to within 1/subBuckets (about 1.6%).
const subBuckets = 64

// Histogram is a log-linear histogram of durations in microseconds, one per
// writer goroutine (not safe for concurrent use); merge them at the end.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

// bucketOf maps a value in microseconds to its bucket: values below
// subBuckets have their own bucket, larger ones share a bucket with the
// values that agree in their top log2(subBuckets)+1 bits.
func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	exp := bits.Len64(us) - 7
	return (exp+1)*subBuckets + int(us>>exp) - subBuckets //nolint:gosec // G115: us>>exp is in [64, 128)
}

// bucketUpper is the largest value in microseconds that maps to bucket b.
func bucketUpper(b int) uint64 {
	if b < subBuckets {
		return uint64(b) //nolint:gosec // G115: b is below subBuckets here, not negative
	}
	exp := b/subBuckets - 1
	mant := uint64(b%subBuckets + subBuckets)
	return (mant+1)<<exp - 1
}

// Record adds one duration; negative durations count as zero.
func (l *Histogram) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	b := bucketOf(us)
	if b >= len(l.counts) {
		grown := make([]uint64, b+1)
		copy(grown, l.counts)
		l.counts = grown
	}
	l.counts[b]++
	l.n++
	l.sum += d
	l.max = max(l.max, d)
}

// Merge adds the durations recorded in o.
func (l *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(l.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, l.counts)
		l.counts = grown
	}
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
	l.sum += o.sum
	l.max = max(l.max, o.max)
}

// Quantile returns the upper bound of the bucket holding the q-th value
// (0 < q ≤ 1), or 0 without samples.
func (l *Histogram) Quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(l.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range l.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketUpper(b)) * time.Microsecond //nolint:gosec // G115: a bucket bound in µs is far below 2^63 ns
		}
	}
	return l.max
}

// Mean is the average of the recorded durations, or 0 without samples.
func (l *Histogram) Mean() time.Duration {
	if l.n == 0 {
		return 0
	}
	return l.sum / time.Duration(l.n) //nolint:gosec // G115: a sample count is far below 2^63
}

// Count is how many durations were recorded.
func (l *Histogram) Count() uint64 { return l.n }

// Max is the longest duration recorded.
func (l *Histogram) Max() time.Duration { return l.max }

// wire is a Histogram as JSON: bucket counts, sample count, sum and max in
// nanoseconds.
type wire struct {
	Counts []uint64 `json:"counts"`
	N      uint64   `json:"n"`
	SumNs  int64    `json:"sum_ns"`
	MaxNs  int64    `json:"max_ns"`
}

// MarshalJSON encodes the histogram so that another process can merge it.
func (l *Histogram) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire{Counts: l.counts, N: l.n, SumNs: int64(l.sum), MaxNs: int64(l.max)})
}

// UnmarshalJSON decodes what MarshalJSON encoded, checking that the bucket
// counts add up to the sample count.
func (l *Histogram) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var total uint64
	for _, c := range w.Counts {
		total += c
	}
	if total != w.N || w.SumNs < 0 || w.MaxNs < 0 {
		return fmt.Errorf("latency histogram: %d samples in buckets, %d counted", total, w.N)
	}
	*l = Histogram{counts: w.Counts, n: w.N, sum: time.Duration(w.SumNs), max: time.Duration(w.MaxNs)}
	return nil
}
