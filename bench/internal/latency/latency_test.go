package latency

import (
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<20; us++ {
		b := bucketOf(us)
		if b != prev && b != prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d: buckets must be consecutive", us, b, prev)
		}
		if up := bucketUpper(b); us > up {
			t.Fatalf("bucketOf(%d) = %d whose upper bound is %d", us, b, up)
		}
		if b > 0 && us <= bucketUpper(b-1) {
			t.Fatalf("%d fits bucket %d but went to %d", us, b-1, b)
		}
		prev = b
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 1000; i++ {
		a.Record(time.Duration(i) * time.Millisecond)
	}
	b.Record(10 * time.Second)
	a.Merge(&b)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, 10 * time.Second}} {
		got := a.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.02 {
			t.Errorf("quantile(%v) = %v, want %v within +2%%", tc.q, got, tc.want)
		}
	}
	if a.n != 1001 || a.max != 10*time.Second {
		t.Errorf("n, max = %d, %v; want 1001, 10s", a.n, a.max)
	}
}
