package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/latency"
	"github.com/meridian-platform/meridian/internal/region"
)

func TestReportRoundTrip(t *testing.T) {
	want := regionLoad{Region: "eu-west", Window: 3, All: 5, Errors: 1, FirstError: "closed", LastAck: 1_700_000_000_000_000_000}
	for _, d := range []time.Duration{2 * time.Millisecond, 3 * time.Millisecond, 250 * time.Millisecond} {
		want.Latency.Record(d)
	}
	raw, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseReport(lineReport + string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got.Region != want.Region || got.Window != want.Window || got.All != want.All || got.Errors != want.Errors || got.FirstError != want.FirstError || got.LastAck != want.LastAck {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, q := range []float64{0.5, 0.99, 1} {
		if g, w := got.Latency.Quantile(q), want.Latency.Quantile(q); g != w {
			t.Errorf("p%v = %v, want %v", 100*q, g, w)
		}
	}
	if got.Latency.Mean() != want.Latency.Mean() || got.Latency.Max() != want.Latency.Max() {
		t.Errorf("mean, max = %v, %v; want %v, %v", got.Latency.Mean(), got.Latency.Max(), want.Latency.Mean(), want.Latency.Max())
	}
}

func TestParseReportRejects(t *testing.T) {
	var one latency.Histogram
	one.Record(time.Millisecond)
	h, err := json.Marshal(&one)
	if err != nil {
		t.Fatal(err)
	}
	for name, line := range map[string]string{
		"no prefix":          `{"region":"a","window_writes":1,"all_writes":1,"latency":` + string(h) + `}`,
		"ready line":         lineReady,
		"truncated":          lineReport + `{"region":"a","window_writes":1`,
		"no region":          lineReport + `{"window_writes":1,"all_writes":1,"latency":` + string(h) + `}`,
		"window over all":    lineReport + `{"region":"a","window_writes":2,"all_writes":1,"latency":` + string(h) + `}`,
		"latencies missing":  lineReport + `{"region":"a","window_writes":2,"all_writes":2,"latency":` + string(h) + `}`,
		"buckets off count":  lineReport + `{"region":"a","window_writes":1,"all_writes":1,"latency":{"counts":[0,2],"n":1}}`,
		"negative latencies": lineReport + `{"region":"a","window_writes":1,"all_writes":1,"latency":{"counts":[1],"n":1,"sum_ns":-1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := parseReport(line); err == nil {
				t.Errorf("parseReport(%q) = %+v, want an error", line, got)
			}
		})
	}
}

func TestParseStart(t *testing.T) {
	want := time.Unix(1_700_000_000, 123)
	got, err := parseStart(lineStart + "1700000000000000123\n")
	if err != nil || !got.Equal(want) {
		t.Errorf("parseStart = %v, %v; want %v", got, err, want)
	}
	for _, line := range []string{"", "START", "START x", "START -5", "GO 1700000000000000123", "START " + strings.Repeat("9", 30)} {
		if got, err := parseStart(line); err == nil {
			t.Errorf("parseStart(%q) = %v, want an error", line, got)
		}
	}
}

func TestStatusesAgree(t *testing.T) {
	st := func(digest string, a, b uint64) region.Status {
		return region.Status{Digest: digest, Applied: map[string]uint64{"a": a, "b": b}}
	}
	for _, tc := range []struct {
		name string
		sts  []region.Status
		want bool
	}{
		{"equal", []region.Status{st("d1", 3, 4), st("d1", 3, 4), st("d1", 3, 4)}, true},
		{"digest differs", []region.Status{st("d1", 3, 4), st("d1", 3, 4), st("d2", 3, 4)}, false},
		{"vector behind", []region.Status{st("d1", 3, 4), st("d1", 3, 3)}, false},
		{"empty vectors", []region.Status{{Digest: "d1"}, {Digest: "d1"}}, false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusesAgree(tc.sts); got != tc.want {
				t.Errorf("statusesAgree = %v, want %v", got, tc.want)
			}
		})
	}
}
