package cdn

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkHit measures answering a fresh 16 KiB entry through the handler
// (no network): the cost the edge adds per cached request.
func BenchmarkHit(b *testing.B) {
	clk := newClock()
	origin := newTestOrigin(b, "127.0.0.2", clk)
	origin.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=600"}, "Etag": {`"1"`}}, body: strings.Repeat("x", 16<<10)})
	c, err := New(Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := httptest.NewRequest(http.MethodGet, "http://"+testHost+"/a", nil)
	c.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	b.SetBytes(16 << 10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			c.ServeHTTP(w, req)
			if w.Code != http.StatusOK || w.Header().Get("X-Cache") != Hit {
				b.Fatalf("got %d %q, want 200 Hit", w.Code, w.Header().Get("X-Cache"))
			}
		}
	})
}
