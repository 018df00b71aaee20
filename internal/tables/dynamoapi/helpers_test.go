package dynamoapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables"
)

const (
	testAKID   = "AKIAMERIDIANTEST0001"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// env is one region: a store, an engine, a Handler behind a real listener.
type env struct {
	URL     string
	Engine  *tables.Engine
	Handler *Handler
}

type envOptions struct {
	now       func() time.Time // engine clock
	sigNow    func() time.Time // verifier clock
	requestID func() string
}

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir(), Region: "us-east"})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	eng, err := tables.New(tables.Config{Regions: []string{"us-east", "eu-west", "ap-south"}, Now: opts.now, TTLInterval: 50 * time.Millisecond}, st)
	if err != nil {
		t.Fatalf("tables.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	v, err := sigv4.New(sigv4.Config{
		Now: opts.sigNow,
		Lookup: func(_ context.Context, id string) (sigv4.Credential, error) {
			if id != testAKID {
				return sigv4.Credential{}, fmt.Errorf("access key %s: %w", id, sigv4.ErrUnknownKey)
			}
			return sigv4.Credential{SecretAccessKey: testSecret, Principal: "admin"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Engine: eng, Verifier: v, Region: "us-east", RequestID: opts.requestID})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{URL: srv.URL, Engine: eng, Handler: h}
}

// client is a real SDK client for e, signing with secret.
func (e *env) client(t testing.TB, akid, secret string) *dynamodb.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east",
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: aws.String(e.URL),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: tr},
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
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
