package dynamoapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Golden files are transcripts of wire exchanges, run in order against one
// fresh region whose clock and request IDs are fixed:
//
//	POST DynamoDB_20120810.PutItem        (POST-unsigned: no Authorization)
//	{"TableName": ...}                    request body, as sent
//	----
//	400 ValidationException               status and x-amzn-ErrorType
//	{"__type": ...}                       response body, byte for byte
//
// Exchanges are separated by a line "====". Response parts are rewritten by
// go test -run TestGolden -update.

var tableIDPattern = regexp.MustCompile(`"TableId":"[^"]*"`)

type exchange struct {
	target   string
	unsigned bool
	body     string
	response string
}

func parseGolden(t *testing.T, data string) []exchange {
	t.Helper()
	var out []exchange
	for i, part := range strings.Split(data, "\n====\n") {
		req, resp, ok := strings.Cut(part, "\n----")
		if !ok {
			t.Fatalf("exchange %d has no ---- separator", i+1)
		}
		head, body, _ := strings.Cut(req, "\n")
		method, target, _ := strings.Cut(head, " ")
		out = append(out, exchange{target: target, unsigned: method == "POST-unsigned", body: body, response: strings.TrimSuffix(strings.TrimPrefix(resp, "\n"), "\n")})
	}
	return out
}

func formatGolden(xs []exchange) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteString("\n====\n")
		}
		method := "POST"
		if x.unsigned {
			method = "POST-unsigned"
		}
		b.WriteString(method + " " + x.target + "\n" + x.body + "\n----\n" + x.response)
	}
	return b.String() + "\n"
}

// send signs and sends one exchange's request, checks the headers every
// response carries, and returns the response as the golden file shows it.
func send(t *testing.T, url string, x exchange, now time.Time) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(x.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if x.target != "" {
		req.Header.Set("X-Amz-Target", x.target)
	}
	if !x.unsigned {
		sum := sha256.Sum256([]byte(x.body))
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "dynamodb", "us-east", now); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); got != want {
		t.Errorf("%s: X-Amz-Crc32 %q, want %q", x.target, got, want)
	}
	if got := resp.Header.Get("X-Amzn-RequestId"); got != "TESTREQUESTID" {
		t.Errorf("%s: x-amzn-RequestId %q, want TESTREQUESTID", x.target, got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		t.Errorf("%s: Content-Type %q", x.target, got)
	}
	status := strconv.Itoa(resp.StatusCode)
	if et := resp.Header.Get("X-Amzn-ErrorType"); et != "" {
		status += " " + et
	}
	return status + "\n" + tableIDPattern.ReplaceAllString(string(body), `"TableId":"<table id>"`)
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	clock := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, envOptions{
				now:       func() time.Time { return clock },
				requestID: func() string { return "TESTREQUESTID" },
			})
			xs := parseGolden(t, string(data))
			for i := range xs {
				got := send(t, e.URL, xs[i], time.Now())
				if got != xs[i].response && !*update {
					t.Errorf("%s exchange %d (%s %.60s):\ngot\n%s\nwant\n%s", file, i+1, xs[i].target, xs[i].body, got, xs[i].response)
				}
				xs[i].response = got
			}
			if *update {
				if out := formatGolden(xs); !bytes.Equal([]byte(out), data) {
					if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}
