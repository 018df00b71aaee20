package netsim

import (
	"fmt"
	"testing"
	"time"
)

func TestConditionDeliverAt(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const delay = 50 * time.Millisecond
	tests := []struct {
		name    string
		cond    condition
		arrived time.Time
		extra   time.Duration
		want    time.Time
		wantOK  bool
	}{
		{"no conditions", condition{}, at(0), 0, at(0), true},
		{"delay", condition{delay: delay}, at(0), 0, at(50), true},
		{"delay and loss hold", condition{delay: delay}, at(0), lossPenalty, at(250), true},
		{"landed before the cut", condition{delay: delay, cutAt: at(60)}, at(0), 0, at(50), true},
		{"in flight at the cut", condition{delay: delay, cutAt: at(40)}, at(0), 0, time.Time{}, false},
		{"sent during the cut", condition{delay: delay, cutAt: at(40)}, at(100), 0, time.Time{}, false},
		{"in flight at a healed cut", condition{delay: delay, lastCut: at(40), lastHeal: at(500)}, at(0), 0, at(550), true},
		{"sent after a healed cut", condition{delay: delay, lastCut: at(40), lastHeal: at(500)}, at(600), 0, at(650), true},
		{"landed before a healed cut", condition{delay: delay, lastCut: at(60), lastHeal: at(500)}, at(0), 0, at(50), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.cond.deliverAt(tc.arrived, tc.extra)
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("deliverAt: got (%v, %v), want (%v, %v)", got.Sub(t0), ok, tc.want.Sub(t0), tc.wantOK)
			}
		})
	}
}

func TestNetworkSeedIsReproducible(t *testing.T) {
	draws := func(seed int64) []bool {
		p := netPath{n: New(seed), l: link{"a", "b"}}
		out := make([]bool, 32)
		for i := range out {
			out[i] = p.lost(0.5)
		}
		return out
	}
	first, again, other := draws(42), draws(42), draws(43)
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Errorf("loss draws with seed 42: got %v then %v, want the same", first, again)
	}
	if fmt.Sprint(first) == fmt.Sprint(other) {
		t.Errorf("loss draws with seeds 42 and 43: both %v, want them to differ", first)
	}
	if got := New(42).Seed(); got != 42 {
		t.Errorf("Seed: got %d, want 42", got)
	}
}
