package main

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestHistogramFromExposition(t *testing.T) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	h := histogramOf(mfs, "d")
	if h.count != 200 || h.sum != 100.2 {
		t.Fatalf("count, sum = %v, %v; want 200, 100.2", h.count, h.sum)
	}
	// Ranks: 100 of 200 at the top of the 4 ms bucket; 50% is rank 100.
	if got := h.quantile(0.5); math.Abs(got-0.004) > 1e-9 {
		t.Errorf("p50 = %v, want 0.004", got)
	}
	// Rank 40 lies in the 1–2 ms bucket (10..60): 1ms + 1ms·30/50.
	if got := h.quantile(0.2); math.Abs(got-0.0016) > 1e-9 {
		t.Errorf("p20 = %v, want 0.0016", got)
	}
	if got := h.quantile(0.99); !math.IsInf(got, 1) {
		t.Errorf("p99 = %v, want +Inf (above the last bound)", got)
	}
	if got := h.bucketBound(0.2); got != 0.002 {
		t.Errorf("p20 bucket bound = %v, want 0.002", got)
	}
	d := h.minus(histogramOf(mfs, "d"))
	if d.count != 0 || !math.IsNaN(d.quantile(0.5)) {
		t.Errorf("h minus itself: count %v, p50 %v; want 0, NaN", d.count, d.quantile(0.5))
	}
	if got := counterOf(mfs, "w", "kind", "remote"); got != 5 {
		t.Errorf("remote writes = %v, want 5", got)
	}
	if got := counterOf(mfs, "w"); got != 12 {
		t.Errorf("all writes = %v, want 12", got)
	}
}

func TestNumberEncodesNonFiniteAsNull(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{1.5, "1.5"}, {math.NaN(), "null"}, {math.Inf(1), "null"}} {
		got, err := number(tc.in).MarshalJSON()
		if err != nil || string(got) != tc.want {
			t.Errorf("number(%v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

const exposition = `# HELP d Delay.
# TYPE d histogram
d_bucket{origin_region="a",le="0.001"} 10
d_bucket{origin_region="a",le="0.002"} 60
d_bucket{origin_region="a",le="0.004"} 100
d_bucket{origin_region="a",le="+Inf"} 100
d_sum{origin_region="a"} 0.2
d_count{origin_region="a"} 100
d_bucket{origin_region="b",le="0.001"} 0
d_bucket{origin_region="b",le="0.002"} 0
d_bucket{origin_region="b",le="0.004"} 0
d_bucket{origin_region="b",le="+Inf"} 100
d_sum{origin_region="b"} 100
d_count{origin_region="b"} 100
# HELP w Writes.
# TYPE w counter
w{kind="local"} 7
w{kind="remote"} 5
`
