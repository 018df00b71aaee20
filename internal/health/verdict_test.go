package health

import (
	"strings"
	"testing"
	"time"
)

// TestTracker feeds probe results (o success, x failure) to a tracker and
// checks the verdict after each one (? unknown, H healthy, U unhealthy).
func TestTracker(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		results   string
		want      string
	}{
		{"first success is healthy", 3, "o", "H"},
		{"failures from unknown need the threshold", 3, "xxx", "??U"},
		{"threshold failures turn healthy unhealthy", 3, "oxxx", "HHHU"},
		{"a success resets the failure count", 3, "oxxoxxox", "HHHHHHHH"},
		{"threshold successes turn unhealthy healthy", 3, "xxxooo", "??UUUH"},
		{"a failure resets the success count", 3, "xxxooxooo", "??UUUUUUH"},
		{"threshold one flips on every change", 1, "oxoxx", "HUHUU"},
		{"unknown to healthy after failures", 3, "xxo", "??H"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(tc.threshold)
			var got strings.Builder
			for _, r := range tc.results {
				before := tr.verdict
				changed := tr.observe(r == 'o')
				if changed != (tr.verdict != before) {
					t.Errorf("observe reported changed=%v going from %s to %s", changed, before, tr.verdict)
				}
				got.WriteByte(map[Verdict]byte{Unknown: '?', Healthy: 'H', Unhealthy: 'U'}[tr.verdict])
			}
			if got.String() != tc.want {
				t.Errorf("verdicts after %s: got %s, want %s", tc.results, got.String(), tc.want)
			}
		})
	}
}

func TestMajorityRule(t *testing.T) {
	H, U, X := Healthy, Unhealthy, Unknown
	tests := []struct {
		name  string
		votes []Verdict
		n     int
		want  Verdict
	}{
		{"no votes", []Verdict{X, X, X}, 3, X},
		{"one healthy", []Verdict{H, X, X}, 3, H},
		{"one of five partitioned", []Verdict{U, H, H, H, H}, 5, H},
		{"two of five", []Verdict{U, U, H, H, H}, 5, H},
		{"three of five", []Verdict{U, U, U, H, H}, 5, U},
		{"dead region's checker gone", []Verdict{U, U, U, U, X}, 5, U},
		{"half is not a majority", []Verdict{U, U, H, H}, 4, H},
		{"unreachable checkers count as not unhealthy", []Verdict{U, U, X, X, X}, 5, H},
		{"lone unhealthy vote is known healthy", []Verdict{U, X, X}, 3, H},
		{"single checker", []Verdict{U}, 1, U},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := majority(tc.votes, tc.n); got != tc.want {
				t.Errorf("majority(%v, %d): got %s, want %s", tc.votes, tc.n, got, tc.want)
			}
		})
	}
}

func TestCombine(t *testing.T) {
	H, U, X := Healthy, Unhealthy, Unknown
	tests := []struct {
		name     string
		children []Verdict
		need     int
		want     Verdict
	}{
		{"2 of 3 healthy", []Verdict{H, H, U}, 2, H},
		{"1 of 3 healthy", []Verdict{H, U, U}, 2, U},
		{"all needed", []Verdict{H, H, U}, 3, U},
		{"undecided while unknown", []Verdict{H, X, U}, 2, X},
		{"decided despite unknown", []Verdict{H, H, X}, 2, H},
		{"cannot reach threshold", []Verdict{U, U, X}, 2, U},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := combine(tc.children, tc.need); got != tc.want {
				t.Errorf("combine(%v, %d): got %s, want %s", tc.children, tc.need, got, tc.want)
			}
		})
	}
}

func TestRTTWindowMedian(t *testing.T) {
	var w rttWindow
	if _, ok := w.median(); ok {
		t.Fatal("median of no samples: got ok, want none")
	}
	ms := time.Millisecond
	steps := []struct {
		add  time.Duration
		want time.Duration
	}{
		{10 * ms, 10 * ms},
		{30 * ms, 20 * ms},
		{500 * ms, 30 * ms}, // one outlier does not move it far
		{12 * ms, 21 * ms},
		{11 * ms, 12 * ms},
		{13 * ms, 13 * ms}, // the 10ms sample has left the window
	}
	for i, s := range steps {
		w.add(s.add)
		if got, _ := w.median(); got != s.want {
			t.Errorf("after sample %d (%v): median %v, want %v", i+1, s.add, got, s.want)
		}
	}
}
