package main

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/dns"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

func TestZonesAreValidForBothServers(t *testing.T) {
	z := buildZone(200)
	if err := dns.ValidateZones([]dns.Zone{z.meridian}); err != nil {
		t.Fatalf("Meridian rejects the zone: %v", err)
	}
	zp := mdns.NewZoneParser(strings.NewReader(z.zoneFile()), zoneName, "")
	got := 0
	for _, ok := zp.Next(); ok; _, ok = zp.Next() {
		got++
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("Knot's zone file does not parse: %v", err)
	}
	// Every record set's static equivalent, plus the SOA.
	want := 1
	for _, r := range z.meridian.Records {
		want += len(staticTargets(r))
	}
	if got != want {
		t.Errorf("zone file has %d records, want %d", got, want)
	}
}

func TestDnsperfInputRoundTrips(t *testing.T) {
	qs := makeQueries(5000, 200, 0.7, 0.4, 1)
	b, err := dnsperfInput(qs)
	if err != nil {
		t.Fatal(err)
	}
	var n, edns, ecs int
	for len(b) > 0 {
		l := int(binary.BigEndian.Uint16(b))
		var m mdns.Msg
		if err := m.Unpack(b[2 : 2+l]); err != nil {
			t.Fatalf("query %d: %v", n, err)
		}
		if m.Question[0].Name != qs[n].name || m.RecursionDesired {
			t.Fatalf("query %d is %s (RD=%v), want %s with RD=0", n, m.Question[0].Name, m.RecursionDesired, qs[n].name)
		}
		if opt := m.IsEdns0(); opt != nil {
			edns++
			if len(opt.Option) > 0 {
				ecs++
			}
		}
		b = b[2+l:]
		n++
	}
	if n != len(qs) {
		t.Fatalf("read %d queries, want %d", n, len(qs))
	}
	if f := float64(edns) / float64(n); f < 0.65 || f > 0.75 {
		t.Errorf("EDNS0 share %.2f, want about 0.70", f)
	}
	if f := float64(ecs) / float64(n); f < 0.24 || f > 0.32 {
		t.Errorf("ECS share %.2f, want about 0.28", f)
	}
}

func TestParsePerf(t *testing.T) {
	out := `Statistics:

  Queries sent:         128535
  Queries completed:    128530 (100.00%)
  Queries lost:         5 (0.00%)

  Response codes:       NOERROR 64268 (50.00%), NXDOMAIN 64262 (50.00%)
  Average packet size:  request 34, response 67
  Run time (s):         2.003490
  Queries per second:   64155.548568

  Average Latency (s):  0.001157 (min 0.000024, max 0.006813)
  Latency StdDev (s):   0.000641
`
	p, err := parsePerf(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sent != 128535 || p.Completed != 128530 || p.Lost != 5 {
		t.Errorf("sent/completed/lost %d/%d/%d, want 128535/128530/5", p.Sent, p.Completed, p.Lost)
	}
	if p.QPS != 64155.548568 || p.ReqBytes != 34 || p.RespBytes != 67 {
		t.Errorf("qps %v, sizes %d/%d", p.QPS, p.ReqBytes, p.RespBytes)
	}
	if p.AvgLatency != 1157*time.Microsecond || p.MaxLatency != 6813*time.Microsecond {
		t.Errorf("latency avg %v max %v, want 1.157ms 6.813ms", p.AvgLatency, p.MaxLatency)
	}
	if !strings.HasPrefix(p.Rcodes, "NOERROR 64268") {
		t.Errorf("rcodes %q", p.Rcodes)
	}
	if _, err := parsePerf("dnsperf: no statistics"); err == nil {
		t.Error("parsePerf accepted output without statistics")
	}
}

func TestParseCPUList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{{"1", 1}, {"0-3", 4}, {"0,2-3", 3}, {"x", 0}, {"3-1", 0}} {
		if got := procs.CPUCount(c.in); got != c.want {
			t.Errorf("procs.CPUCount(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
