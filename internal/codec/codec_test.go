package codec

import (
	"errors"
	"math"
	"testing"
)

func TestUvarint32(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      uint64
		want    uint32
		corrupt bool
	}{
		{name: "zero", in: 0, want: 0},
		{name: "max", in: math.MaxUint32, want: math.MaxUint32},
		{name: "one past max", in: math.MaxUint32 + 1, corrupt: true},
		{name: "max uint64", in: math.MaxUint64, corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(AppendUvarint(nil, tc.in))
			got := r.Uvarint32()
			if tc.corrupt {
				if !errors.Is(r.Err(), ErrCorrupt) {
					t.Errorf("Uvarint32 of %d: got %d, err %v, want an error wrapping ErrCorrupt", tc.in, got, r.Err())
				}
				return
			}
			if got != tc.want || r.Err() != nil {
				t.Errorf("Uvarint32 of %d: got %d, err %v, want %d and no error", tc.in, got, r.Err(), tc.want)
			}
		})
	}
}
