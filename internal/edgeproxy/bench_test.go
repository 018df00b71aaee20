package edgeproxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkServeHTTP is the proxy's hot path: choosing a region and
// forwarding a small GET to a real region on loopback over a warm keep-alive
// pool. The client side is a recorder, so only the proxy's cost and the
// region round trip are measured.
func BenchmarkServeHTTP(b *testing.B) {
	regions := make([]Region, 0, 3)
	for i, id := range []string{"a", "b", "c"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hello from "+id)
		}))
		b.Cleanup(srv.Close)
		regions = append(regions, Region{ID: id, URL: srv.URL, HealthCheck: "hc-" + id, Weight: i + 1})
	}
	rtt := &fakeRTT{}
	rtt.set("a", 10*time.Millisecond)
	rtt.set("b", 12*time.Millisecond)
	rtt.set("c", 80*time.Millisecond)
	p, err := New(Config{Regions: regions, RTT: rtt, Health: &fakeHealth{}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "http://shop.meridian.test/", nil)
			req.Header.Set("Cookie", "session=1; meridian-region=b")
			w := httptest.NewRecorder()
			p.ServeHTTP(w, req)
			if w.Code != 200 {
				panic(fmt.Sprintf("status %d: %s", w.Code, w.Body))
			}
		}
	})
}

// BenchmarkChoose is the region choice alone, with weights and dials.
func BenchmarkChoose(b *testing.B) {
	rtt := &fakeRTT{}
	var regions []Region
	for i, id := range []string{"a", "b", "c", "d"} {
		regions = append(regions, Region{ID: id, URL: fmt.Sprintf("http://127.0.0.1:%d", i+1),
			HealthCheck: "hc-" + id, Weight: i + 1, TrafficDial: Percent(80)})
		rtt.set(id, time.Duration(10+i*2)*time.Millisecond)
	}
	p, err := New(Config{Regions: regions, RTT: rtt, Health: &fakeHealth{}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	set := p.set.Load()
	b.ReportAllocs()
	for b.Loop() {
		p.choose(set, "", nil)
	}
}

// BenchmarkDirectBaseline is a plain client to a region with no proxy, for
// comparison: the proxy's cost is BenchmarkServeHTTP's time less this one's.
func BenchmarkDirectBaseline(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(srv.URL)
			if err != nil {
				panic(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
