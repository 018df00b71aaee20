package s3api

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	engine "github.com/meridian-platform/meridian/internal/s3"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// masks hide what differs between runs: timestamps and random ids.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`), "TIMESTAMP"},
	{regexp.MustCompile(`<UploadId>[A-Za-z0-9]+</UploadId>`), "<UploadId>UPLOAD-ID</UploadId>"},
}

// exchange sends one signed request and renders the response: status,
// the headers that matter, and the body.
func exchange(t *testing.T, e *env, method, path, body string, hdr map[string]string) string {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if err := engine.SignWith(testAKID, testSecret, "us-east-1")(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var out strings.Builder
	fmt.Fprintf(&out, "%s %s\n----\n%d\n", method, path, resp.StatusCode)
	var names []string
	for k := range resp.Header {
		switch k {
		case "Date", "Content-Length", "Last-Modified":
			continue
		}
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&out, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
	}
	out.WriteString("\n")
	out.Write(b)
	s := out.String()
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s + "\n"
}

func TestGolden(t *testing.T) {
	e := newEnv(t, envOptions{requestID: func() string { return "REQUESTID0000001" }})
	c := e.admin(t)
	mustBucket(t, c, "golden")
	put(t, c, "golden", "dir/a.txt", []byte("alpha"))
	put(t, c, "golden", "b.txt", []byte("bravo"))
	cases := []struct {
		name, method, path, body string
		hdr                      map[string]string
	}{
		{"no-such-key", "GET", "/golden/missing.txt", "", nil},
		{"no-such-bucket", "GET", "/nobucket?list-type=2", "", nil},
		{"malformed-xml", "PUT", "/golden?versioning", "<VersioningConfiguration><Status>Enabled", nil},
		{"wrong-root", "PUT", "/golden?versioning", "<Tagging/>", nil},
		{"bad-digest", "PUT", "/golden/c.txt", "charlie", map[string]string{"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}},
		{"invalid-range", "GET", "/golden/b.txt", "", map[string]string{"Range": "bytes=100-"}},
		{"not-implemented", "GET", "/golden?cors", "", nil},
		{"head-missing", "HEAD", "/golden/missing.txt", "", nil},
		{"list-objects-v2", "GET", "/golden?list-type=2&delimiter=%2F", "", nil},
		{"get-object", "GET", "/golden/b.txt", "", nil},
		{"create-upload", "POST", "/golden/big?uploads", "", nil},
		{"versioning-empty", "GET", "/golden?versioning", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, e, tc.method, tc.path, tc.body, tc.hdr)
			path := filepath.Join("testdata", "golden", tc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("response differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}
