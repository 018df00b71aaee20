package s3

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/store"
)

type fixture struct {
	st  *store.Store
	e   *Engine
	dir string
	cfg Config
}

func openFixture(t *testing.T, storeDir, dir string, cfg Config) *fixture {
	t.Helper()
	st, err := store.Open(store.Config{Dir: storeDir, Region: "us-east"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir, cfg.Region = dir, "us-east"
	e, err := New(cfg, st)
	if err != nil {
		_ = st.Close()
		t.Fatalf("New: %v", err)
	}
	st.SetIndexer(e)
	return &fixture{st: st, e: e, dir: dir, cfg: cfg}
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := openFixture(t, t.TempDir(), t.TempDir(), cfg)
	t.Cleanup(func() { _ = f.st.Close() })
	return f
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readAll(t *testing.T, e *Engine, bucket, key string) []byte {
	t.Helper()
	o, err := e.HeadObject(bucket, key, "")
	if err != nil {
		t.Fatalf("HeadObject %s/%s: %v", bucket, key, err)
	}
	r, err := o.Open(context.Background(), 0, -1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putBytes(t *testing.T, e *Engine, bucket, key string, data []byte) *Version {
	t.Helper()
	v, err := e.PutObject(ctxT(t), &PutInput{Bucket: bucket, Key: key, Body: Body{R: bytes.NewReader(data), Size: int64(len(data))}})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	return v
}

func TestRecoveryAfterACrash(t *testing.T) {
	storeDir, dir := t.TempDir(), t.TempDir()
	f := openFixture(t, storeDir, dir, Config{})
	if err := f.e.CreateBucket(ctxT(t), "crash"); err != nil {
		t.Fatal(err)
	}
	v := putBytes(t, f.e, "crash", "committed", []byte("durable bytes"))
	// A crash after the metadata committed but before the bytes moved: they
	// are still staged.
	if err := os.Rename(f.e.files.object(v.ID), filepath.Join(dir, "tmp", v.ID+stagedSuffix)); err != nil {
		t.Fatal(err)
	}
	// A crash before the metadata committed: staged bytes of no version.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "orphanid"+stagedSuffix), []byte("never committed"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A crash between a body's fsync and its commit: durable bytes under
	// an id no version has.
	tmp, err := f.e.files.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString("staged, never committed"); err != nil {
		t.Fatal(err)
	}
	if err := f.e.files.stage(tmp); err != nil {
		t.Fatal(err)
	}
	// A crash mid-body, and a dead version's file kept for reuse, as
	// earlier versions named them.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "body-123"), []byte("half a bo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "free-deadversion"), []byte("dead bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f = openFixture(t, storeDir, dir, Config{})
	t.Cleanup(func() { _ = f.st.Close() })
	if got := readAll(t, f.e, "crash", "committed"); string(got) != "durable bytes" {
		t.Fatalf("committed object after recovery: %q", got)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(ents) != 0 {
		t.Fatalf("%d files left in tmp after recovery", len(ents))
	}
	for _, id := range []string{"orphanid", tmp.id} {
		if _, err := os.Stat(f.e.files.object(id)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("uncommitted bytes %s were kept: %v", id, err)
		}
	}
}

// countSyncs counts the fsyncs of tmp/ from now on.
func countSyncs(f *fixture) *atomic.Int64 {
	var n atomic.Int64
	f.e.files.tmpSync.fsync = func(dir string) error {
		n.Add(1)
		return syncDir(dir)
	}
	return &n
}

// TestPutSyncsTmpOnlyForANewFile: a PUT waits for its body's fdatasync and
// its commit; it fsyncs tmp/ too only when its file is new (alongside the
// fdatasync), not when it reuses a file whose name the collector synced.
func TestPutSyncsTmpOnlyForANewFile(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ctxT(t)
	if err := f.e.CreateBucket(ctx, "syncs"); err != nil {
		t.Fatal(err)
	}
	syncs := countSyncs(f)
	put := func(name string, wantSyncs int64) {
		t.Helper()
		before := syncs.Load()
		data := []byte("bytes of " + name)
		v := putBytes(t, f.e, "syncs", "k", data)
		if got := syncs.Load() - before; got != wantSyncs {
			t.Errorf("%s: %d fsyncs of tmp/, want %d", name, got, wantSyncs)
		}
		if got, err := os.ReadFile(f.e.files.object(v.ID)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: objects/%s holds %q (%v), want %q", name, v.ID, got, err, data)
		}
	}
	put("a PUT into a new file", 1)
	put("an overwrite, nothing collected yet", 1)
	before := syncs.Load()
	f.e.collect(ctx)
	if got := syncs.Load() - before; got != 1 {
		t.Fatalf("the collector synced tmp/ %d times for the files it kept, want once", got)
	}
	put("a PUT into a recycled file", 0)
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(ents) != 0 {
		t.Fatalf("%d files left in tmp", len(ents))
	}
}

// TestKeptFilesWaitForTheirNames: a dead version's file is not reused
// until publish has made its new name durable, and its name is the id of
// the version it then holds.
func TestKeptFilesWaitForTheirNames(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ctxT(t)
	if err := f.e.CreateBucket(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	dead := putBytes(t, f.e, "keep", "k", []byte("dead version"))
	if err := f.e.files.remove(dead.ID); err != nil {
		t.Fatal(err)
	}
	fresh, err := f.e.files.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	discard(fresh.File)
	if fresh.named {
		t.Fatal("createTemp reused a file before its name was synced")
	}
	if err := f.e.files.publish(); err != nil {
		t.Fatal(err)
	}
	reused, err := f.e.files.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	discard(reused.File)
	if !reused.named {
		t.Fatal("createTemp made a new file though one was kept for reuse")
	}
	if want := f.e.files.staged(reused.id); reused.Name() != want {
		t.Fatalf("reused file %q, want it named after its id: %q", reused.Name(), want)
	}
}

// TestEarlierLayoutIsFlattened: a data directory written when objects
// lived under objects/<id[:2]>/ serves the same bytes after a restart.
func TestEarlierLayoutIsFlattened(t *testing.T) {
	storeDir, dir := t.TempDir(), t.TempDir()
	f := openFixture(t, storeDir, dir, Config{})
	if err := f.e.CreateBucket(ctxT(t), "old"); err != nil {
		t.Fatal(err)
	}
	v := putBytes(t, f.e, "old", "k", []byte("bytes from before"))
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	// Rewrite the directory as the earlier layout left it.
	sub := filepath.Join(dir, "objects", v.ID[:2])
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "objects", v.ID), filepath.Join(sub, v.ID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, layoutFile)); err != nil {
		t.Fatal(err)
	}
	f = openFixture(t, storeDir, dir, Config{})
	t.Cleanup(func() { _ = f.st.Close() })
	if got := readAll(t, f.e, "old", "k"); string(got) != "bytes from before" {
		t.Fatalf("after the restart the object reads %q", got)
	}
	if _, err := os.Stat(sub); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the earlier layout's directory %s is still there: %v", sub, err)
	}
}

// TestRecycledFilesHoldOnlyNewBytes: the file of an overwritten version is
// reused for the next body, which must not keep any of its old bytes.
func TestRecycledFilesHoldOnlyNewBytes(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ctxT(t)
	if err := f.e.CreateBucket(ctx, "rec"); err != nil {
		t.Fatal(err)
	}
	old := putBytes(t, f.e, "rec", "k", bytes.Repeat([]byte("old!"), 25000))
	putBytes(t, f.e, "rec", "k", []byte("the overwrite"))
	f.e.collect(ctx)
	if f.e.files.exists(old.ID) {
		t.Fatal("the overwritten version's file is still in place")
	}
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(ents) != 1 {
		t.Fatalf("%d files in tmp, want the one kept for reuse", len(ents))
	}
	v := putBytes(t, f.e, "rec", "short", []byte("hello"))
	if got := readAll(t, f.e, "rec", "short"); string(got) != "hello" {
		t.Fatalf("a body written to a recycled file reads %d bytes %.20q…, want %q", len(got), got, "hello")
	}
	if fi, err := os.Stat(f.e.files.object(v.ID)); err != nil || fi.Size() != 5 {
		t.Fatalf("file of the new version: %v, %v; want 5 bytes", fi, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(ents) != 0 {
		t.Fatalf("%d files in tmp, want the kept one reused", len(ents))
	}
}

// TestReaderKeepsItsBytes: a GET that opened a version's file before the
// version was overwritten and collected reads that version's bytes to the
// end, however the file is reused.
func TestReaderKeepsItsBytes(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ctxT(t)
	if err := f.e.CreateBucket(ctx, "reads"); err != nil {
		t.Fatal(err)
	}
	first := bytes.Repeat([]byte("first version "), 5000)
	putBytes(t, f.e, "reads", "k", first)
	o, err := f.e.HeadObject("reads", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.Open(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	putBytes(t, f.e, "reads", "k", []byte("replacement"))
	f.e.collect(ctx)
	for i := range 4 {
		putBytes(t, f.e, "reads", fmt.Sprint("other", i), bytes.Repeat([]byte{'X'}, len(first)))
	}
	rest, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, first) {
		t.Fatalf("the reader got %d bytes starting %.30q, want the first version's %d", len(got), got, len(first))
	}
	// Closed, the next dead file is recycled again.
	putBytes(t, f.e, "reads", "other0", []byte("y"))
	f.e.collect(ctx)
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(ents) != 1 {
		t.Fatalf("%d files in tmp, want one kept for reuse", len(ents))
	}
}

// failingReader fails after n bytes, as a client that goes away.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestInterruptedUploadLeavesNothing(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ctxT(t)
	if err := f.e.CreateBucket(ctx, "cut"); err != nil {
		t.Fatal(err)
	}
	_, err := f.e.PutObject(ctx, &PutInput{Bucket: "cut", Key: "k", Body: Body{R: &failingReader{n: 3 << 20}, Size: 10 << 20}})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeIncompleteBody {
		t.Fatalf("got %v, want IncompleteBody", err)
	}
	_, err = f.e.PutObject(ctx, &PutInput{Bucket: "cut", Key: "k", Body: Body{R: strings.NewReader("short"), Size: 10}})
	if !errors.As(err, &e) || e.Code != CodeIncompleteBody {
		t.Fatalf("short body: got %v, want IncompleteBody", err)
	}
	if _, err := f.e.HeadObject("cut", "k", ""); err == nil {
		t.Fatal("an interrupted upload left a visible object")
	}
	ents, _ := os.ReadDir(filepath.Join(f.dir, "tmp"))
	if len(ents) != 0 {
		t.Fatalf("%d temporary files left", len(ents))
	}
}

func TestDestinations(t *testing.T) {
	regions := []string{"ap-south", "eu-west", "us-east"}
	p := func(s string) *string { return &s }
	cfg := &ReplicationConfig{Rules: []ReplicationRule{
		{Status: "Enabled", Filter: &ReplicationFilter{Prefix: p("logs/")}, Destination: ReplicationDestination{Bucket: "arn:aws:s3:eu-west::b"}},
		{Status: "Enabled", Filter: &ReplicationFilter{Tag: &Tag{Key: "geo", Value: "all"}}, Destination: ReplicationDestination{Bucket: "arn:aws:s3:::b"},
			DeleteMarkerReplication: &DeleteMarkerReplication{Status: "Enabled"}},
		{Status: "Disabled", Destination: ReplicationDestination{Bucket: "arn:aws:s3:ap-south::b"}},
	}}
	if err := cfg.validate("b", regions); err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, tc := range []struct {
		key    string
		tags   []Tag
		marker bool
		want   []string
	}{
		{"logs/x", nil, false, []string{"eu-west"}},
		{"img/x", nil, false, nil},
		{"img/x", []Tag{{"geo", "all"}}, false, []string{"ap-south", "eu-west"}},
		{"logs/x", nil, true, nil},
	} {
		got := destinations(cfg, regions, "us-east", tc.key, tc.tags, tc.marker)
		if !slices.Equal(got, tc.want) {
			t.Errorf("destinations(%s, %v, marker %v) = %v, want %v", tc.key, tc.tags, tc.marker, got, tc.want)
		}
	}
	if got := destinations(nil, regions, "us-east", "k", nil, true); !slices.Equal(got, []string{"ap-south", "eu-west"}) {
		t.Errorf("no configuration: %v", got)
	}
	for _, bad := range []*ReplicationConfig{
		{},
		{Rules: []ReplicationRule{{Status: "On", Destination: ReplicationDestination{Bucket: "arn:aws:s3:::b"}}}},
		{Rules: []ReplicationRule{{Status: "Enabled", Destination: ReplicationDestination{Bucket: "b"}}}},
		{Rules: []ReplicationRule{{Status: "Enabled", Destination: ReplicationDestination{Bucket: "arn:aws:s3:::other"}}}},
		{Rules: []ReplicationRule{{Status: "Enabled", Destination: ReplicationDestination{Bucket: "arn:aws:s3:moon::b"}}}},
	} {
		if err := bad.validate("b", regions); err == nil {
			t.Errorf("validate accepted %+v", bad)
		}
	}
}

// TestCorruptReplicaIsRefused fetches a version from a peer that serves
// wrong bytes: nothing is stored, the version is marked FAILED after
// MaxCorruptFetches, and the right bytes are taken once the peer has them.
func TestCorruptReplicaIsRefused(t *testing.T) {
	good := []byte(strings.Repeat("the right bytes ", 1000))
	var corrupt atomic.Bool
	corrupt.Store(true)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b := bytes.Clone(good)
		if corrupt.Load() {
			b[100] ^= 1
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(peer.Close)
	reg := prometheus.NewRegistry()
	f := newFixture(t, Config{Regions: []string{"eu-west", "us-east"}, Peers: func() map[string]string { return map[string]string{"eu-west": peer.URL} },
		PollInterval: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond, MaxCorruptFetches: 2, Registerer: reg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := f.e.CreateBucket(ctxT(t), "rep"); err != nil {
		t.Fatal(err)
	}
	b, _ := f.e.Bucket("rep")
	// A version written in eu-west, as replication would deliver it.
	h := crc64.New(nvme)
	h.Write(good)
	v := &Version{ID: "foreignversion1", VersionID: nullVersion, Origin: "eu-west", Size: int64(len(good)), ETag: "x",
		CRC: hexString(binary.BigEndian.AppendUint64(nil, h.Sum64())), Replicate: []string{"us-east"}}
	k := objectKey(b.ID, "k")
	if _, err := f.st.Apply(ctxT(t), store.Mutation{Key: k, SetAdd: []store.SetOp{{Field: versionsField, Elems: [][]byte{v.encode()}}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := f.st.Get(k)
		if _, failed := replicaState(st, v.ID); failed["us-east"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the version was never marked FAILED")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if f.e.files.exists(v.ID) {
		t.Fatal("corrupt bytes were stored")
	}
	if n, _ := f.e.Pending(); n != 1 {
		t.Fatalf("pending %d, want 1", n)
	}
	corrupt.Store(false)
	for {
		if n, _ := f.e.Pending(); n == 0 && f.e.files.exists(v.ID) {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("the right bytes were never stored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := readAll(t, f.e, "rep", "k"); !bytes.Equal(got, good) {
		t.Fatal("stored replica differs")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"meridian_s3_replication_backlog_versions", "meridian_s3_replication_lag_seconds", "meridian_s3_replication_fetches_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("metric %s not registered (have %v)", want, names)
		}
	}
}

// TestRecordingAReplicaClearsPending: the batch that records this region's
// copy of a version clears its pending entry, if this node has the bytes;
// a record made by another node of the region leaves this node's entry.
func TestRecordingAReplicaClearsPending(t *testing.T) {
	f := newFixture(t, Config{Regions: []string{"eu-west", "us-east"}})
	ctx := ctxT(t)
	if err := f.e.CreateBucket(ctx, "rep"); err != nil {
		t.Fatal(err)
	}
	b, _ := f.e.Bucket("rep")
	record := func(v *Version) {
		t.Helper()
		if _, err := f.st.Apply(ctx, store.Mutation{Key: objectKey(b.ID, v.ID), SetAdd: []store.SetOp{{Field: replicasField, Elems: [][]byte{replicaElem(v.ID, "us-east", false)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		t.Helper()
		n, err := f.e.Pending()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var vs []*Version
	for _, id := range []string{"fetchedhere1", "fetchedelsewhere1"} {
		v := &Version{ID: id, VersionID: nullVersion, Origin: "eu-west", Size: 1, CRC: "0", Replicate: []string{"us-east"}}
		if _, err := f.st.Apply(ctx, store.Mutation{Key: objectKey(b.ID, id), SetAdd: []store.SetOp{{Field: versionsField, Elems: [][]byte{v.encode()}}}}); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if got := pending(); got != 2 {
		t.Fatalf("pending %d, want 2", got)
	}
	// This node fetched the first version's bytes and records them.
	if err := os.MkdirAll(filepath.Dir(f.e.files.object(vs[0].ID)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.e.files.object(vs[0].ID), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	record(vs[0])
	if got := pending(); got != 1 {
		t.Fatalf("after recording the fetched version: pending %d, want 1", got)
	}
	// Another node of us-east recorded the second; this one lacks the bytes.
	record(vs[1])
	if got := pending(); got != 1 {
		t.Fatalf("after another node's record: pending %d, want 1", got)
	}
}

// TestReadBeforeReplicationIsProxied reads a version whose bytes have not
// been copied here: the read streams them from the origin, ranges included.
func TestReadBeforeReplicationIsProxied(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 1000))
	var ranges atomic.Value
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get(InternalObjectParam) != "remoteversion1" {
			http.NotFound(w, r)
			return
		}
		ranges.Store(r.Header.Get("Range"))
		var off, end int
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &off, &end); err == nil {
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : end+1])
			return
		}
		_, _ = w.Write(data)
	}))
	var down atomic.Bool
	f := newFixture(t, Config{Regions: []string{"eu-west", "us-east"}, StallTimeout: time.Second, Peers: func() map[string]string {
		if down.Load() {
			return map[string]string{"eu-west": "http://127.0.0.1:1"}
		}
		return map[string]string{"eu-west": peer.URL}
	}})
	t.Cleanup(peer.Close)
	if err := f.e.CreateBucket(ctxT(t), "pxy"); err != nil {
		t.Fatal(err)
	}
	b, _ := f.e.Bucket("pxy")
	h := crc64.New(nvme)
	h.Write(data)
	v := &Version{ID: "remoteversion1", VersionID: nullVersion, Origin: "eu-west", Size: int64(len(data)), ETag: "e",
		CRC: hexString(binary.BigEndian.AppendUint64(nil, h.Sum64())), Replicate: []string{"us-east"}}
	if _, err := f.st.Apply(ctxT(t), store.Mutation{Key: objectKey(b.ID, "k"), SetAdd: []store.SetOp{{Field: versionsField, Elems: [][]byte{v.encode()}}}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f.e, "pxy", "k"); !bytes.Equal(got, data) {
		t.Fatalf("proxied read: %d bytes", len(got))
	}
	o, err := f.e.HeadObject("pxy", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if o.ReplicationStatus != ReplicationReplica {
		t.Fatalf("status %q, want REPLICA", o.ReplicationStatus)
	}
	r, err := o.Open(ctxT(t), 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	_ = r.Close()
	if string(got) != "01234" || ranges.Load() != "bytes=10-14" {
		t.Fatalf("proxied range read %q with Range %v", got, ranges.Load())
	}
	down.Store(true)
	_, err = o.Open(ctxT(t), 0, -1)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeServiceUnavailable {
		t.Fatalf("origin down: got %v, want ServiceUnavailable", err)
	}
}

// TestOverwritesKeepStateBounded overwrites one key of an unversioned
// bucket many times: its state stays one version, and the replaced files go.
func TestOverwritesKeepStateBounded(t *testing.T) {
	f := newFixture(t, Config{PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := f.e.CreateBucket(ctxT(t), "hot"); err != nil {
		t.Fatal(err)
	}
	var last *Version
	for i := range 50 {
		last = putBytes(t, f.e, "hot", "k", []byte(fmt.Sprint("value ", i)))
	}
	b, _ := f.e.Bucket("hot")
	st, err := f.st.Get(objectKey(b.ID, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sets) != 0 || len(st.Marshal()) > 1024 {
		t.Fatalf("state after 50 overwrites: %d set fields, %d bytes", len(st.Sets), len(st.Marshal()))
	}
	if got := readAll(t, f.e, "hot", "k"); string(got) != "value 49" {
		t.Fatalf("read %q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		_ = filepath.WalkDir(filepath.Join(f.dir, "objects"), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		garbage := 0
		_ = f.st.ScanIndex([]byte(garbagePrefix), prefixEnd([]byte(garbagePrefix)), false, func(_, _ []byte) bool {
			garbage++
			return true
		})
		if n == 1 && f.e.files.exists(last.ID) && garbage == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files and %d garbage entries left after 50 overwrites, want 1 and 0", n, garbage)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := f.e.DeleteObject(ctxT(t), "hot", "k", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.HeadObject("hot", "k", ""); err == nil {
		t.Fatal("deleted object still readable")
	}
}

// garbageEntries lists the ids of the collector's entries.
func garbageEntries(t *testing.T, st *store.Store) []string {
	t.Helper()
	var ids []string
	err := st.ScanIndex([]byte(garbagePrefix), prefixEnd([]byte(garbagePrefix)), false, func(k, _ []byte) bool {
		ids = append(ids, string(k[len(garbagePrefix):]))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestCollectorDropsItsEntries: once the collector removed a dead
// version's file, its entry is gone too, whether the version is still in
// its object's state or was replaced by a whole-item write, and an entry a
// crash left behind its removed file is dropped at the next start.
func TestCollectorDropsItsEntries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		versioning string
		// kill makes the first of two versions of k dead.
		kill func(t *testing.T, f *fixture, first *Version)
	}{
		{"overwrite, unversioned", "", func(*testing.T, *fixture, *Version) {}},
		{"overwrite of the null version, suspended", "Suspended", func(*testing.T, *fixture, *Version) {}},
		{"version deleted by id, versioned", "Enabled", func(t *testing.T, f *fixture, first *Version) {
			if _, err := f.e.DeleteObject(ctxT(t), "gcb", "k", first.VersionID); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := ctxT(t)
			if err := f.e.CreateBucket(ctx, "gcb"); err != nil {
				t.Fatal(err)
			}
			if tc.versioning != "" {
				if err := f.e.PutBucketVersioning(ctx, "gcb", tc.versioning); err != nil {
					t.Fatal(err)
				}
			}
			first := putBytes(t, f.e, "gcb", "k", []byte("first"))
			putBytes(t, f.e, "gcb", "k", []byte("second"))
			tc.kill(t, f, first)
			if got := garbageEntries(t, f.st); !slices.Equal(got, []string{first.ID}) {
				t.Fatalf("garbage entries before collecting: %v, want [%s]", got, first.ID)
			}
			f.e.collect(ctx)
			if f.e.files.exists(first.ID) {
				t.Fatal("the dead version's file is still in place")
			}
			if got := garbageEntries(t, f.st); len(got) != 0 {
				t.Fatalf("garbage entries after collecting: %v, want none", got)
			}
			if got := readAll(t, f.e, "gcb", "k"); string(got) != "second" {
				t.Fatalf("k reads %q, want second", got)
			}
		})
	}
	t.Run("entry left by a crash", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := ctxT(t)
		if err := f.e.CreateBucket(ctx, "gcb"); err != nil {
			t.Fatal(err)
		}
		v := putBytes(t, f.e, "gcb", "k", []byte("live"))
		b, _ := f.e.Bucket("gcb")
		// A crash after the file's removal lost the entry's removal.
		gone := newID(versionIDLen)
		if err := f.st.UpdateIndex(ctx, func(w store.IndexWriter) { w.Set(garbageKey(gone), refOf(objectKey(b.ID, "k"))) }); err != nil {
			t.Fatal(err)
		}
		e, err := New(f.cfg, f.st)
		if err != nil {
			t.Fatal(err)
		}
		f.st.SetIndexer(e)
		e.collect(ctx)
		if got := garbageEntries(t, f.st); len(got) != 0 {
			t.Fatalf("garbage entries after the restart's collection: %v, want none", got)
		}
		if got := readAll(t, e, "gcb", "k"); string(got) != "live" || !e.files.exists(v.ID) {
			t.Fatalf("the live version reads %q", got)
		}
	})
}
