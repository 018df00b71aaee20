package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/meridian-platform/meridian/bench/internal/latency"
)

// baselineResult is Pebble's own fsynced commit rate.
type baselineResult struct {
	// Variant: "write" (the baseline); "replicated" (the ceiling of this
	// machine: every write also applied to every other database); or one
	// of the -baseline-read experiments "read+write" (Get the key, then
	// write it, as the store's commit loop does) and "read+write, bloom"
	// (the same with bloom filters on every level).
	Variant      string  `json:"variant"`
	DBs          int     `json:"dbs"`
	Writers      int     `json:"writers"`
	Seconds      float64 `json:"seconds"`
	Writes       uint64  `json:"writes"`
	WritesPerSec float64 `json:"writes_per_sec"`
	LatencyP50ms float64 `json:"latency_p50_ms"`
	LatencyP99ms float64 `json:"latency_p99_ms"`
}

// Sizes of one baseline write, close to what one Meridian write stores: the
// item under a ~20 B key, and a change record (key, origin, timestamp, the
// mutation with its document) under a log key.
const (
	docBytes    = 100
	recordBytes = 160
)

// runBaseline measures how many small fsynced batches Pebble commits per
// second with `writers` concurrent committers spread over `dbs` fresh
// databases in dir. Pebble group-commits concurrent Sync commits itself.
//
// With v.replicated every committed batch is also applied to each of the
// other databases, as replication makes every region store every write:
// an applier per database takes what has queued for it and commits it as
// one batch without waiting for an fsync (the next Sync commit of that
// database's own writers makes it durable), the least a replica does. The
// queues are bounded, so the writers slow down to what the appliers keep
// up with. This is what regions that share one machine's cores and disk
// can reach at most with Pebble and nothing else.
func runBaseline(ctx context.Context, dir string, dbs, writers int, warm, dur time.Duration, v variant) (baselineResult, error) {
	res := baselineResult{Variant: v.String(), DBs: dbs, Writers: writers, Seconds: dur.Seconds()}
	var open []*pebble.DB
	defer func() {
		for _, db := range open {
			_ = db.Close()
		}
	}()
	for i := range dbs {
		cache := pebble.NewCache(16 << 20)
		opts := &pebble.Options{
			Cache:        cache,
			MemTableSize: 8 << 20,
			Logger:       silentPebbleLogger{},
		}
		if v.bloom {
			for l := range opts.Levels {
				opts.Levels[l].FilterPolicy = bloom.FilterPolicy(10)
			}
		}
		db, err := pebble.Open(filepath.Join(dir, fmt.Sprintf("pebble-%d", i)), opts)
		cache.Unref()
		if err != nil {
			return res, fmt.Errorf("opening baseline pebble: %w", err)
		}
		open = append(open, db)
	}

	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+dur)
	var (
		wg        sync.WaitGroup
		count     atomic.Uint64 // commits inside the window
		committed atomic.Uint64 // all commits
		firstErr  atomic.Value
		mu        sync.Mutex
		all       latency.Histogram
	)
	doc := filler(docBytes)
	rec := filler(recordBytes)
	var replicas []chan [2][]byte // by database: keys to apply there
	var appliers sync.WaitGroup
	if v.replicated {
		for _, db := range open {
			ch := make(chan [2][]byte, 4096)
			replicas = append(replicas, ch)
			appliers.Go(func() {
				for first := range ch {
					b := db.NewBatch()
					for kv, ok := first, true; ok; {
						_ = b.Set(kv[0], doc, nil)
						_ = b.Set(kv[1], rec, nil)
						select {
						case kv, ok = <-ch:
						default:
							ok = false
						}
					}
					err := b.Commit(pebble.NoSync)
					_ = b.Close()
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}
	}
	for w := range writers {
		db := open[w%dbs]
		wg.Go(func() {
			var lat latency.Histogram
			var n uint64
			key := make([]byte, 0, 32)
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				key = fmt.Appendf(key[:0], "d/w%04d/%012d", w, seq)
				if v.read {
					if _, closer, err := db.Get(key); err == nil {
						_ = closer.Close()
					} else if !errors.Is(err, pebble.ErrNotFound) {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				b := db.NewBatch()
				_ = b.Set(key, doc, nil)
				logKey := fmt.Appendf(nil, "l/w%04d/%012d", w, seq)
				_ = b.Set(logKey, rec, nil)
				err := b.Commit(pebble.Sync)
				_ = b.Close()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				committed.Add(1)
				for i, ch := range replicas {
					if i != w%dbs {
						ch <- [2][]byte{bytes.Clone(key), logKey}
					}
				}
				t1 := time.Now()
				if !t1.Before(from) && t1.Before(until) {
					n++
					lat.Record(t1.Sub(t0))
				}
			}
			count.Add(n)
			mu.Lock()
			all.Merge(&lat)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, ch := range replicas {
		close(ch)
	}
	appliers.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return res, fmt.Errorf("baseline commit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if v.replicated {
		// Every database must hold every write, or this is no ceiling.
		for i, db := range open {
			n, err := countPrefix(db, "d/")
			if err != nil {
				return res, fmt.Errorf("replicated baseline: counting database %d: %w", i, err)
			}
			if n != committed.Load() {
				return res, fmt.Errorf("replicated baseline: database %d holds %d of the %d writes", i, n, committed.Load())
			}
		}
	}
	res.Writes = count.Load()
	res.WritesPerSec = float64(res.Writes) / dur.Seconds()
	res.LatencyP50ms = ms(all.Quantile(0.50))
	res.LatencyP99ms = ms(all.Quantile(0.99))
	for _, db := range open {
		if err := db.Close(); err != nil {
			return res, fmt.Errorf("closing baseline pebble: %w", err)
		}
	}
	open = nil
	return res, os.RemoveAll(dir)
}

// countPrefix counts the keys of db that start with prefix.
func countPrefix(db *pebble.DB, prefix string) (uint64, error) {
	upper := []byte(prefix)
	upper[len(upper)-1]++
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: upper})
	if err != nil {
		return 0, err
	}
	var n uint64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, errors.Join(it.Error(), it.Close())
}

// variant selects what each baseline write does besides committing.
type variant struct {
	// replicated applies every write to every database (see runBaseline).
	replicated bool
	// read Gets the item's key before writing it (it is never found).
	read bool
	// bloom adds bloom filters to every level of the LSM.
	bloom bool
}

func (v variant) String() string {
	switch {
	case v.replicated:
		return "replicated"
	case v.read && v.bloom:
		return "read+write, bloom"
	case v.read:
		return "read+write"
	case v.bloom:
		return "write, bloom"
	}
	return "write"
}

// filler is n bytes of printable, poorly compressible data.
func filler(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = 'a' + byte(x%26)
	}
	return b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// silentPebbleLogger drops Pebble's informational logging.
type silentPebbleLogger struct{}

func (silentPebbleLogger) Infof(string, ...any) {}
func (silentPebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (silentPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
