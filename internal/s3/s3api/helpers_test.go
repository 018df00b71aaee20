package s3api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	engine "github.com/meridian-platform/meridian/internal/s3"
	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/store"
)

const (
	testAKID   = "AKIAMERIDIANTEST0001"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// env is one region: a store, an engine, a Handler behind a real listener.
type env struct {
	URL    string
	Engine *engine.Engine
	Store  *store.Store
	srv    *httptest.Server
	dir    string
}

type envOptions struct {
	tls         bool
	requestID   func() string
	minPartSize int64
	maxObject   int64
	// observe sees every request before the handler.
	observe func(*http.Request)
}

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir(), Region: "us-east"})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	dir := t.TempDir()
	eng, err := engine.New(engine.Config{Dir: dir, Region: "us-east", MinPartSize: opts.minPartSize, MaxObjectSize: opts.maxObject, PollInterval: 50 * time.Millisecond}, st)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	st.SetIndexer(eng)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	v, err := sigv4.New(sigv4.Config{Lookup: func(_ context.Context, id string) (sigv4.Credential, error) {
		if id != testAKID {
			return sigv4.Credential{}, fmt.Errorf("access key %s: %w", id, sigv4.ErrUnknownKey)
		}
		return sigv4.Credential{SecretAccessKey: testSecret, Principal: "admin"}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Engine: eng, Verifier: v, Region: "us-east", RequestID: opts.requestID})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var hh http.Handler = h
	if opts.observe != nil {
		hh = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { opts.observe(r); h.ServeHTTP(w, r) })
	}
	srv := httptest.NewUnstartedServer(hh)
	if opts.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &env{URL: srv.URL, Engine: eng, Store: st, srv: srv, dir: dir}
}

// client is a real SDK client for e, with the SDK's default checksum
// behaviour.
func (e *env) client(t testing.TB, akid, secret string, opts ...func(*s3.Options)) *s3.Client {
	t.Helper()
	var tr *http.Transport
	if e.srv.TLS != nil {
		tr = e.srv.Client().Transport.(*http.Transport).Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.Cleanup(tr.CloseIdleConnections)
	o := s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: aws.String(e.URL),
		UsePathStyle: true,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: tr},
	}
	for _, f := range opts {
		f(&o)
	}
	return s3.New(o)
}

func (e *env) admin(t testing.TB, opts ...func(*s3.Options)) *s3.Client {
	return e.client(t, testAKID, testSecret, opts...)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantAPIError asserts that err is an API error with code and a message
// containing msg.
func wantAPIError(t testing.TB, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("got %s: %q\nwant %s containing %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

func mustBucket(t testing.TB, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(ctxT(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
}

func put(t testing.TB, c *s3.Client, bucket, key string, data []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
	return out
}

func get(t testing.TB, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("reading %s/%s: %v", bucket, key, err)
	}
	return b
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countObjectFiles(t testing.TB, e *env) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(filepath.Join(e.dir, "objects"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// assertNoStrayFiles checks that no temporary body or intent is left.
func assertNoStrayFiles(t testing.TB, e *env) {
	t.Helper()
	for _, d := range []string{"tmp"} {
		ents, err := os.ReadDir(filepath.Join(e.dir, d))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Fatalf("%d files left in %s", len(ents), d)
		}
	}
}
