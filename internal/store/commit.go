package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

type reqKind int

const (
	reqLocal reqKind = iota
	reqRemote
	reqMerge
	reqAdvance
	reqReindex
	reqIndex
)

type mergeItem struct {
	key   []byte
	state *State
}

type request struct {
	kind    reqKind
	keys    []Key
	fn      func([]*State) ([]Mutation, error)
	records []*Record
	merge   []mergeItem
	advance map[string]uint64
	index   func(IndexWriter)

	commit  Commit
	applied int
	err     error
	done    chan struct{}
}

// loop is the single writer: it takes every request queued at the moment,
// applies them in order to one batch and hands the batch to Pebble. While
// Pebble fsyncs it, the loop already builds the next batch on top (the
// applied batch is visible to reads at once); the syncer answers requests
// strictly in order, each only once its batch is durable. Both exit when
// the store is closed.
//
// At most maxSyncing groups wait for an fsync at a time. While that many
// do, writes that must be durable before they are answered (local writes,
// version-vector advances) gather into the next group instead of each
// going to Pebble alone: every group costs a Pebble commit, version-vector
// and digest writes and a wake-up of every peer stream (with 16 groups in
// flight, 32 writers made groups of under 3; with 3, of 7-10). Replicated
// records, repairs and index updates need no fsync before their answer, so
// they are applied at once in groups of their own: replication does not
// wait for this node's disk.
func (s *Store) loop() {
	defer close(s.done)
	// Applied groups in order, for the syncer to finish.
	pendq := make(chan *pending, 64)
	slots := make(chan struct{}, maxSyncing)
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		for p := range pendq {
			s.finish(p)
			if p.slot {
				<-slots
			}
		}
	}()
	defer func() {
		close(pendq)
		<-synced
	}()
	var held []*request // writes that need an fsync, waiting for a slot
	for {
		group := held
		held = nil
		if len(group) == 0 {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			case <-s.quit:
				return
			}
		}
	drain:
		for len(group) < s.cfg.MaxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		if !slices.ContainsFunc(group, (*request).needsSync) {
			pendq <- s.applyGroup(group)
			continue
		}
		select {
		case slots <- struct{}{}:
			p := s.applyGroup(group)
			p.slot = true
			pendq <- p
			continue
		default:
		}
		// No slot: apply what needs no fsync now and hold the rest.
		var now []*request
		for _, r := range group {
			if r.needsSync() {
				held = append(held, r)
			} else {
				now = append(now, r)
			}
		}
		if len(now) > 0 {
			pendq <- s.applyGroup(now)
			continue
		}
		select {
		case slots <- struct{}{}:
			p := s.applyGroup(held)
			p.slot = true
			pendq <- p
			held = nil
		case r := <-s.reqs:
			held = append(held, r)
		case <-s.quit:
			return
		}
	}
}

// maxSyncing bounds the groups waiting for an fsync.
const maxSyncing = 3

// needsSync reports whether r may be answered only once durable.
func (r *request) needsSync() bool { return r.kind == reqLocal || r.kind == reqAdvance }

// group is the pending change of one commit.
type group struct {
	s       *Store
	indexer Indexer
	// it reads item states as of the start of the group: every earlier
	// group has been applied to Pebble by then. Opened at the first read.
	it *pebble.Iterator
	// ops are the group's writes, in the order made: item states (one per
	// key, the latest), change records, keyspace markers and index entries.
	// They go to Pebble sorted by key, which makes the memtable's skiplist
	// inserts cheaper (each starts from where the previous one ended).
	ops []batchOp
	// written indexes the item states in ops, which the group's reads must
	// see and Pebble does not hold yet.
	written map[string]int
	vv      map[string]uint64
	leaves  map[uint16][leafHashSize]byte
	spaces  map[string]bool
}

// batchOp is one write of a group.
type batchOp struct {
	key, value []byte
	del        bool
	n          int // position in the group, to keep order among equal keys
}

// pending is a group handed to Pebble, waiting for its fsync.
type pending struct {
	start time.Time
	reqs  []*request
	b     *pebble.Batch
	vv    map[string]uint64
	// leaves are the group's changed digests.
	leaves map[uint16][leafHashSize]byte
	wait   bool // the batch was applied with ApplyNoSyncWait
	slot   bool // the group holds one of the loop's fsync slots
	err    error
	// early counts requests answered before the fsync.
	early int
}

func (s *Store) applyGroup(reqs []*request) *pending {
	p := &pending{start: time.Now(), reqs: reqs}
	if s.loopErr != nil {
		p.err = s.loopErr
		return p
	}
	s.mu.Lock()
	indexer := s.indexer
	s.mu.Unlock()
	g := &group{s: s, indexer: indexer, written: map[string]int{},
		vv: map[string]uint64{}, leaves: map[uint16][leafHashSize]byte{}, spaces: map[string]bool{}}
	defer g.close()
	p.vv, p.leaves = g.vv, g.leaves
	for _, r := range reqs {
		switch r.kind {
		case reqLocal:
			r.err = g.local(r)
		case reqRemote:
			r.err = g.remote(r)
		case reqMerge:
			r.err = g.merge(r)
		case reqReindex:
			r.err = g.reindex(r)
		case reqIndex:
			r.index(g)
		case reqAdvance:
			for o, seq := range r.advance {
				if seq > g.applied(o) {
					g.setVV(o, seq)
				}
			}
		}
	}
	for b, leaf := range g.leaves {
		g.ops = append(g.ops, batchOp{key: leafKey(b), value: leaf[:]})
	}
	for o, seq := range g.vv {
		g.ops = append(g.ops, batchOp{key: vvKey(o), value: binary.BigEndian.AppendUint64(nil, seq)})
	}
	if len(g.ops) == 0 {
		return p
	}
	b := g.batch()
	p.b = b
	// Writes accepted here must be durable before they are acknowledged.
	// Replicated records and repairs need not be: the WAL is one ordered
	// log, so a crash loses only a suffix of them together with the version
	// vector entries that cover them, and they are pulled again.
	sync := slices.ContainsFunc(reqs, (*request).needsSync)
	var err error
	if sync {
		err = s.db.ApplyNoSyncWait(b, pebble.Sync)
		p.wait = err == nil
	} else {
		err = s.db.Apply(b, pebble.NoSync)
	}
	if err != nil {
		p.err = fmt.Errorf("committing to the store: %w", err)
		s.loopErr = p.err
		return p
	}
	// The next group builds on this one.
	for o, seq := range g.vv {
		s.loopVV[o] = seq
	}
	for b, leaf := range g.leaves {
		s.loopLeaves[b] = leaf
	}
	for sp := range g.spaces {
		s.loopSpaces[sp] = true
	}
	// Replicated records and repairs are answered now, before the fsync:
	// they are visible to reads and to the next group, and a crash only
	// makes them be pulled again, so replication need not wait on the disk.
	// So are index updates, which their callers redo after a crash.
	kept := p.reqs[:0:0]
	for _, r := range p.reqs {
		if r.kind == reqRemote || r.kind == reqMerge || r.kind == reqReindex || r.kind == reqIndex {
			close(r.done)
		} else {
			kept = append(kept, r)
		}
	}
	p.early = len(p.reqs) - len(kept)
	p.reqs = kept
	return p
}

// finish waits for a group's fsync, publishes its version vector and
// digests, and answers its requests.
func (s *Store) finish(p *pending) {
	err := p.err
	if p.wait {
		if werr := p.b.SyncWait(); werr != nil && err == nil {
			err = fmt.Errorf("syncing the store: %w", werr)
		}
	}
	if p.b != nil {
		_ = p.b.Close()
	}
	if err != nil && s.Fatal() == nil {
		s.log.Error("store commit failed; refusing further writes", "err", err)
	}
	s.mu.Lock()
	if err != nil {
		if s.fatal == nil {
			s.fatal = err
		}
	} else if len(p.vv) > 0 || len(p.leaves) > 0 {
		for o, seq := range p.vv {
			s.vv[o] = seq
		}
		for b, leaf := range p.leaves {
			s.leaves[b] = leaf
		}
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	s.m.commitSeconds.Observe(time.Since(p.start).Seconds())
	s.m.groupSize.Observe(float64(len(p.reqs) + p.early))
	for _, r := range p.reqs {
		if err != nil && r.err == nil {
			r.err = err
			r.commit = Commit{}
		}
		close(r.done)
	}
}

// Fatal is the error that stopped the store taking writes, if any.
func (s *Store) Fatal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

func (g *group) applied(origin string) uint64 {
	if v, ok := g.vv[origin]; ok {
		return v
	}
	return g.s.loopVV[origin]
}

// setVV records a new version-vector entry; commitGroup writes each changed
// entry once.
func (g *group) setVV(origin string, seq uint64) { g.vv[origin] = seq }

// read returns the current state of a storage key (an empty state when
// absent) and its encoding.
//
// One iterator serves every read of the group, instead of a Get each: Get
// builds a fresh iterator stack per call and never consults the bloom
// filters of the bottom level, where most tables are, so a key that is not
// there (every new item) cost an index and a data block search per table.
// The iterator reads filters on every level, and most reads of new keys end
// at the memtables and one filter probe per table.
func (g *group) read(k []byte) (*State, []byte, error) {
	var raw []byte
	if i, ok := g.written[string(k)]; ok {
		raw = g.ops[i].value
	} else {
		if g.it == nil {
			it, err := g.s.db.NewIter(&pebble.IterOptions{
				LowerBound: []byte{prefixData}, UpperBound: []byte{prefixData + 1}, UseL6Filters: true,
			})
			if err != nil {
				return nil, nil, fmt.Errorf("opening the store for reading: %w", err)
			}
			g.it = it
		}
		// The default comparer's prefix of a key is the whole key, so
		// SeekPrefixGE finds k or nothing.
		if !g.it.SeekPrefixGE(k) || !bytes.Equal(g.it.Key(), k) {
			if err := g.it.Error(); err != nil {
				return nil, nil, fmt.Errorf("reading %x: %w", k, err)
			}
			return &State{}, nil, nil
		}
		v, err := g.it.ValueAndErr()
		if err != nil {
			return nil, nil, fmt.Errorf("reading %x: %w", k, err)
		}
		raw = bytes.Clone(v)
	}
	if raw == nil {
		return &State{}, nil, nil
	}
	st, err := UnmarshalState(raw)
	if err != nil {
		return nil, nil, err
	}
	return st, raw, nil
}

// batch is the group's writes as one Pebble batch, sorted by key. Writes of
// one key (only index entries can repeat) keep their order.
func (g *group) batch() *pebble.Batch {
	size := 0
	for i := range g.ops {
		size += len(g.ops[i].key) + len(g.ops[i].value) + 2*binary.MaxVarintLen32 + 1
	}
	for i := range g.ops {
		g.ops[i].n = i
	}
	slices.SortFunc(g.ops, func(a, b batchOp) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return a.n - b.n
	})
	b := g.s.db.NewBatchWithSize(size)
	for i := range g.ops {
		if g.ops[i].del {
			_ = b.Delete(g.ops[i].key, nil)
		} else {
			_ = b.Set(g.ops[i].key, g.ops[i].value, nil)
		}
	}
	return b
}

// close releases the group's iterator.
func (g *group) close() {
	if g.it != nil {
		_ = g.it.Close()
		g.it = nil
	}
}

// Set and Delete make the group the indexer's IndexWriter.
func (g *group) Set(key, value []byte) {
	g.ops = append(g.ops, batchOp{key: indexKey(key), value: bytes.Clone(value)})
}
func (g *group) Delete(key []byte) { g.ops = append(g.ops, batchOp{key: indexKey(key), del: true}) }

// readCached is read, taking the bytes from cache when they are there. An
// entry is used once: a second mutation of the key must see the first.
func (g *group) readCached(k []byte, cache map[string][]byte) (*State, []byte, error) {
	raw, ok := cache[string(k)]
	if !ok {
		return g.read(k)
	}
	delete(cache, string(k))
	if raw == nil {
		return &State{}, nil, nil
	}
	st, err := UnmarshalState(raw)
	return st, raw, err
}

// write stores a new state, keeping the bucket digest and the indexes in
// step. It reports whether the stored bytes changed.
func (g *group) write(k []byte, space string, old []byte, st *State) bool {
	enc := st.Marshal()
	if old != nil && bytes.Equal(old, enc) {
		return false
	}
	bucket := dataKeyBucket(k)
	if g.indexer != nil {
		key, _, _ := decodeDataKey(k)
		var prev *State
		if old != nil {
			var err error
			if prev, err = UnmarshalState(old); err != nil {
				panic(fmt.Sprintf("state of %s decoded a moment ago no longer decodes: %v", key, err))
			}
		}
		g.indexer.Index(key, prev, st, g)
	}
	leaf, ok := g.leaves[bucket]
	if !ok {
		leaf = g.s.loopLeaves[bucket]
	}
	if old != nil {
		xorInto(&leaf, itemHash(k, old))
	}
	xorInto(&leaf, itemHash(k, enc))
	g.leaves[bucket] = leaf
	if i, ok := g.written[string(k)]; ok {
		g.ops[i].value = enc
	} else {
		g.written[string(k)] = len(g.ops)
		g.ops = append(g.ops, batchOp{key: k, value: enc})
	}
	if !g.spaces[space] && !g.s.loopSpaces[space] {
		g.spaces[space] = true
		g.ops = append(g.ops, batchOp{key: spaceKey(space)})
	}
	return true
}

func (g *group) reindex(r *request) error {
	if g.indexer == nil {
		return errors.New("reindex: no indexer installed")
	}
	for _, k := range r.keys {
		cur, raw, err := g.read(dataKey(k))
		if err != nil {
			return err
		}
		if raw == nil {
			continue
		}
		g.indexer.Index(k, nil, cur, g)
	}
	return nil
}

func (g *group) local(r *request) error {
	// The bytes read for fn are reused when a mutation targets the same key,
	// so a conditional write reads each key from Pebble once.
	read := map[string][]byte{}
	states := make([]*State, len(r.keys))
	for i, k := range r.keys {
		dk := dataKey(k)
		st, raw, err := g.read(dk)
		if err != nil {
			return err
		}
		read[string(dk)] = raw
		if raw != nil {
			states[i] = st
		}
	}
	muts, err := r.fn(states)
	if err != nil {
		return err
	}
	if len(muts) == 0 {
		return nil
	}
	for i := range muts {
		if err := muts[i].Validate(); err != nil {
			return err
		}
	}
	ts := g.s.clock.Now()
	origin := g.s.origin
	rec := &Record{Origin: origin, Seq: g.applied(origin) + 1, TS: ts, Mutations: muts}
	tag := rec.Tag()
	for i := range rec.Mutations {
		m := &rec.Mutations[i]
		k := dataKey(m.Key)
		cur, raw, err := g.readCached(k, read)
		if err != nil {
			return err
		}
		m.observeRemoves(cur)
		cur.Merge(m.delta(tag))
		g.write(k, m.Key.Space, raw, cur)
	}
	g.ops = append(g.ops, batchOp{key: logKey(origin, rec.Seq), value: rec.Marshal()})
	g.setVV(origin, rec.Seq)
	r.commit = Commit{Seq: rec.Seq, TS: ts}
	g.s.m.writes.WithLabelValues("local").Inc()
	return nil
}

func (g *group) remote(r *request) error {
	for _, rec := range r.records {
		have := g.applied(rec.Origin)
		if rec.Seq <= have {
			continue
		}
		if rec.Seq != have+1 {
			return &GapError{Origin: rec.Origin, Have: have, Got: rec.Seq}
		}
		tag := rec.Tag()
		for i := range rec.Mutations {
			m := &rec.Mutations[i]
			k := dataKey(m.Key)
			cur, raw, err := g.read(k)
			if err != nil {
				return err
			}
			cur.Merge(m.delta(tag))
			g.write(k, m.Key.Space, raw, cur)
		}
		raw := rec.raw
		if raw == nil {
			raw = rec.Marshal()
		}
		g.ops = append(g.ops, batchOp{key: logKey(rec.Origin, rec.Seq), value: raw})
		g.setVV(rec.Origin, rec.Seq)
		r.applied++
		g.s.m.writes.WithLabelValues("remote").Inc()
	}
	return nil
}

func (g *group) merge(r *request) error {
	for _, it := range r.merge {
		cur, raw, err := g.read(it.key)
		if err != nil {
			return err
		}
		if !cur.Merge(it.state) && raw != nil {
			continue
		}
		k, _, _ := decodeDataKey(it.key)
		if g.write(it.key, k.Space, raw, cur) {
			r.applied++
			g.s.m.writes.WithLabelValues("repair").Inc()
		}
	}
	return nil
}
