package repl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"google.golang.org/grpc/mem"

	"github.com/meridian-platform/meridian/internal/codec"
	"github.com/meridian-platform/meridian/internal/hlc"
	"github.com/meridian-platform/meridian/internal/store"
)

// ProtocolVersion is the peer protocol this build speaks. Every message
// starts with it; a peer speaking another version is refused with an error
// that names both.
const ProtocolVersion = 1

// Message kinds, so that a message sent to the wrong method is refused too.
const (
	kindPullRequest byte = iota + 1
	kindAck
	kindBatch
	kindSyncRequest
	kindSyncChunk
)

// VersionError is a message from a peer speaking another protocol version.
type VersionError struct{ Got byte }

func (e *VersionError) Error() string {
	return fmt.Sprintf("peer speaks protocol version %d, this node speaks %d", e.Got, ProtocolVersion)
}

type message interface {
	// marshal appends the message's encoding to b.
	marshal(b []byte) []byte
	unmarshal(*codec.Reader) error
	kind() byte
}

func encode(m message) []byte {
	return m.marshal([]byte{ProtocolVersion, m.kind()})
}

func decode(b []byte, m message) error {
	if len(b) < 2 {
		return errors.New("peer message too short")
	}
	if b[0] != ProtocolVersion {
		return &VersionError{Got: b[0]}
	}
	if b[1] != m.kind() {
		return fmt.Errorf("peer message of kind %d where kind %d was expected", b[1], m.kind())
	}
	r := codec.NewReader(b[2:])
	if err := m.unmarshal(r); err != nil {
		return err
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("decoding peer message: %w", err)
	}
	return nil
}

func appendVV(b []byte, vv map[string]uint64) []byte {
	keys := make([]string, 0, len(vv))
	for k := range vv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = codec.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = codec.AppendString(b, k)
		b = codec.AppendUvarint(b, vv[k])
	}
	return b
}

func readVV(r *codec.Reader) map[string]uint64 {
	n := r.Count(2)
	vv := make(map[string]uint64, n)
	for range n {
		vv[r.String()] = r.Uvarint()
	}
	return vv
}

func appendTS(b []byte, ts hlc.Timestamp) []byte {
	b = codec.AppendVarint(b, ts.WallNanos)
	return codec.AppendUvarint(b, uint64(ts.Logical))
}

func readTS(r *codec.Reader) hlc.Timestamp {
	return hlc.Timestamp{WallNanos: r.Varint(), Logical: r.Uvarint32()}
}

func appendStrings(b []byte, ss []string) []byte {
	b = codec.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = codec.AppendString(b, s)
	}
	return b
}

func readStrings(r *codec.Reader) []string {
	n := r.Count(1)
	var out []string
	for range n {
		out = append(out, r.String())
	}
	return out
}

// pullRequest opens a replication stream: "send me every record beyond vv of
// origins in these regions" (all regions when empty).
type pullRequest struct {
	Region  string
	VV      map[string]uint64
	Regions []string
}

func (*pullRequest) kind() byte { return kindPullRequest }
func (m *pullRequest) marshal(b []byte) []byte {
	b = codec.AppendString(b, m.Region)
	b = appendVV(b, m.VV)
	return appendStrings(b, m.Regions)
}
func (m *pullRequest) unmarshal(r *codec.Reader) error {
	m.Region, m.VV, m.Regions = r.String(), readVV(r), readStrings(r)
	return r.Err()
}

// ack tells the sender what the receiver has applied, so it can truncate.
type ack struct {
	VV map[string]uint64
}

func (*ack) kind() byte                { return kindAck }
func (m *ack) marshal(b []byte) []byte { return appendVV(b, m.VV) }
func (m *ack) unmarshal(r *codec.Reader) error {
	m.VV = readVV(r)
	return r.Err()
}

// batch carries change records, or nothing as a heartbeat. Truncated lists
// origins the sender can no longer serve from the asked position.
type batch struct {
	TS        hlc.Timestamp
	VV        map[string]uint64
	Records   [][]byte
	Truncated []string
}

func (*batch) kind() byte { return kindBatch }
func (m *batch) marshal(b []byte) []byte {
	size := len(b) + 32 + 32*len(m.VV)
	for _, rec := range m.Records {
		size += len(rec) + binary.MaxVarintLen32
	}
	b = appendTS(append(make([]byte, 0, size), b...), m.TS)
	b = appendVV(b, m.VV)
	b = codec.AppendUvarint(b, uint64(len(m.Records)))
	for _, rec := range m.Records {
		b = codec.AppendBytes(b, rec)
	}
	return appendStrings(b, m.Truncated)
}
func (m *batch) unmarshal(r *codec.Reader) error {
	m.TS, m.VV = readTS(r), readVV(r)
	n := r.Count(1)
	m.Records = make([][]byte, 0, n)
	for range n {
		m.Records = append(m.Records, r.Bytes())
	}
	m.Truncated = readStrings(r)
	return r.Err()
}

// syncRequest asks for the items of every bucket whose digest differs from
// the requester's.
type syncRequest struct {
	Region string
	Root   []byte
	Leaves []byte // NumBuckets × 16 bytes
	// VV is what the requester has applied. Unless Force is set, the peer
	// compares digests only when its own vector is the same: otherwise the
	// buckets differ merely by records still in flight, which the streams
	// deliver anyway.
	VV    map[string]uint64
	Force bool
}

func (*syncRequest) kind() byte { return kindSyncRequest }
func (m *syncRequest) marshal(b []byte) []byte {
	b = codec.AppendString(b, m.Region)
	b = codec.AppendBytes(b, m.Root)
	b = codec.AppendBytes(b, m.Leaves)
	b = appendVV(b, m.VV)
	return appendBool(b, m.Force)
}
func (m *syncRequest) unmarshal(r *codec.Reader) error {
	m.Region, m.Root, m.Leaves = r.String(), r.Bytes(), r.Bytes()
	m.VV, m.Force = readVV(r), r.Byte() == 1
	if r.Err() == nil && len(m.Leaves) != store.NumBuckets*16 {
		return fmt.Errorf("sync request has %d bytes of digests, want %d", len(m.Leaves), store.NumBuckets*16)
	}
	return r.Err()
}

// syncChunk streams repair items; the last chunk has Done set and carries the
// version vector of the snapshot the items came from.
type syncChunk struct {
	// TS is the sender's clock, checked against the maximum offset before
	// any item is merged.
	TS    hlc.Timestamp
	Items []store.RawState
	Done  bool
	VV    map[string]uint64
	// Buckets is how many buckets differed (on the last chunk).
	Buckets uint64
	// Skipped says the peer did not compare: its vector differed from the
	// requester's.
	Skipped bool
}

func (*syncChunk) kind() byte { return kindSyncChunk }
func (m *syncChunk) marshal(b []byte) []byte {
	b = appendTS(b, m.TS)
	b = codec.AppendUvarint(b, uint64(len(m.Items)))
	for _, it := range m.Items {
		b = codec.AppendBytes(b, it.Key)
		b = codec.AppendBytes(b, it.State)
	}
	if m.Done {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendVV(b, m.VV)
	b = codec.AppendUvarint(b, m.Buckets)
	return appendBool(b, m.Skipped)
}
func (m *syncChunk) unmarshal(r *codec.Reader) error {
	m.TS = readTS(r)
	n := r.Count(2)
	m.Items = make([]store.RawState, 0, n)
	for range n {
		m.Items = append(m.Items, store.RawState{Key: r.Bytes(), State: r.Bytes()})
	}
	m.Done = r.Byte() == 1
	m.VV = readVV(r)
	m.Buckets = r.Uvarint()
	m.Skipped = r.Byte() == 1
	return r.Err()
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// frame is what the gRPC codec moves: already-encoded bytes.
type frame struct{ b []byte }

// rawCodec passes frames through gRPC unchanged; the messages above do their
// own versioned encoding.
type rawCodec struct{}

func (rawCodec) Name() string { return "meridian-v1" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("peer codec cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("peer codec cannot unmarshal into %T", v)
	}
	f.b = data.Materialize()
	return nil
}

// RawFrame wraps already-encoded bytes for the peer codec; tests use it to
// send malformed messages.
func RawFrame(b []byte) any { return &frame{b: b} }
