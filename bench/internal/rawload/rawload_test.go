package rawload

import (
	"bufio"
	"strings"
	"testing"
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
