package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/meridian-platform/meridian/internal/hlc"
)

func openStore(t *testing.T, dir, region string) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, Region: region})
	if err != nil {
		t.Fatalf("open %s: %v", region, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func key(k string) Key { return Key{Space: "t", Hash: []byte(k)} }

func docOf(t *testing.T, s *Store, k Key) string {
	t.Helper()
	st, err := s.Get(k)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	if !st.Exists() {
		return "<none>"
	}
	return string(st.Base.Doc)
}

func TestPutGetDeleteSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Region: "us-east"})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := s.Apply(ctx, Mutation{Key: key("a"), Put: []byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, Mutation{Key: key("b"), Put: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	c3, err := s.Apply(ctx, Mutation{Key: key("b"), Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	if c1.Seq != 1 || c3.Seq != 3 {
		t.Fatalf("got seqs %d, %d; want 1, 3", c1.Seq, c3.Seq)
	}
	origin, root := s.Origin(), s.Root()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, "us-east")
	if got := docOf(t, s, key("a")); got != "one" {
		t.Fatalf("after reopen a = %q, want one", got)
	}
	if got := docOf(t, s, key("b")); got != "<none>" {
		t.Fatalf("after reopen deleted b = %q, want none", got)
	}
	if s.Origin() != origin || s.Root() != root {
		t.Fatalf("reopen changed identity or digest: origin %q→%q", origin, s.Origin())
	}
	if got := s.VV()[origin]; got != 3 {
		t.Fatalf("version vector after reopen = %d, want 3", got)
	}
	c4, err := s.Apply(ctx, Mutation{Key: key("c"), Put: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if c4.Seq != 4 || !c3.TS.Less(c4.TS) {
		t.Fatalf("write after reopen got seq %d ts %v; want seq 4 after %v", c4.Seq, c4.TS, c3.TS)
	}
}

func TestOpenRefusesAnotherRegionsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Region: "us-east"})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_, err = Open(Config{Dir: dir, Region: "eu-west"})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`belongs to region "us-east"`)) {
		t.Fatalf("got %v, want an error naming the owning region", err)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), "us-east")
	before := s.Root()
	want := errors.New("condition failed")
	_, err := s.Update(ctx, []Key{key("a")}, func(st []*State) ([]Mutation, error) {
		if st[0] != nil {
			t.Errorf("state of unwritten key = %+v, want nil", st[0])
		}
		return nil, want
	})
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	_, err = s.Apply(ctx, Mutation{Key: key("a"), Put: []byte("x")}, Mutation{Key: Key{}, Put: []byte("bad")})
	if err == nil {
		t.Fatal("mutation with an empty keyspace accepted")
	}
	if s.Root() != before || s.VV()[s.Origin()] != 0 {
		t.Fatal("failed writes changed the store")
	}
	if got := docOf(t, s, key("a")); got != "<none>" {
		t.Fatalf("half-applied write visible: a = %q", got)
	}
}

func TestConcurrentWritesAreGapFreeAndDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Region: "us-east"})
	if err != nil {
		t.Fatal(err)
	}
	const writers, per = 16, 50
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*per)
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				c, err := s.Apply(ctx, Mutation{Key: key(fmt.Sprintf("%d-%d", w, i)), Put: []byte("v")})
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- c.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for q := range seqs {
		seen[q] = true
	}
	for q := uint64(1); q <= writers*per; q++ {
		if !seen[q] {
			t.Fatalf("sequence %d never acknowledged: log has a gap", q)
		}
	}
	recs, err := s.ReadLog(s.Origin(), 1, writers*per+10, 1<<30)
	if err != nil || len(recs) != writers*per {
		t.Fatalf("read log: %d records, err %v; want %d", len(recs), err, writers*per)
	}
	_ = s.Close()
	s = openStore(t, dir, "us-east")
	for w := range writers {
		for i := range per {
			if got := docOf(t, s, key(fmt.Sprintf("%d-%d", w, i))); got != "v" {
				t.Fatalf("acknowledged write %d-%d lost after reopen", w, i)
			}
		}
	}
}

func TestCounterSumsAcrossRegionsAndResetsOnPut(t *testing.T) {
	a := &State{}
	mk := func(origin string, wall int64, m Mutation) *State {
		return m.delta(Tag{TS: hlc.Timestamp{WallNanos: wall}, Origin: origin})
	}
	a.Merge(mk("us", 10, Mutation{Put: []byte("doc")}))
	a.Merge(mk("us", 11, Mutation{Counters: []CounterDelta{{Field: "stock", Delta: "5"}}}))
	a.Merge(mk("eu", 11, Mutation{Counters: []CounterDelta{{Field: "stock", Delta: "-2.5"}}}))
	a.Merge(mk("ap", 12, Mutation{Counters: []CounterDelta{{Field: "stock", Delta: "1"}}}))
	sum, err := a.CounterSum("stock")
	if err != nil || sum.String() != "3.5" {
		t.Fatalf("counter sum = %v (%v), want 3.5", sum, err)
	}
	// A whole-item write at 11.5 replaces the increments before it but not the
	// one after it.
	a.Merge(&State{Base: Base{Tag: Tag{TS: hlc.Timestamp{WallNanos: 11, Logical: 5}, Origin: "eu"}, Doc: []byte("new")}})
	sum, _ = a.CounterSum("stock")
	if sum.String() != "1" || string(a.Base.Doc) != "new" {
		t.Fatalf("after put: sum %v doc %q, want 1 and new", sum, a.Base.Doc)
	}
}

func TestSetIsAddWins(t *testing.T) {
	tag := func(o string, w int64) Tag { return Tag{TS: hlc.Timestamp{WallNanos: w}, Origin: o} }
	base := &State{}
	base.Merge((&Mutation{Put: []byte("doc")}).delta(tag("us", 1)))
	base.Merge((&Mutation{SetAdd: []SetOp{{Field: "tags", Elems: [][]byte{[]byte("red")}}}}).delta(tag("us", 2)))

	// eu removes red having observed the add; us concurrently adds red again.
	rm := Mutation{SetRemove: []SetOp{{Field: "tags", Elems: [][]byte{[]byte("red"), []byte("blue")}}}}
	rm.observeRemoves(base)
	eu := cloneState(base)
	eu.Merge(rm.delta(tag("eu", 3)))
	us := cloneState(base)
	us.Merge((&Mutation{SetAdd: []SetOp{{Field: "tags", Elems: [][]byte{[]byte("red")}}}}).delta(tag("us", 3)))

	eu.Merge(us)
	us.Merge(eu)
	if !bytes.Equal(eu.Marshal(), us.Marshal()) {
		t.Fatal("replicas diverged")
	}
	got := fmt.Sprintf("%s", eu.SetMembers("tags", [][]byte{[]byte("blue")}))
	if got != "[red]" {
		t.Fatalf("members = %s, want [red] (concurrent add wins, base element blue removed)", got)
	}
}

func cloneState(s *State) *State {
	c, err := UnmarshalState(s.Marshal())
	if err != nil {
		panic(err)
	}
	return c
}

// TestMergeIsASemilattice checks, on random states, that merge is
// commutative, associative and idempotent on the canonical encoding.
func TestMergeIsASemilattice(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	var writes uint32 // every write gets its own tag, as in a real cluster
	randState := func() *State {
		s := &State{}
		for range rng.IntN(6) {
			o := []string{"us", "eu", "ap"}[rng.IntN(3)]
			writes++
			tg := Tag{TS: hlc.Timestamp{WallNanos: int64(rng.IntN(20)), Logical: writes}, Origin: o}
			m := Mutation{}
			switch rng.IntN(4) {
			case 0:
				m.Put = []byte(fmt.Sprint(rng.IntN(5)))
			case 1:
				m.Delete = true
			case 2:
				m.Counters = []CounterDelta{{Field: "n", Delta: fmt.Sprint(rng.IntN(9) - 4)}}
			case 3:
				m.SetAdd = []SetOp{{Field: "s", Elems: [][]byte{{byte('a' + rng.IntN(3))}}}}
				if rng.IntN(2) == 0 {
					m.SetRemove = []SetOp{{Field: "s", Elems: [][]byte{{byte('a' + rng.IntN(3))}}}}
					m.observeRemoves(s)
				}
			}
			s.Merge(m.delta(tg))
		}
		return s
	}
	join := func(a, b *State) *State { c := cloneState(a); c.Merge(b); return c }
	for i := range 2000 {
		a, b, c := randState(), randState(), randState()
		if !bytes.Equal(join(a, b).Marshal(), join(b, a).Marshal()) {
			t.Fatalf("case %d (seed %d): merge not commutative", i, seed)
		}
		if !bytes.Equal(join(join(a, b), c).Marshal(), join(a, join(b, c)).Marshal()) {
			t.Fatalf("case %d (seed %d): merge not associative", i, seed)
		}
		if !bytes.Equal(join(a, a).Marshal(), a.Marshal()) {
			t.Fatalf("case %d (seed %d): merge not idempotent", i, seed)
		}
	}
}

func TestApplyRemoteIsOrderedAndIdempotent(t *testing.T) {
	ctx := context.Background()
	us := openStore(t, t.TempDir(), "us-east")
	eu := openStore(t, t.TempDir(), "eu-west")
	for i := range 5 {
		if _, err := us.Apply(ctx, Mutation{Key: key(fmt.Sprint(i)), Put: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	recs := logRecords(t, us, 1)
	if _, err := eu.ApplyRemote(ctx, recs[2:3]); !errors.As(err, new(*GapError)) {
		t.Fatalf("out-of-order record: got %v, want a GapError", err)
	}
	if n, err := eu.ApplyRemote(ctx, recs[:3]); err != nil || n != 3 {
		t.Fatalf("apply 1..3: n=%d err=%v", n, err)
	}
	if n, err := eu.ApplyRemote(ctx, recs); err != nil || n != 2 {
		t.Fatalf("apply 1..5 again: n=%d err=%v, want 2 new", n, err)
	}
	if err := eu.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if us.Root() != eu.Root() {
		t.Fatal("digests differ after replication")
	}
	if got := eu.VV()[us.Origin()]; got != 5 {
		t.Fatalf("eu version vector for us = %d, want 5", got)
	}
}

func TestApplyRemoteRefusesClockFarAhead(t *testing.T) {
	ctx := context.Background()
	eu, err := Open(Config{Dir: t.TempDir(), Region: "eu-west", Clock: hlc.New(nil, 500*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eu.Close() }()
	rec := &Record{Origin: "us-east.1", Seq: 1, TS: hlc.Timestamp{WallNanos: time.Now().Add(time.Minute).UnixNano()},
		Mutations: []Mutation{{Key: key("a"), Put: []byte("future")}}}
	_, err = eu.ApplyRemote(ctx, []*Record{rec})
	var oe *hlc.OffsetError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v, want an OffsetError", err)
	}
	if got := docOf(t, eu, key("a")); got != "<none>" {
		t.Fatalf("refused record was applied: %q", got)
	}
}

func TestSnapshotRepairConverges(t *testing.T) {
	ctx := context.Background()
	us := openStore(t, t.TempDir(), "us-east")
	eu := openStore(t, t.TempDir(), "eu-west")
	for i := range 200 {
		if _, err := us.Apply(ctx, Mutation{Key: key(fmt.Sprint(i)), Put: []byte("us")}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := eu.Apply(ctx, Mutation{Key: key(fmt.Sprint(i)), Counters: []CounterDelta{{Field: "n", Delta: "1"}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	repair := func(dst, src *Store) {
		sn := src.Snapshot()
		defer func() { _ = sn.Close() }()
		theirs, err := sn.Leaves()
		if err != nil {
			t.Fatal(err)
		}
		mine := dst.Leaves()
		var items []RawState
		for b := range NumBuckets {
			if mine[b] != theirs[b] {
				if err := sn.ScanBucket(uint16(b), func(r RawState) error { items = append(items, r); return nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := dst.MergeStates(ctx, items); err != nil {
			t.Fatal(err)
		}
		if err := dst.AdvanceVV(ctx, sn.VV); err != nil {
			t.Fatal(err)
		}
	}
	repair(eu, us)
	repair(us, eu)
	if us.Root() != eu.Root() {
		t.Fatal("digests differ after two-way repair")
	}
	if got := eu.VV()[us.Origin()]; got != 200 {
		t.Fatalf("eu knows us up to %d after repair, want 200", got)
	}
	if _, err := eu.MergeStates(ctx, []RawState{{Key: []byte("dgarbage"), State: []byte{1}}}); err == nil {
		t.Fatal("corrupt repair item accepted")
	}
}

func TestReadLogReportsTruncation(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), "us-east")
	for i := range 10 {
		if _, err := s.Apply(ctx, Mutation{Key: key(fmt.Sprint(i)), Put: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TruncateLog(s.Origin(), 6); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadLog(s.Origin(), 3, 10, 1<<20); !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	recs, err := s.ReadLog(s.Origin(), 7, 10, 1<<20)
	if err != nil || len(recs) != 4 {
		t.Fatalf("read from 7: %d records, %v; want 4", len(recs), err)
	}
	if first, _, _ := s.FirstLogSeq(s.Origin()); first != 7 {
		t.Fatalf("first log seq = %d, want 7", first)
	}
}

func TestScanHashOrdersByRange(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), "us-east")
	for _, r := range []string{"b", "a\x00z", "c", "a", "ab"} {
		if _, err := s.Apply(ctx, Mutation{Key: Key{Space: "t", Hash: []byte("h"), Range: []byte(r)}, Put: []byte(r)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(ctx, Mutation{Key: Key{Space: "t", Hash: []byte("h2"), Range: []byte("a")}, Put: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.ScanHash("t", []byte("h"), []byte("a\x00"), []byte("c"), false, func(k Key, _ *State) bool {
		got = append(got, string(k.Range))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a\x00z", "ab", "b"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// pairIndexer indexes every item of space "t" by its document.
type pairIndexer struct{}

func (pairIndexer) Index(k Key, old, cur *State, w IndexWriter) {
	if old.Exists() {
		w.Delete(append(append([]byte{}, old.Base.Doc...), k.Hash...))
	}
	if cur.Exists() {
		w.Set(append(append([]byte{}, cur.Base.Doc...), k.Hash...), k.Hash)
	}
}

func TestIndexerFollowsLocalRemoteAndReindexedWrites(t *testing.T) {
	ctx := context.Background()
	us := openStore(t, t.TempDir(), "us-east")
	eu := openStore(t, t.TempDir(), "eu-west")
	if _, err := us.Apply(ctx, Mutation{Key: key("early"), Put: []byte("red")}); err != nil {
		t.Fatal(err)
	}
	us.SetIndexer(pairIndexer{})
	eu.SetIndexer(pairIndexer{})
	for _, m := range []Mutation{
		{Key: key("a"), Put: []byte("red")},
		{Key: key("b"), Put: []byte("blue")},
		{Key: key("a"), Put: []byte("blue")},
		{Key: key("b"), Delete: true},
	} {
		if _, err := us.Apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := us.Reindex(ctx, []Key{key("early"), key("never")}); err != nil {
		t.Fatal(err)
	}
	recs := logRecords(t, us, 1)
	if _, err := eu.ApplyRemote(ctx, recs); err != nil {
		t.Fatal(err)
	}
	entries := func(s *Store) string {
		var out []string
		_ = s.ScanIndex(nil, nil, false, func(k, _ []byte) bool { out = append(out, string(k)); return true })
		return fmt.Sprint(out)
	}
	if got, want := entries(us), "[bluea redearly]"; got != want {
		t.Fatalf("us-east index = %s, want %s", got, want)
	}
	// eu-west indexed from replicated records only (early came before its
	// indexer saw anything, but was replicated after, so it is indexed).
	if got, want := entries(eu), "[bluea redearly]"; got != want {
		t.Fatalf("eu-west index = %s, want %s", got, want)
	}
}

// TestUpdateIndexFollowsEarlierWrites: UpdateIndex's changes land after
// the entries of every write submitted before it, and need no indexer.
func TestUpdateIndexFollowsEarlierWrites(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), "us-east")
	entries := func() string {
		var out []string
		_ = s.ScanIndex(nil, nil, false, func(k, v []byte) bool { out = append(out, string(k)+"="+string(v)); return true })
		return fmt.Sprint(out)
	}
	if err := s.UpdateIndex(ctx, func(w IndexWriter) { w.Set([]byte("x"), []byte("1")) }); err != nil {
		t.Fatalf("UpdateIndex without an indexer: %v", err)
	}
	s.SetIndexer(pairIndexer{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Apply(ctx, Mutation{Key: key(fmt.Sprint("k", i)), Put: []byte("red")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Every write above was answered, so its entry precedes the deletes.
	if err := s.UpdateIndex(ctx, func(w IndexWriter) {
		for i := range 20 {
			w.Delete([]byte(fmt.Sprint("redk", i)))
		}
		w.Set([]byte("x"), []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(), "[x=2]"; got != want {
		t.Fatalf("index = %s, want %s", got, want)
	}
}

// TestUpdateSeesItsOwnEarlierMutations: a write that reads a key and then
// mutates it twice keeps both mutations, and a read key it does not mutate
// is left alone.
func TestUpdateSeesItsOwnEarlierMutations(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), "us-east")
	if _, err := s.Apply(ctx, Mutation{Key: key("k"), Put: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Update(ctx, []Key{key("k"), key("other")}, func(st []*State) ([]Mutation, error) {
		if string(st[0].Base.Doc) != "old" || st[1] != nil {
			t.Errorf("states = %q, %v; want old and nil", st[0].Base.Doc, st[1])
		}
		return []Mutation{
			{Key: key("k"), Put: []byte("new")},
			{Key: key("k"), Counters: []CounterDelta{{Field: "n", Delta: "2"}}},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Get(key("k"))
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := st.CounterSum("n")
	if string(st.Base.Doc) != "new" || sum.String() != "2" {
		t.Fatalf("k = %q with n = %s, want new with n = 2", st.Base.Doc, sum)
	}
	if got := docOf(t, s, key("other")); got != "<none>" {
		t.Fatalf("other = %q, want untouched", got)
	}
}

// TestReadsFindItemsOnEveryLevel checks the commit loop's reads: an item
// compacted to Pebble's bottom level, one in a memtable and one written
// earlier in the same group must all be found and merged, or the merged
// state, counters and digests would silently lose the old state. A second
// store fed the same writes without compaction must end byte-identical.
func TestReadsFindItemsOnEveryLevel(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir(), "us-east")
	for i := range 200 {
		m := Mutation{Key: key(fmt.Sprint("old", i)), Put: []byte("base")}
		if i%2 == 0 {
			m.Counters = []CounterDelta{{Field: "n", Delta: "1"}}
		}
		if _, err := src.Apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	recs := logRecords(t, src, 1)
	compacted := openStore(t, t.TempDir(), "eu-west")
	fresh := openStore(t, t.TempDir(), "eu-west")
	for _, s := range []*Store{compacted, fresh} {
		if _, err := s.ApplyRemote(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := compacted.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := compacted.db.Compact(ctx, []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	if n := compacted.db.Metrics().Levels[6].TablesCount; n == 0 {
		t.Fatal("compaction left nothing in L6; the test would not read from it")
	}
	// More writes at the origin: counters on compacted items, a whole-item
	// write and then a counter on the same key in one batch.
	muts := []Mutation{
		{Key: key("old4"), Counters: []CounterDelta{{Field: "n", Delta: "5"}}},
		{Key: key("old7"), Put: []byte("new")},
		{Key: key("old7"), Counters: []CounterDelta{{Field: "n", Delta: "2"}}},
		{Key: key("new1"), Put: []byte("x")},
		{Key: key("new1"), SetAdd: []SetOp{{Field: "s", Elems: [][]byte{[]byte("a")}}}},
	}
	for _, m := range muts {
		if _, err := src.Apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	recs = logRecords(t, src, 201)
	for _, s := range []*Store{compacted, fresh} {
		if n, err := s.ApplyRemote(ctx, recs); err != nil || n != len(muts) {
			t.Fatalf("apply: n=%d err=%v, want %d", n, err, len(muts))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{compacted, fresh} {
		st, err := s.Get(key("old4"))
		if err != nil {
			t.Fatal(err)
		}
		if sum, _ := st.CounterSum("n"); sum.String() != "6" || string(st.Base.Doc) != "base" {
			t.Errorf("old4: got doc %q counter %s, want base and 6", st.Base.Doc, sum)
		}
		if got := docOf(t, s, key("old7")); got != "new" {
			t.Errorf("old7: got %q, want new", got)
		}
	}
	if src.Root() != compacted.Root() || fresh.Root() != compacted.Root() {
		t.Fatal("digests differ: a read missed an item's old state")
	}
}

// TestAntiEntropySeesEveryKeyspace: a keyspace's marker is written once, by
// the first write to it, and a snapshot's bucket scan must still find items
// of every keyspace, whichever session wrote them.
func TestAntiEntropySeesEveryKeyspace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Region: "us-east"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, Mutation{Key: Key{Space: "a", Hash: []byte("1")}, Put: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, "us-east")
	for _, k := range []Key{{Space: "a", Hash: []byte("2")}, {Space: "b", Hash: []byte("1")}} {
		if _, err := s.Apply(ctx, Mutation{Key: k, Put: []byte("y")}); err != nil {
			t.Fatal(err)
		}
	}
	snap := s.Snapshot()
	defer func() { _ = snap.Close() }()
	var got []string
	for b := range NumBuckets {
		if err := snap.ScanBucket(uint16(b), func(it RawState) error {
			k, _, err := decodeDataKey(it.Key)
			got = append(got, k.Space+"/"+string(k.Hash))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(got)
	if want := []string{"a/1", "a/2", "b/1"}; !slices.Equal(got, want) {
		t.Fatalf("bucket scans found %q, want %q", got, want)
	}
}

// stallFS holds every fsync while stalled: a disk that has stopped
// answering.
type stallFS struct {
	vfs.FS
	mu      sync.Mutex
	stalled bool
	resume  chan struct{}
}

func (fs *stallFS) stall() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.stalled, fs.resume = true, make(chan struct{})
}

func (fs *stallFS) release() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.stalled {
		fs.stalled = false
		close(fs.resume)
	}
}

func (fs *stallFS) wait() {
	fs.mu.Lock()
	stalled, resume := fs.stalled, fs.resume
	fs.mu.Unlock()
	if stalled {
		<-resume
	}
}

func (fs *stallFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return stallFile{f, fs}, err
}

func (fs *stallFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, name, c)
	return stallFile{f, fs}, err
}

type stallFile struct {
	vfs.File
	fs *stallFS
}

func (f stallFile) Sync() error     { f.fs.wait(); return f.File.Sync() }
func (f stallFile) SyncData() error { f.fs.wait(); return f.File.SyncData() }
func (f stallFile) SyncTo(n int64) (bool, error) {
	f.fs.wait()
	return f.File.SyncTo(n)
}

// TestReplicationDoesNotWaitForLocalFsyncs: while this node's fsyncs hang,
// its local writes wait for them, but replicated records are still applied
// and answered, and the local writes complete once the disk answers.
func TestReplicationDoesNotWaitForLocalFsyncs(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir(), "us-east")
	for i := range 50 {
		if _, err := src.Apply(ctx, Mutation{Key: key(fmt.Sprint("r", i)), Put: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	recs := logRecords(t, src, 1)
	fs := &stallFS{FS: vfs.NewMem()}
	s, err := Open(Config{Dir: "db", FS: fs, Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	fs.stall()
	defer fs.release()
	local := make(chan error, 8)
	for i := range cap(local) {
		go func() {
			_, err := s.Apply(ctx, Mutation{Key: key(fmt.Sprint("l", i)), Put: []byte("v")})
			local <- err
		}()
	}
	remote := make(chan error, 1)
	go func() {
		for i, rec := range recs {
			if n, err := s.ApplyRemote(ctx, []*Record{rec}); err != nil || n != 1 {
				remote <- fmt.Errorf("record %d: applied %d, err %w", i+1, n, err)
				return
			}
		}
		remote <- nil
	}()
	select {
	case err := <-remote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replicated records waited for the hanging fsyncs of local writes")
	}
	select {
	case err := <-local:
		t.Fatalf("a local write was answered (err %v) before its fsync", err)
	default:
	}
	fs.release()
	for range cap(local) {
		if err := <-local; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.VV()[src.Origin()]; got != uint64(len(recs)) {
		t.Fatalf("version vector for %s = %d, want %d", src.Origin(), got, len(recs))
	}
}

// logRecords is s's own change log from sequence from on, decoded.
func logRecords(t *testing.T, s *Store, from uint64) []*Record {
	t.Helper()
	raw, err := s.ReadLog(s.Origin(), from, 100000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*Record, 0, len(raw))
	for _, b := range raw {
		r, err := UnmarshalRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}
