package rawload

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name    string
		resp    string
		size    int
		wantHit bool
		wantErr string
	}{
		{"cache hit", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Cache: Hit\r\nAge: 1\r\n\r\nabc", 3, true, ""},
		{"cache miss", "HTTP/1.1 200 OK\r\nX-Cache: Miss\r\nContent-Length: 3\r\n\r\nabc", 3, false, ""},
		{"nginx, lower-case names", "HTTP/1.1 200 OK\r\nserver: nginx\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\nabc", 3, false, ""},
		{"wrong length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab", 3, false, "Content-Length 2, want 3"},
		{"no length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 3, false, "Transfer-Encoding"},
		{"not found", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 3, false, "status 404"},
		{"closes", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc", 3, false, "closes the connection"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", 3, false, "EOF"},
		{"any length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab", -1, false, ""},
		{"any length, none given", "HTTP/1.1 200 OK\r\n\r\nab", -1, false, "without Content-Length"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nab", -1, false, "bad Content-Length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hit, err := readResponse(bufio.NewReader(strings.NewReader(tt.resp)), tt.size)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || hit != tt.wantHit {
				t.Fatalf("got hit %v, error %v; want hit %v, no error", hit, err, tt.wantHit)
			}
		})
	}
}

// Two responses back to back on one connection: the first must be read
// exactly to its end.
func TestReadResponseKeepAlive(t *testing.T) {
	one := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Cache: Hit\r\n\r\nabcd"
	br := bufio.NewReader(strings.NewReader(one + one))
	for i := range 2 {
		if hit, err := readResponse(br, 4); err != nil || !hit {
			t.Fatalf("response %d: got hit %v, error %v; want a hit", i+1, hit, err)
		}
	}
}

// TestRun drives a real server: every request counted with its latency,
// hits counted by X-Cache, and a run where every response has the wrong
// length fails with the reason.
func TestRun(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "shop.test" || r.URL.Path != "/p" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		if n.Add(1)%2 == 0 {
			w.Header().Set("X-Cache", "Hit")
		}
		_, _ = io.WriteString(w, "abcd")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	res, err := Run(context.Background(), Target{Addrs: []string{addr}, Host: "shop.test", Path: "/p", Size: 4, CountHits: true}, 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// (At least 20: the server alternates hits and misses, and at most
	// the 4 answers cut off by the end go uncounted.)
	if res.Requests < 20 || res.Errors != 0 || uint64(res.Requests) != res.Latency.Count() {
		t.Fatalf("requests %d, errors %d (last %v), latencies %d", res.Requests, res.Errors, res.LastErr, res.Latency.Count())
	}
	if res.NonHits == 0 || res.NonHits == res.Requests {
		t.Errorf("non-hits %d of %d: want some of each", res.NonHits, res.Requests)
	}
	if served := n.Load(); served < int64(res.Requests) {
		t.Errorf("server answered %d, the load counted %d", served, res.Requests)
	}

	_, err = Run(context.Background(), Target{Addrs: []string{addr}, Host: "shop.test", Path: "/p", Size: 5}, 2, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "Content-Length 4, want 5") {
		t.Fatalf("wrong length: got %v", err)
	}
}
