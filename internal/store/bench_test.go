package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/meridian-platform/meridian/internal/hlc"
)

// benchDoc is about what bench/writes stores per write.
var benchDoc = make([]byte, 100)

// BenchmarkApplyRemote applies replicated records of new keys, 256 per
// ApplyRemote as a pull stream delivers them: the receiving regions' share
// of a replicated write. ns/op is per record.
func BenchmarkApplyRemote(b *testing.B) {
	ctx := context.Background()
	s, err := Open(Config{Dir: b.TempDir(), Region: "eu-west"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	const per = 256
	raw := make([][]byte, 0, b.N)
	wall := time.Now().UnixNano()
	for i := range b.N {
		rec := &Record{Origin: "us-east.00000001", Seq: uint64(i + 1), TS: hlc.Timestamp{WallNanos: wall + int64(i)},
			Mutations: []Mutation{{Key: Key{Space: "bench", Hash: fmt.Appendf(nil, "r0-w%03d-%010d", i%32, i)}, Put: benchDoc}}}
		raw = append(raw, rec.Marshal())
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i += per {
		recs := make([]*Record, 0, per)
		for _, r := range raw[i:min(i+per, b.N)] {
			rec, err := UnmarshalRecord(r)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, rec)
		}
		if _, err := s.ApplyRemote(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkApplyLocal is 32 concurrent writers putting new keys: the
// accepting region's share of a replicated write. ns/op is per write.
func BenchmarkApplyLocal(b *testing.B) {
	ctx := context.Background()
	s, err := Open(Config{Dir: b.TempDir(), Region: "us-east"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var n atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Apply(ctx, Mutation{Key: Key{Space: "bench", Hash: fmt.Appendf(nil, "r0-w%03d-%010d", i%32, i)}, Put: benchDoc}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	var m dto.Metric
	if err := s.m.groupSize.Write(&m); err == nil && m.GetHistogram().GetSampleCount() > 0 {
		b.ReportMetric(m.GetHistogram().GetSampleSum()/float64(m.GetHistogram().GetSampleCount()), "writes/group")
	}
}

// reportCPU reports the process's CPU time per op (Pebble's flushes and
// compactions included) from now until the returned func runs: on a shared
// machine a steadier figure than ns/op.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}
