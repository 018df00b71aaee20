package repl

import (
	"testing"

	"github.com/meridian-platform/meridian/internal/hlc"
	"github.com/meridian-platform/meridian/internal/store"
)

// FuzzDecode feeds arbitrary bytes to every peer message decoder: they must
// fail cleanly, never panic, and what they accept must round-trip.
func FuzzDecode(f *testing.F) {
	ts := hlc.Timestamp{WallNanos: 42, Logical: 1}
	for _, m := range []message{
		&pullRequest{Region: "us-east", VV: map[string]uint64{"eu-west.1": 7}, Regions: []string{"eu-west"}},
		&ack{VV: map[string]uint64{"a": 1}},
		&batch{TS: ts, VV: map[string]uint64{"a": 2}, Records: [][]byte{{1, 2, 3}}, Truncated: []string{"x"}},
		&syncRequest{Region: "us-east", Root: make([]byte, 32), Leaves: make([]byte, store.NumBuckets*16)},
		&syncChunk{TS: ts, Items: []store.RawState{{Key: []byte("k"), State: []byte("s")}}, Done: true, VV: map[string]uint64{"a": 3}},
	} {
		f.Add(encode(m))
	}
	f.Add([]byte{})
	f.Add([]byte{ProtocolVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []message{&pullRequest{}, &ack{}, &batch{}, &syncRequest{}, &syncChunk{}} {
			if err := decode(b, m); err != nil {
				continue
			}
			again := encode(m)
			fresh := map[byte]message{kindPullRequest: &pullRequest{}, kindAck: &ack{}, kindBatch: &batch{},
				kindSyncRequest: &syncRequest{}, kindSyncChunk: &syncChunk{}}[m.kind()]
			if err := decode(again, fresh); err != nil {
				t.Fatalf("re-decoding %T: %v", m, err)
			}
			if string(encode(fresh)) != string(again) {
				t.Fatalf("%T does not round-trip", m)
			}
		}
	})
}
