package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/hlc"
)

// Config configures a Store. The zero value of every field but Dir and
// Region means the default.
type Config struct {
	// Dir is the Pebble directory.
	Dir string
	// Region is the region this node serves; it names the writes it accepts.
	Region string
	// Clock stamps writes (default: wall clock, no offset check).
	Clock *hlc.Clock
	// Logger (default: discard).
	Logger *slog.Logger
	// Registerer receives the store's metrics (default: none).
	Registerer prometheus.Registerer
	// MaxGroup bounds how many writes share one fsync (default 512).
	MaxGroup int
	// CacheBytes is Pebble's block cache (default 64 MiB).
	CacheBytes int64
	// FS is the filesystem (default: the OS); tests inject faults through it.
	FS vfs.FS
}

// Validate reports what is wrong with the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" && c.FS == nil {
		errs = append(errs, errors.New("store: data directory is empty"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("store: region name is empty"))
	}
	if c.MaxGroup < 0 {
		errs = append(errs, fmt.Errorf("store: max group %d is negative", c.MaxGroup))
	}
	return errors.Join(errs...)
}

// Commit says where a local write landed.
type Commit struct {
	Seq uint64
	TS  hlc.Timestamp
}

// ErrTruncated is returned by ReadLog when the records asked for are gone
// from this node's log; the reader must be repaired by anti-entropy.
var ErrTruncated = errors.New("change log truncated")

// ErrClosed is returned once the store is closed.
var ErrClosed = errors.New("store closed")

// GapError is returned when a remote record arrives before its predecessor.
type GapError struct {
	Origin    string
	Have, Got uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("record %s/%d arrived after %s/%d: gap in the change log", e.Origin, e.Got, e.Origin, e.Have)
}

// Store is one node's replicated state: items as mergeable states, the change
// log of every origin, the version vector and the anti-entropy digests, all in
// one Pebble instance. Every change commits atomically and fsynced before it is
// acknowledged. One goroutine, owned by the Store and ended by Close, orders
// and group-commits all writes.
type Store struct {
	cfg    Config
	origin string
	db     *pebble.DB
	clock  *hlc.Clock
	log    *slog.Logger
	m      *metrics

	reqs chan *request
	quit chan struct{}
	done chan struct{}

	// loopVV and loopLeaves are the commit loop's own view: they include
	// groups handed to Pebble whose fsync has not ended yet. Only the loop
	// touches them.
	loopVV     map[string]uint64
	loopLeaves [NumBuckets][leafHashSize]byte
	// loopSpaces are the keyspaces whose marker is written, so a group
	// writes a marker only for a new keyspace.
	loopSpaces map[string]bool
	loopErr    error

	mu       sync.Mutex
	indexer  Indexer
	vv       map[string]uint64
	leaves   [NumBuckets][leafHashSize]byte
	changed  chan struct{}
	fatal    error
	closeErr error
	once     sync.Once
}

// Open opens or creates the store in cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = hlc.New(nil, 0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxGroup == 0 {
		cfg.MaxGroup = 512
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	cache := pebble.NewCache(cfg.CacheBytes)
	defer cache.Unref()
	m := newMetrics(cfg.Registerer)
	opts := &pebble.Options{Cache: cache, FS: cfg.FS, MemTableSize: 8 << 20, Logger: quietLogger{cfg.Logger},
		EventListener: m.stallListener()}
	// Every write reads the current state of its key first, and most keys
	// are new: bloom filters let those reads skip data blocks on every level.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening store in %q: %w", cfg.Dir, err)
	}
	s := &Store{
		cfg:     cfg,
		db:      db,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		m:       m,
		reqs:    make(chan *request, cfg.MaxGroup),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		vv:      map[string]uint64{},
		changed: make(chan struct{}),
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.loopVV = make(map[string]uint64, len(s.vv))
	for o, seq := range s.vv {
		s.loopVV[o] = seq
	}
	s.loopLeaves = s.leaves
	s.loopSpaces = map[string]bool{}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSpace}, UpperBound: []byte{prefixSpace + 1}})
	if err == nil {
		for it.First(); it.Valid(); it.Next() {
			s.loopSpaces[string(it.Key()[1:])] = true
		}
		err = it.Close()
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("reading keyspaces in %q: %w", cfg.Dir, err)
	}
	go s.loop()
	return s, nil
}

// load reads the node identity, version vector and digests, and moves the
// clock past every write this node accepted before.
func (s *Store) load() error {
	region, err := s.getMeta("region")
	if err != nil {
		return err
	}
	switch {
	case region == nil:
		var inc [4]byte
		if _, err := rand.Read(inc[:]); err != nil {
			return fmt.Errorf("creating node incarnation: %w", err)
		}
		// A node whose data is lost comes back as a new origin, so its
		// sequence numbers never collide with the ones peers hold.
		s.origin = s.cfg.Region + "." + hex.EncodeToString(inc[:])
		b := s.db.NewBatch()
		_ = b.Set(metaKey("region"), []byte(s.cfg.Region), nil)
		_ = b.Set(metaKey("origin"), []byte(s.origin), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("initialising store: %w", err)
		}
	case string(region) != s.cfg.Region:
		return fmt.Errorf("store in %q belongs to region %q, not %q", s.cfg.Dir, region, s.cfg.Region)
	default:
		origin, err := s.getMeta("origin")
		if err != nil {
			return err
		}
		s.origin = string(origin)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixVV}, UpperBound: []byte{prefixVV + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if len(it.Value()) != 8 {
			_ = it.Close()
			return fmt.Errorf("corrupt version vector entry %q", it.Key())
		}
		s.vv[string(it.Key()[1:])] = binary.BigEndian.Uint64(it.Value())
	}
	if err := it.Close(); err != nil {
		return err
	}
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLeaf}, UpperBound: []byte{prefixLeaf + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != 3 || len(it.Value()) != leafHashSize {
			_ = it.Close()
			return fmt.Errorf("corrupt digest entry %q", k)
		}
		copy(s.leaves[binary.BigEndian.Uint16(k[1:])][:], it.Value())
	}
	if err := it.Close(); err != nil {
		return err
	}
	if seq := s.vv[s.origin]; seq > 0 {
		raw, closer, err := s.db.Get(logKey(s.origin, seq))
		if err == nil {
			rec, derr := UnmarshalRecord(raw)
			_ = closer.Close()
			if derr != nil {
				return derr
			}
			s.clock.Observe(rec.TS)
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (s *Store) getMeta(name string) ([]byte, error) {
	v, closer, err := s.db.Get(metaKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading store metadata %q: %w", name, err)
	}
	defer func() { _ = closer.Close() }()
	return bytes.Clone(v), nil
}

// Origin is the name this node's writes carry: its region and an incarnation.
func (s *Store) Origin() string { return s.origin }

// Region is the region this node serves.
func (s *Store) Region() string { return s.cfg.Region }

// Clock is the store's clock.
func (s *Store) Clock() *hlc.Clock { return s.clock }

// Close stops the commit loop and closes Pebble. Writes in flight fail.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.quit)
		<-s.done
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Get returns the state of k, or nil when it was never written.
func (s *Store) Get(k Key) (*State, error) {
	v, closer, err := s.db.Get(dataKey(k))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", k, err)
	}
	defer func() { _ = closer.Close() }()
	return UnmarshalState(v)
}

// ScanHash calls fn, in Range order, for the items of one Space and Hash
// whose Range lies in [lower, upper) (nil bounds are open). fn returns false
// to stop.
func (s *Store) ScanHash(space string, hash, lower, upper []byte, reverse bool, fn func(Key, *State) bool) error {
	p := hashPrefix(space, hash)
	lo, hi := p, prefixEnd(p)
	if lower != nil {
		lo = appendEscaped(bytes.Clone(p), lower)
		lo = lo[:len(lo)-2] // a prefix of every key ≥ lower
	}
	if upper != nil {
		hi = appendEscaped(bytes.Clone(p), upper)
		hi = hi[:len(hi)-2]
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer func() { _ = it.Close() }()
	valid := it.First
	next := it.Next
	if reverse {
		valid, next = it.Last, it.Prev
	}
	for ok := valid(); ok; ok = next() {
		k, _, err := decodeDataKey(it.Key())
		if err != nil {
			return fmt.Errorf("scanning %s: %w", space, err)
		}
		st, err := UnmarshalState(it.Value())
		if err != nil {
			return fmt.Errorf("scanning %s: %w", k, err)
		}
		if !fn(k, st) {
			return nil
		}
	}
	return it.Error()
}

// ScanSpace calls fn for the items of a Space in buckets [from, to) (to = 0
// means through the last bucket), bucket by bucket, resuming strictly after
// the key after when it is not nil. fn returns false to stop.
func (s *Store) ScanSpace(space string, from, to uint16, after *Key, fn func(Key, *State) bool) error {
	lo := bucketPrefix(space, from)
	if after != nil {
		lo = append(dataKey(*after), 0)
	}
	hi := prefixEnd(spacePrefix(space))
	if to != 0 {
		hi = bucketPrefix(space, to)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer func() { _ = it.Close() }()
	for it.First(); it.Valid(); it.Next() {
		k, _, err := decodeDataKey(it.Key())
		if err != nil {
			return fmt.Errorf("scanning %s: %w", space, err)
		}
		st, err := UnmarshalState(it.Value())
		if err != nil {
			return fmt.Errorf("scanning %s: %w", k, err)
		}
		if !fn(k, st) {
			return nil
		}
	}
	return it.Error()
}

// KeyBucket is the anti-entropy bucket of k; Scan segments are bucket ranges.
func KeyBucket(k Key) uint16 { return Bucket(k.Space, k.Hash) }

// Indexer derives local, unreplicated entries (secondary indexes) from item
// states. The store calls it on the commit goroutine for every item whose
// state changes — by a local write, a replicated record or a repair — with
// the state before (nil when absent) and after, and writes its entries in the
// same batch, so an index never disagrees with its items. It must be quick
// and cannot fail the write: an item it cannot index it logs and skips.
type Indexer interface {
	Index(k Key, old, cur *State, w IndexWriter)
}

// IndexWriter takes an Indexer's changes.
type IndexWriter interface {
	Set(key, value []byte)
	Delete(key []byte)
}

// SetIndexer installs the indexer. Call it before the store takes writes
// that need indexing.
func (s *Store) SetIndexer(ix Indexer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexer = ix
}

// GetIndex reads one index entry (nil when absent).
func (s *Store) GetIndex(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(indexKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = closer.Close() }()
	return bytes.Clone(v), nil
}

// ScanIndex calls fn for index entries with keys in [lower, upper), in
// order or reversed. fn returns false to stop.
func (s *Store) ScanIndex(lower, upper []byte, reverse bool, fn func(key, value []byte) bool) error {
	hi := prefixEnd([]byte{prefixIndex})
	if upper != nil {
		hi = indexKey(upper)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: indexKey(lower), UpperBound: hi})
	if err != nil {
		return err
	}
	defer func() { _ = it.Close() }()
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	for ok := first(); ok; ok = next() {
		if !fn(it.Key()[1:], it.Value()) {
			return nil
		}
	}
	return it.Error()
}

// Reindex asks the indexer to (re)write the entries of the given items from
// their current states, for building a new index over existing items. It
// runs on the commit goroutine, so it cannot race with writes to the items.
func (s *Store) Reindex(ctx context.Context, keys []Key) error {
	r := &request{kind: reqReindex, keys: keys, done: make(chan struct{})}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

// UpdateIndex runs fn on the commit goroutine, after every write submitted
// before it, and commits the index entries fn sets and deletes, for
// changes that follow from no item's state (Reindex reads each item and
// has the indexer rewrite all of its entries). Like Reindex, it returns
// before the entries are durable: a crash may lose them, so fn must make
// changes the caller can redo.
func (s *Store) UpdateIndex(ctx context.Context, fn func(w IndexWriter)) error {
	r := &request{kind: reqIndex, index: fn, done: make(chan struct{})}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

// VV is a copy of the version vector: per origin, the highest sequence number
// applied with every lower one.
func (s *Store) VV() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.vv))
	for k, v := range s.vv {
		out[k] = v
	}
	return out
}

// Leaves returns a copy of the anti-entropy leaf digests.
func (s *Store) Leaves() [NumBuckets][leafHashSize]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaves
}

// Root is the digest of the whole item state: two nodes with equal roots hold
// byte-identical items.
func (s *Store) Root() [sha256.Size]byte {
	l := s.Leaves()
	return RootOf(&l)
}

// RootOf hashes leaf digests into a root.
func RootOf(leaves *[NumBuckets][leafHashSize]byte) [sha256.Size]byte {
	h := sha256.New()
	for i := range leaves {
		h.Write(leaves[i][:])
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Changed returns a channel that is closed at the next commit.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Update atomically reads the states of keys (nil for items never written),
// calls fn to decide the mutations, and commits them as one change record
// stamped with one timestamp. fn runs on the commit goroutine: it must be
// quick and must not retain the states. An error from fn aborts the write and
// is returned as is. A write with no mutations commits nothing.
func (s *Store) Update(ctx context.Context, keys []Key, fn func(states []*State) ([]Mutation, error)) (Commit, error) {
	r := &request{kind: reqLocal, keys: keys, fn: fn, done: make(chan struct{})}
	if err := s.submit(ctx, r); err != nil {
		return Commit{}, err
	}
	return r.commit, r.err
}

// Apply commits mutations as one change record.
func (s *Store) Apply(ctx context.Context, muts ...Mutation) (Commit, error) {
	return s.Update(ctx, nil, func([]*State) ([]Mutation, error) { return muts, nil })
}

// ApplyRemote applies change records received from a peer, in per-origin
// order; records already applied are skipped. It returns once they are
// applied and visible to reads; VV and Root reflect them once they are
// durable, shortly after (Flush waits for that). Timestamps further ahead than
// the clock's maximum offset are refused with an *hlc.OffsetError and nothing
// of the batch is applied.
func (s *Store) ApplyRemote(ctx context.Context, recs []*Record) (applied int, err error) {
	var maxTS hlc.Timestamp
	for _, rec := range recs {
		if err := rec.Validate(); err != nil {
			return 0, err
		}
		if maxTS.Less(rec.TS) {
			maxTS = rec.TS
		}
	}
	if err := s.clock.Update(maxTS); err != nil {
		return 0, err
	}
	r := &request{kind: reqRemote, records: recs, done: make(chan struct{})}
	if err := s.submit(ctx, r); err != nil {
		return 0, err
	}
	return r.applied, r.err
}

// Flush waits until everything applied before it is durable and reflected
// in VV and Root.
func (s *Store) Flush(ctx context.Context) error {
	return s.AdvanceVV(ctx, nil)
}

// RawState is an item as anti-entropy moves it: its storage key and encoded
// state.
type RawState struct {
	Key   []byte
	State []byte
}

// MergeStates joins repaired item states into the store. Every key and state
// is checked before any is applied.
func (s *Store) MergeStates(ctx context.Context, items []RawState) (changed int, err error) {
	r := &request{kind: reqMerge, done: make(chan struct{})}
	for _, it := range items {
		if _, _, err := decodeDataKey(it.Key); err != nil {
			return 0, fmt.Errorf("repair item %x: %w", it.Key, err)
		}
		st, err := UnmarshalState(it.State)
		if err != nil {
			return 0, fmt.Errorf("repair item %x: %w", it.Key, err)
		}
		r.merge = append(r.merge, mergeItem{key: it.Key, state: st})
	}
	if err := s.submit(ctx, r); err != nil {
		return 0, err
	}
	return r.applied, r.err
}

// AdvanceVV raises version vector entries to vv. Anti-entropy calls it after
// merging every item of a peer's snapshot that was taken at vv, since this
// node then holds everything those records wrote.
func (s *Store) AdvanceVV(ctx context.Context, vv map[string]uint64) error {
	r := &request{kind: reqAdvance, advance: vv, done: make(chan struct{})}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

func (s *Store) submit(ctx context.Context, r *request) error {
	if err := s.Fatal(); err != nil {
		return err
	}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return nil
	case <-s.done:
		select {
		case <-r.done:
			return nil
		default:
			return ErrClosed
		}
	}
}

// ReadLog returns up to max encoded change records of origin, starting at
// sequence from, stopping early at maxBytes. It returns ErrTruncated when
// record from is no longer kept.
func (s *Store) ReadLog(origin string, from uint64, max, maxBytes int) ([][]byte, error) {
	s.mu.Lock()
	applied := s.vv[origin]
	s.mu.Unlock()
	if from > applied {
		return nil, nil
	}
	p := logPrefix(origin)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logKey(origin, from), UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = it.Close() }()
	// The records are copied into one buffer and sliced from it once it
	// has stopped growing: one allocation, not one per record.
	var buf []byte
	var ends []int
	want := from
	for it.First(); it.Valid() && len(ends) < max && len(buf) < maxBytes; it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[len(p):])
		// Pebble shows a batch before its fsync ends; serve only records
		// whose commit has been acknowledged, so a peer never holds a
		// record that a crash here could take back.
		if seq != want || seq > applied {
			break
		}
		buf = append(buf, it.Value()...)
		ends = append(ends, len(buf))
		want++
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(ends) == 0 {
		return nil, fmt.Errorf("%w: %s from %d", ErrTruncated, origin, from)
	}
	out := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		out[i] = buf[start:end:end]
		start = end
	}
	return out, nil
}

// TruncateLog deletes origin's records up to and including through.
func (s *Store) TruncateLog(origin string, through uint64) error {
	if through == 0 {
		return nil
	}
	if err := s.db.DeleteRange(logKey(origin, 0), logKey(origin, through+1), pebble.NoSync); err != nil {
		return fmt.Errorf("truncating log of %s through %d: %w", origin, through, err)
	}
	s.m.truncated.WithLabelValues(origin).Set(float64(through))
	return nil
}

// FirstLogSeq is the first sequence number of origin still in the log (0 when
// the log holds none) and the timestamp of that record.
func (s *Store) FirstLogSeq(origin string) (uint64, hlc.Timestamp, error) {
	p := logPrefix(origin)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, hlc.Timestamp{}, err
	}
	defer func() { _ = it.Close() }()
	if !it.First() {
		return 0, hlc.Timestamp{}, it.Error()
	}
	rec, err := UnmarshalRecord(it.Value())
	if err != nil {
		return 0, hlc.Timestamp{}, err
	}
	return rec.Seq, rec.TS, nil
}

// LogSeqBefore returns the highest sequence number of origin whose record is
// older than cutoff, scanning from the start of the log (0 if none).
func (s *Store) LogSeqBefore(origin string, cutoff time.Time) (uint64, error) {
	p := logPrefix(origin)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	defer func() { _ = it.Close() }()
	var last uint64
	for it.First(); it.Valid(); it.Next() {
		rec, err := UnmarshalRecord(it.Value())
		if err != nil {
			return 0, err
		}
		if !rec.TS.Time().Before(cutoff) {
			break
		}
		last = rec.Seq
	}
	return last, it.Error()
}

// Probe checks that storage is writable: it writes and fsyncs a marker.
func (s *Store) Probe() error {
	if err := s.Fatal(); err != nil {
		return err
	}
	stamp := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
	if err := s.db.Set(metaKey("probe"), stamp, pebble.Sync); err != nil {
		return fmt.Errorf("storage is not writable: %w", err)
	}
	return nil
}

// Snapshot is a consistent read-only view for anti-entropy.
type Snapshot struct {
	snap *pebble.Snapshot
	// VV is a lower bound of the version vector the view reflects.
	VV map[string]uint64
}

// Snapshot opens a consistent view. Close it when done.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	vv := make(map[string]uint64, len(s.vv))
	for k, v := range s.vv {
		vv[k] = v
	}
	return &Snapshot{snap: s.db.NewSnapshot(), VV: vv}
}

// Close releases the view.
func (sn *Snapshot) Close() error { return sn.snap.Close() }

// Leaves reads the leaf digests of the view.
func (sn *Snapshot) Leaves() (*[NumBuckets][leafHashSize]byte, error) {
	var out [NumBuckets][leafHashSize]byte
	it, err := sn.snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLeaf}, UpperBound: []byte{prefixLeaf + 1}})
	if err != nil {
		return nil, err
	}
	defer func() { _ = it.Close() }()
	for it.First(); it.Valid(); it.Next() {
		copy(out[binary.BigEndian.Uint16(it.Key()[1:])][:], it.Value())
	}
	return &out, it.Error()
}

// ScanBucket calls fn for every item of one bucket, across keyspaces.
func (sn *Snapshot) ScanBucket(bucket uint16, fn func(RawState) error) error {
	var spaces []string
	it, err := sn.snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSpace}, UpperBound: []byte{prefixSpace + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		spaces = append(spaces, string(it.Key()[1:]))
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, sp := range spaces {
		p := bucketPrefix(sp, bucket)
		it, err := sn.snap.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			if err := fn(RawState{Key: bytes.Clone(it.Key()), State: bytes.Clone(it.Value())}); err != nil {
				_ = it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return nil
}

// quietLogger routes Pebble's own logging to slog.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble") //nolint:sloglint // Pebble logs printf-style; its format is the message
}
func (q quietLogger) Errorf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble") //nolint:sloglint // Pebble logs printf-style; its format is the message
}
func (q quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
