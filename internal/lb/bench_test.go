package lb

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's CPU time so far (user and system): with
// ReportCPU a benchmark's CPU per operation, which other load on the
// machine disturbs less than its wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProxyKeepAlive measures one request through the balancer on a
// keep-alive connection to a trivial target: the per-request cost of the
// server, the routing and the upstream pool (go test -bench Proxy
// -benchmem -cpu 1; bench/lb compares the whole against nginx). cpu-ns/op
// is the CPU time of the whole process (client, balancer and target) per
// request, rw-syscalls/op its read and write system calls.
func BenchmarkProxyKeepAlive(b *testing.B) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello, world\n")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	tl := startLB(b, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: HealthCheck{Interval: time.Hour, HealthyThreshold: 1}}}})
	if err := tl.Register("g", "t", ln.Addr().String()); err != nil {
		b.Fatal(err)
	}
	tl.waitHealthy(b, "g", "t")
	c, err := net.Dial("tcp", tl.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	b.ReportAllocs()
	cpu0, sys0 := cpuTime(), rwSyscalls()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if sys0 >= 0 {
		b.ReportMetric(float64(rwSyscalls()-sys0)/float64(b.N), "rw-syscalls/op")
	}
}

// rwSyscalls is how many read and write system calls the process made
// (failed ones such as EAGAIN included), -1 where /proc does not say.
func rwSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	var n int64
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "syscr" || k == "syscw" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			n += x
		}
	}
	return n
}
