package main

import (
	"maps"
	"testing"
)

func TestParseCounters(t *testing.T) {
	body := `# HELP meridian_edge_retries_total Requests sent on to the next region.
# TYPE meridian_edge_retries_total counter
meridian_edge_retries_total{region="us-east"} 7
meridian_edge_retries_total{region="eu-west"} 1
meridian_edge_upstream_failures_total{kind="connect",region="us-east"} 5
meridian_edge_upstream_failures_total{kind="reset",region="us-east"} 2
meridian_edge_upstream_failures_total{kind="timeout",region="eu-west"} 9
meridian_edge_ejections_total{region="us-east"} 1
meridian_edge_requests_total{code="200",region="us-east"} 1234
meridian_edge_upstream_duration_seconds_bucket{region="us-east",le="0.001"} 3
`
	got := parseCounters(body, "us-east")
	want := map[string]float64{"retries": 7, "fail_connect": 5, "fail_reset": 2, "ejections": 1}
	if !maps.Equal(got, want) {
		t.Errorf("parseCounters(us-east) = %v, want %v", got, want)
	}
}
