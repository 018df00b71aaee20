package cdn

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output in testdata/*.txt")

// TestGolden runs the transcripts in testdata/*.txt, one file per caching
// directive family. Each file runs against a fresh cache in front of one
// origin (base URL http://127.0.0.2:port/static) with a test clock. A file
// is a sequence of blocks separated by blank lines; # starts a comment.
// A block is a command line, input lines, "----" and the expected output:
//
//	origin <path> [status=N] [body=<text>] [vary-body=<header>]
//	<response header lines>
//	    sets what the origin answers for path from now on; it answers 304
//	    to a matching If-None-Match / If-Modified-Since itself.
//	origin-status <code>   every origin request is answered <code> (0: normal)
//	origin-kill            the origin's listener and connections close
//	get <path> [at=<offset>] [method=HEAD]
//	<request header lines>
//	    sets the clock to epoch+offset and sends a request through a real
//	    client; the output is status, X-Cache, Age, selected headers and
//	    the body, then each request the origin received meanwhile
//	    (background refreshes included).
//	invalidate <pattern>   Cache.Invalidate on the test host
//	distribution [allow-writes] [default-ttl=<d>] [min-ttl=<d>] [max-ttl=<d>]
//	    replaces the cache with an empty one configured so
//
// go test -run TestGolden -rewrite regenerates the outputs.
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			t.Parallel()
			runGolden(t, file)
		})
	}
}

type block struct {
	comments []string // lines before the command
	cmd      string
	input    []string
	output   []string
}

func parseBlocks(t *testing.T, file string) []block {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var cur block
	state := 0 // 0: before command, 1: input, 2: output
	for n, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		switch {
		case state == 0 && (line == "" || strings.HasPrefix(line, "#")):
			cur.comments = append(cur.comments, line)
		case state == 0:
			cur.cmd, state = line, 1
		case state == 1 && line == "----":
			state = 2
		case state == 1:
			cur.input = append(cur.input, line)
		case state == 2 && line == "":
			blocks = append(blocks, cur)
			cur, state = block{}, 0
		case state == 2:
			cur.output = append(cur.output, line)
		default:
			t.Fatalf("%s:%d: unexpected line %q", file, n+1, line)
		}
	}
	if state == 1 {
		t.Fatalf("%s: last command %q has no ----", file, cur.cmd)
	}
	if state == 2 {
		blocks = append(blocks, cur)
	}
	return blocks
}

func runGolden(t *testing.T, file string) {
	blocks := parseBlocks(t, file)
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	var out strings.Builder
	for i, b := range blocks {
		if name, pos, kv := args(t, b.cmd); name == "distribution" {
			edge = newGoldenEdge(t, origin, clk, pos, kv)
		}
		got := runCommand(t, edge, origin, clk, b)
		for _, c := range b.comments {
			out.WriteString(c + "\n")
		}
		out.WriteString(b.cmd + "\n")
		for _, l := range b.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range got {
			out.WriteString(l + "\n")
		}
		if i < len(blocks)-1 {
			out.WriteString("\n")
		}
		if !*rewrite && strings.Join(got, "\n") != strings.Join(b.output, "\n") {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, b.cmd, strings.Join(got, "\n"), strings.Join(b.output, "\n"))
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// args splits a command line into its name, positional words and key=value
// arguments; values may be double-quoted.
func args(t *testing.T, line string) (name string, pos []string, kv map[string]string) {
	kv = map[string]string{}
	var words []string
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimSpace(s) {
		i := strings.IndexByte(s, ' ')
		if eq := strings.IndexByte(s, '='); eq > 0 && s[0] != '/' && (i < 0 || eq < i) && len(s) > eq+1 && s[eq+1] == '"' {
			v, err := strconv.QuotedPrefix(s[eq+1:])
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			uq, _ := strconv.Unquote(v)
			words = append(words, s[:eq+1]+uq)
			s = s[eq+1+len(v):]
			continue
		}
		if i < 0 {
			i = len(s)
		}
		words = append(words, s[:i])
		s = s[i:]
	}
	for _, w := range words[1:] {
		if k, v, ok := strings.Cut(w, "="); ok && !strings.HasPrefix(w, "/") {
			kv[k] = v
		} else {
			pos = append(pos, w)
		}
	}
	return words[0], pos, kv
}

func headerLines(t *testing.T, lines []string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("header line %q has no colon", l)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}

// shownHeaders are printed after a response's status when present.
var shownHeaders = []string{"Content-Range", "ETag", "Last-Modified", "Cache-Control", "Vary"}

func runCommand(t *testing.T, edge *testEdge, origin *testOrigin, clk *clock, b block) []string {
	name, pos, kv := args(t, b.cmd)
	switch name {
	case "origin":
		obj := &object{header: headerLines(t, b.input), body: kv["body"], varyBody: kv["vary-body"]}
		if s := kv["status"]; s != "" {
			obj.status, _ = strconv.Atoi(s)
		}
		origin.set(pos[0], obj)
		return nil
	case "distribution":
		return nil
	case "origin-status":
		code, _ := strconv.Atoi(pos[0])
		origin.setStatus(code)
		return nil
	case "origin-kill":
		origin.kill()
		return nil
	case "invalidate":
		n, err := edge.cache.Invalidate(testHost, pos[0])
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		return []string{fmt.Sprintf("invalidated %d", n)}
	case "get":
		if at := kv["at"]; at != "" {
			d, err := time.ParseDuration(at)
			if err != nil {
				t.Fatalf("%q: %v", b.cmd, err)
			}
			clk.Set(epoch.Add(d))
		}
		method := http.MethodGet
		if m := kv["method"]; m != "" {
			method = m
		}
		res := edge.do(method, pos[0], headerLines(t, b.input))
		edge.cache.waitIdle(t)
		age := res.header.Get("Age")
		if age == "" {
			age = "-"
		}
		line := fmt.Sprintf("%d %s age=%s", res.status, res.header.Get("X-Cache"), age)
		for _, h := range shownHeaders {
			if v := res.header.Get(h); v != "" {
				line += fmt.Sprintf(" %s=%q", strings.ToLower(h), v)
			}
		}
		body := res.body
		if len(body) > 60 {
			body = body[:60] + "..."
		}
		out := []string{line + " body=" + strconv.Quote(body)}
		for _, l := range origin.takeLog() {
			out = append(out, "origin: "+l)
		}
		return out
	}
	t.Fatalf("unknown command %q", b.cmd)
	return nil
}

func newGoldenEdge(t *testing.T, origin *testOrigin, clk *clock, pos []string, kv map[string]string) *testEdge {
	d := testDist(origin)
	for _, p := range pos {
		switch p {
		case "allow-writes":
			d.AllowWrites = true
		default:
			t.Fatalf("distribution: unknown flag %q", p)
		}
	}
	for k, v := range kv {
		dur, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("distribution %s=%s: %v", k, v, err)
		}
		switch k {
		case "default-ttl":
			d.DefaultTTL = dur
		case "min-ttl":
			d.MinTTL = dur
		case "max-ttl":
			d.MaxTTL = dur
		default:
			t.Fatalf("distribution: unknown setting %q", k)
		}
	}
	return newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now})
}
