package store

import (
	"testing"

	"github.com/meridian-platform/meridian/internal/hlc"
)

func FuzzUnmarshalRecord(f *testing.F) {
	rec := &Record{Origin: "us-east.1", Seq: 3, TS: hlc.Timestamp{WallNanos: 5, Logical: 1}, Mutations: []Mutation{
		{Key: Key{Space: "t", Hash: []byte("h"), Range: []byte("r")}, Put: []byte("doc"),
			Counters: []CounterDelta{{Field: "n", Delta: "1.5"}}, SetAdd: []SetOp{{Field: "s", Elems: [][]byte{[]byte("x")}}}},
		{Key: Key{Space: "t", Hash: []byte("g")}, Delete: true},
	}}
	f.Add(rec.Marshal())
	f.Add([]byte{1})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRecord(b)
		if err != nil {
			return
		}
		again, err := UnmarshalRecord(r.Marshal())
		if err != nil {
			t.Fatalf("re-decoding a decoded record: %v", err)
		}
		if string(again.Marshal()) != string(r.Marshal()) {
			t.Fatal("record does not round-trip")
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	s := &State{}
	s.Merge((&Mutation{Put: []byte("d"), Counters: []CounterDelta{{Field: "n", Delta: "2"}},
		SetAdd: []SetOp{{Field: "s", Elems: [][]byte{[]byte("a")}}}}).delta(Tag{TS: hlc.Timestamp{WallNanos: 1}, Origin: "us"}))
	f.Add(s.Marshal())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(_ *testing.T, b []byte) {
		st, err := UnmarshalState(b)
		if err != nil {
			return
		}
		st.Marshal()
		_, _ = st.CounterSum("n")
		st.SetMembers("s", nil)
	})
}

func FuzzDecodeDataKey(f *testing.F) {
	f.Add(dataKey(Key{Space: "t", Hash: []byte("a\x00b"), Range: []byte("r")}))
	f.Add([]byte("d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, _, err := decodeDataKey(b)
		if err != nil {
			return
		}
		if string(dataKey(k)) != string(b) {
			t.Fatalf("key %x decodes to %v which encodes differently", b, k)
		}
	})
}
