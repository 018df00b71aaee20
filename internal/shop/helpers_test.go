package shop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/meridian-platform/meridian/internal/awsapi"
	"github.com/meridian-platform/meridian/internal/testcluster"
)

// instance is one running shop in a test.
type instance struct {
	URL    string
	Region string
	Name   string
}

func newCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a two-region Meridian cluster")
	}
	return testcluster.New(t, testcluster.Options{Regions: []string{"us-east", "eu-west"}, API: awsapi.New})
}

func testConfig(t *testing.T, c *testcluster.Cluster, region, name string) Config {
	ak := c.Credentials()
	return Config{
		Region:      region,
		Instance:    name,
		Endpoint:    c.APIURL(region),
		Credentials: credentials.NewStaticCredentialsProvider(ak.ID, ak.Secret, ""),
		Settle:      100 * time.Millisecond,
		HealthTTL:   50 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// startShop serves a shop on a loopback port until the test ends.
func startShop(t *testing.T, cfg Config) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shop %s stopped with %v", cfg.Instance, err)
		}
	})
	return &instance{URL: "http://" + ln.Addr().String(), Region: cfg.Region, Name: cfg.Instance}
}

// await polls cond every 20ms until it holds or the timeout passes.
func await(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, state)
		}
		<-tick.C
	}
}

func awaitHealthy(t *testing.T, in *instance) {
	t.Helper()
	await(t, 30*time.Second, in.Name+" healthy", func() (bool, string) {
		code, body := get(t, http.DefaultClient, in.URL+"/healthz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}

// browser is an HTTP client with its own cookie jar: one shopper.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second}
}

func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b)
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, body := do(t, c, http.MethodGet, url, "") //nolint:bodyclose // do closes the body before returning
	return resp.StatusCode, body
}

// call makes a JSON API call, checks the status and decodes the answer
// into out (when not nil).
func call(t *testing.T, c *http.Client, method, url, body string, want int, out any) {
	t.Helper()
	resp, b := do(t, c, method, url, body) //nolint:bodyclose // do closes the body before returning
	if resp.StatusCode != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, b, err)
		}
	}
}

func dynamoClient(c *testcluster.Cluster, region string) *dynamodb.Client {
	ak := c.Credentials()
	return dynamodb.New(dynamodb.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(ak.ID, ak.Secret, ""),
		BaseEndpoint: aws.String(c.APIURL(region)),
	})
}
