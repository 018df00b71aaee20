package s3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/store"
)

// InternalObjectParam is the query parameter of the peer fetch: GET
// /?x-meridian-object=<id> on a region's API port returns the bytes of the
// version with that internal id, if the node has them (404 otherwise).
const InternalObjectParam = "x-meridian-object"

type metrics struct {
	backlog   prometheus.Gauge
	lag       prometheus.Gauge
	delay     prometheus.Histogram
	fetches   *prometheus.CounterVec
	bytes     prometheus.Counter
	written   prometheus.Counter
	proxied   prometheus.Counter
	collected prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meridian_s3_replication_backlog_versions",
			Help: "Object versions visible in this region whose bytes have not been copied to this node yet."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meridian_s3_replication_lag_seconds",
			Help: "Age of the oldest object version waiting for its bytes here (0 when caught up)."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meridian_s3_replication_delay_seconds",
			Help:    "Time from an object version's write in its origin region to its bytes being stored here.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_s3_replication_fetches_total",
			Help: "Fetches of object bytes from other regions, by result (ok, unavailable, corrupt)."}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_s3_replication_bytes_total",
			Help: "Object bytes copied to this node from other regions."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_s3_versions_written_total",
			Help: "Object versions written through this node."}),
		proxied: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_s3_proxied_reads_total",
			Help: "Reads served from another region because the bytes had not replicated here yet."}),
		collected: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_s3_garbage_files_removed_total",
			Help: "Files of deleted or overwritten versions removed."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.backlog, m.lag, m.delay, m.fetches, m.bytes, m.written, m.proxied, m.collected} {
			_ = reg.Register(c)
		}
	}
	return m
}

// SignWith returns a Config.Sign that signs with an access key (SigV4,
// service s3, unsigned payload).
func SignWith(accessKeyID, secretAccessKey, region string) func(*http.Request) error {
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}
	return func(r *http.Request) error {
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		return signer.SignHTTP(r.Context(), creds, r, "UNSIGNED-PAYLOAD", "s3", region, time.Now())
	}
}

type retry struct {
	attempts int
	corrupt  int
	next     time.Time
}

// Run drains the replication and garbage queues until ctx is cancelled. It
// returns nil then; fetches in flight are abandoned and resume at the next
// start (the queue is in the store).
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	sem := make(chan struct{}, e.cfg.FetchConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	// A kick comes from the indexer, before its batch is visible: pass
	// again once the store has committed, and once more shortly after.
	again := time.NewTimer(time.Hour)
	defer again.Stop()
	full := true
	for {
		e.collect(ctx)
		e.replicate(ctx, sem, &wg, full)
		full = false
		select {
		case <-ctx.Done():
			return nil
		case <-e.kick:
			select {
			case <-e.st.Changed():
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
			again.Reset(100 * time.Millisecond)
		case <-again.C:
		case <-t.C:
			full = true
		}
	}
}

// collect removes the files of dead versions: those the indexer queued
// and, when the queue may be incomplete, those a scan of the garbage
// entries finds.
func (e *Engine) collect(ctx context.Context) {
	e.gcMu.Lock()
	dead, scan := e.dead, e.rescan
	e.dead, e.rescan = nil, false
	e.gcMu.Unlock()
	failed := false
	defer func() {
		if failed {
			e.gcMu.Lock()
			e.rescan = true
			e.gcMu.Unlock()
		}
	}()
	refs := map[string]store.Key{} // by id
	if scan {
		err := e.st.ScanIndex([]byte(garbagePrefix), prefixEnd([]byte(garbagePrefix)), false, func(k, v []byte) bool {
			if ref, ok := parseRef(v); ok {
				refs[string(k[len(garbagePrefix):])] = ref
			}
			return len(refs) < 1000
		})
		failed = err != nil || len(refs) >= 1000
	}
	if len(refs) == 0 && len(dead) == 0 {
		return
	}
	// Remove files only once the writes that made their versions dead are
	// durable: the store shows a batch before its fsync ends.
	if err := e.st.Flush(ctx); err != nil {
		failed = true
		return
	}
	for _, id := range dead {
		if _, ok := refs[id]; ok {
			continue
		}
		v, err := e.st.GetIndex(garbageKey(id))
		if err != nil {
			failed = true
			continue
		}
		if ref, ok := parseRef(v); ok {
			refs[id] = ref
		}
	}
	// Remove the files, then drop their entries in one batch (a crash in
	// between leaves entries whose files are gone; the next start's scan
	// drops them).
	var removed []string
	for id := range refs {
		if err := e.files.remove(id); err != nil {
			e.log.Warn("removing a dead version's file", "id", id, "err", err)
			failed = true
			continue
		}
		e.m.collected.Inc()
		removed = append(removed, id)
	}
	if err := e.files.publish(); err != nil {
		e.log.Warn("syncing the names of files kept for reuse", "err", err)
	}
	if len(removed) == 0 {
		return
	}
	// An entry says a dead version's file is still here; with the file
	// gone it is dropped as it is, with no need to read and reindex the
	// object (a version replaced by a whole-item write is not even in its
	// state any more). The store orders this after every write that could
	// have set the entry: the indexer sets one only while the file exists.
	err := e.st.UpdateIndex(ctx, func(w store.IndexWriter) {
		for _, id := range removed {
			if !e.files.exists(id) {
				w.Delete(garbageKey(id))
			}
		}
	})
	if err != nil {
		failed = true
	}
}

// replicate starts fetches for pending versions: those of the hints, or,
// when full, those a scan of the pending entries finds (which also sets
// the backlog and lag gauges).
func (e *Engine) replicate(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup, full bool) {
	type item struct {
		id  string
		ref store.Key
	}
	var items []item
	count := 0
	if full {
		e.hintMu.Lock()
		e.scans++
		scan := e.scans
		e.hintMu.Unlock()
		found := func(id string) {
			e.hintMu.Lock()
			if h, ok := e.hints[id]; ok {
				h.seen = scan
				e.hints[id] = h
			}
			e.hintMu.Unlock()
		}
		err := e.st.ScanIndex([]byte(pendingPrefix), prefixEnd([]byte(pendingPrefix)), false, func(k, v []byte) bool {
			count++
			id := string(k[len(pendingPrefix):])
			found(id)
			if ref, ok := parseRef(v); ok && len(items) < 1000 {
				items = append(items, item{id, ref})
			}
			return true
		})
		if err == nil {
			e.hintMu.Lock()
			for id, h := range e.hints {
				if h.seen+1 < scan {
					delete(e.hints, id)
				}
			}
			e.hintMu.Unlock()
		}
	} else {
		e.hintMu.Lock()
		for id, h := range e.hints {
			if len(items) == 1000 {
				break
			}
			items = append(items, item{id, h.ref})
		}
		e.hintMu.Unlock()
	}
	now := e.cfg.Now()
	var oldest time.Time
	older := func(t time.Time) {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	for _, it := range items {
		// A pass runs after every indexed batch: skip the versions being
		// fetched before reading and decoding their state again.
		e.mu.Lock()
		mod, busy := e.inflight[it.id]
		r := e.retries[it.id]
		e.mu.Unlock()
		if busy {
			older(mod)
			continue
		}
		if !full && r != nil && now.Before(r.next) {
			continue
		}
		st, err := e.st.Get(it.ref)
		if err != nil {
			continue
		}
		var v *Version
		for _, c := range versionsIn(e.versions, st, e.cfg.Region) {
			if c.ID == it.id {
				v = c
			}
		}
		if v == nil {
			// No longer wanted: the indexer drops the entry on a full
			// pass. A hint may also be ahead of its batch's commit.
			if full {
				_ = e.st.Reindex(ctx, []store.Key{it.ref})
			}
			continue
		}
		older(v.Modified)
		e.mu.Lock()
		r = e.retries[v.ID]
		_, busy = e.inflight[v.ID]
		busy = busy || (r != nil && now.Before(r.next))
		if !busy {
			e.inflight[v.ID] = v.Modified
		}
		e.mu.Unlock()
		if busy {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			e.mu.Lock()
			delete(e.inflight, v.ID)
			e.mu.Unlock()
			return
		}
		wg.Add(1)
		go func(v *Version, ref store.Key, st *store.State) {
			defer wg.Done()
			defer func() { <-sem }()
			err := e.fetch(ctx, v, ref, st)
			e.mu.Lock()
			delete(e.inflight, v.ID)
			e.mu.Unlock()
			if err == nil || ctx.Err() != nil {
				return
			}
			e.log.Debug("replicating object bytes", "id", v.ID, "origin", v.Origin, "err", err)
			e.wake()
		}(v, it.ref, st)
	}
	if !full {
		return
	}
	e.m.backlog.Set(float64(count))
	if oldest.IsZero() {
		e.m.lag.Set(0)
	} else {
		e.m.lag.Set(now.Sub(oldest).Seconds())
	}
}

var errCorrupt = errors.New("fetched bytes do not match the version's checksum")

// fetch copies one version's bytes to this node and records the replica.
func (e *Engine) fetch(ctx context.Context, v *Version, ref store.Key, st *store.State) error {
	if !e.files.exists(v.ID) {
		err := e.download(ctx, v, st)
		if err != nil {
			e.mu.Lock()
			r := e.retries[v.ID]
			if r == nil {
				r = &retry{}
				e.retries[v.ID] = r
			}
			r.attempts++
			if errors.Is(err, errCorrupt) {
				r.corrupt++
			}
			backoff := e.cfg.RetryMin << min(r.attempts-1, 20)
			if backoff > e.cfg.RetryMax || backoff <= 0 {
				backoff = e.cfg.RetryMax
			}
			r.next = e.cfg.Now().Add(backoff)
			failed := r.corrupt == e.cfg.MaxCorruptFetches
			e.mu.Unlock()
			if errors.Is(err, errCorrupt) {
				e.m.fetches.WithLabelValues("corrupt").Inc()
			} else {
				e.m.fetches.WithLabelValues("unavailable").Inc()
			}
			if failed {
				e.log.Error("giving up replicating a version whose bytes keep failing their checksum", "id", v.ID, "origin", v.Origin)
				_, _ = e.st.Apply(ctx, store.Mutation{Key: ref, SetAdd: []store.SetOp{{Field: replicasField, Elems: [][]byte{replicaElem(v.ID, e.cfg.Region, true)}}}})
			}
			return err
		}
		e.m.fetches.WithLabelValues("ok").Inc()
		e.m.bytes.Add(float64(v.Size))
		e.m.delay.Observe(e.cfg.Now().Sub(v.Modified).Seconds())
	}
	e.mu.Lock()
	delete(e.retries, v.ID)
	e.mu.Unlock()
	// Record the replica (the origin computes COMPLETED from it); the
	// indexer clears the pending entry in the same batch. If the region had
	// recorded it already (another node of this region, or this one before
	// a crash), only the pending entry is left to clear.
	if done, _ := replicaState(st, v.ID); !done[e.cfg.Region] {
		_, err := e.st.Apply(ctx, store.Mutation{Key: ref, SetAdd: []store.SetOp{{Field: replicasField, Elems: [][]byte{replicaElem(v.ID, e.cfg.Region, false)}}}})
		return err
	}
	return e.st.Reindex(ctx, []store.Key{ref})
}

// sources lists the API base URLs to fetch v from: its origin first, then
// regions that recorded a replica.
func (e *Engine) sources(v *Version, st *store.State) []string {
	if e.cfg.Peers == nil {
		return nil
	}
	peers := e.cfg.Peers()
	var out []string
	if u := peers[v.Origin]; u != "" && v.Origin != e.cfg.Region {
		out = append(out, u)
	}
	done, _ := replicaState(st, v.ID)
	var others []string
	for r := range done {
		if r != e.cfg.Region && r != v.Origin && peers[r] != "" {
			others = append(others, r)
		}
	}
	slices.Sort(others)
	for _, r := range others {
		out = append(out, peers[r])
	}
	return out
}

// get asks one peer for [off, off+n) of a version's bytes (n < 0: all).
func (e *Engine) get(ctx context.Context, base, id string, off, n int64) (*http.Response, error) {
	u := base + "/?" + InternalObjectParam + "=" + url.QueryEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if off > 0 || n >= 0 {
		rng := "bytes=" + strconv.FormatInt(off, 10) + "-"
		if n >= 0 {
			rng += strconv.FormatInt(off+n-1, 10)
		}
		req.Header.Set("Range", rng)
	}
	if e.cfg.Sign != nil {
		if err := e.cfg.Sign(req); err != nil {
			return nil, fmt.Errorf("signing a peer fetch: %w", err)
		}
	}
	// A black-holed peer must not stall the queue: give up when it sends
	// nothing for StallTimeout, before or during the body.
	ctx, cancel := context.WithCancel(ctx)
	dog := time.AfterFunc(e.cfg.StallTimeout, cancel)
	resp, err := e.http.Do(req.WithContext(ctx))
	if err != nil {
		dog.Stop()
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		dog.Stop()
		cancel()
		return nil, fmt.Errorf("peer %s answered %s for version %s", base, resp.Status, id)
	}
	resp.Body = &watchdog{rc: resp.Body, dog: dog, cancel: cancel, d: e.cfg.StallTimeout}
	return resp, nil
}

// watchdog cancels a peer read that makes no progress for d.
type watchdog struct {
	rc     io.ReadCloser
	dog    *time.Timer
	cancel context.CancelFunc
	d      time.Duration
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	if n > 0 {
		w.dog.Reset(w.d)
	}
	return n, err
}

func (w *watchdog) Close() error {
	w.dog.Stop()
	w.cancel()
	return w.rc.Close()
}

// download streams a version from a peer into place, verifying its size
// and CRC64NVME before the file gets its final name.
func (e *Engine) download(ctx context.Context, v *Version, st *store.State) error {
	srcs := e.sources(v, st)
	if len(srcs) == 0 {
		return fmt.Errorf("no region to fetch version %s from (origin %s)", v.ID, v.Origin)
	}
	var errs []error
	for _, base := range srcs {
		err := e.downloadFrom(ctx, base, v)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (e *Engine) downloadFrom(ctx context.Context, base string, v *Version) error {
	resp, err := e.get(ctx, base, v.ID, 0, -1)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	tmp, err := e.files.createTemp()
	if err != nil {
		return err
	}
	cr := &crcReader{r: io.LimitReader(resp.Body, v.Size+1), crc: crc64.New(nvme)}
	// Hide tmp's ReadFrom, which would copy through a fresh 32 KB buffer.
	if _, err := e.copyStream(struct{ io.Writer }{tmp}, cr); err != nil {
		discard(tmp.File)
		return fmt.Errorf("fetching version %s from %s: %w", v.ID, base, err)
	}
	got := hexString(binary.BigEndian.AppendUint64(nil, cr.crc.Sum64()))
	if cr.n != v.Size || got != v.CRC {
		discard(tmp.File)
		return fmt.Errorf("%w: version %s from %s: %d bytes with CRC64NVME %s, want %d bytes with %s", errCorrupt, v.ID, base, cr.n, got, v.Size, v.CRC)
	}
	if err := place(tmp.File, e.files.object(v.ID), e.files.objSync.sync); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// fetchRange reads part of a version from a region that has it, for reads
// that arrive before the bytes have replicated here.
func (e *Engine) fetchRange(ctx context.Context, v *Version, off, n int64) (io.ReadCloser, error) {
	var errs []error
	for _, base := range e.sources(v, nil) {
		resp, err := e.get(ctx, base, v.ID, off, n)
		if err == nil {
			return resp.Body, nil
		}
		errs = append(errs, err)
	}
	return nil, &Error{Code: CodeServiceUnavailable, Message: "The object's bytes have not replicated to this region yet and no region holding them can be reached; retry later. " + errors.Join(errs...).Error()}
}

// OpenFile opens the local bytes of a version by internal id, for the peer
// fetch endpoint. Call release after closing the file.
func (e *Engine) OpenFile(id string) (f *os.File, release func(), err error) {
	if id == "" || len(id) > 64 {
		return nil, nil, os.ErrNotExist
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return nil, nil, os.ErrNotExist
		}
	}
	unpin := e.files.pin(id)
	f, err = os.Open(e.files.object(id))
	if err != nil {
		unpin()
		return nil, nil, err
	}
	return f, unpin, nil
}

// Pending counts the versions visible here whose bytes this node does not
// hold yet (the replication backlog).
func (e *Engine) Pending() (int, error) {
	n := 0
	err := e.st.ScanIndex([]byte(pendingPrefix), prefixEnd([]byte(pendingPrefix)), false, func(_, _ []byte) bool {
		n++
		return true
	})
	return n, err
}
