package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
)

// roundTripFunc lets a test change a request after the SDK signed it.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// dynamoServer answers like DynamoDB: it verifies the signature, renders
// failures as JSON-protocol errors, and answers ListTables with no tables.
func dynamoServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		res, err := v.Verify(r)
		if err == nil {
			err = res.RequireService("dynamodb")
		}
		if err != nil {
			e := ForService(err, "dynamodb")
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"__type":  "com.amazonaws.dynamodb.v20120810#" + e.Code,
				"message": e.Message,
			})
			return
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("reading verified body: %v", err)
		}
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ListTables") {
			_, _ = io.WriteString(w, `{"TableNames":[]}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDynamoDBClient(t *testing.T) {
	tests := []struct {
		name     string
		akid     string
		secret   string
		now      time.Time // server clock; the SDK signs with the real clock
		tamper   func(r *http.Request)
		wantCode string
		wantMsg  string
	}{
		{name: "list tables", akid: testAKID, secret: testSecret},
		{name: "wrong secret", akid: testAKID, secret: "not-the-secret", wantCode: "InvalidSignatureException", wantMsg: msgInvalidSignature},
		{name: "unknown key", akid: "AKIDUNKNOWN", secret: testSecret, wantCode: "UnrecognizedClientException",
			wantMsg: "The security token included in the request is invalid."},
		{name: "clock skew over 15 minutes", akid: testAKID, secret: testSecret, now: time.Now().Add(20 * time.Minute),
			wantCode: "InvalidSignatureException", wantMsg: "Signature expired: "},
		{name: "tampered body", akid: testAKID, secret: testSecret, tamper: func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			b = bytes.Replace(b, []byte("{}"), []byte("{ }"), 1)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}, wantCode: "InvalidSignatureException"},
		{name: "tampered signed header", akid: testAKID, secret: testSecret, tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.DeleteTable")
		}, wantCode: "InvalidSignatureException"},
		{name: "missing authorization", akid: testAKID, secret: testSecret, tamper: func(r *http.Request) {
			r.Header.Del("Authorization")
		}, wantCode: "MissingAuthenticationTokenException", wantMsg: "Request is missing Authentication Token"},
		{name: "malformed authorization", akid: testAKID, secret: testSecret, tamper: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential=", "Credential ", 1))
		}, wantCode: "IncompleteSignatureException", wantMsg: "not a valid key=value pair (missing equal-sign) in Authorization header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			clock := newClock(now)
			if now.IsZero() {
				clock = nil
			}
			var cfg Config
			cfg.Lookup = keys(map[string]Credential{testAKID: {SecretAccessKey: testSecret, Principal: testPrincipal}})
			if clock != nil {
				cfg.Now = clock.Now
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv := dynamoServer(t, v)
			transport := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(transport.CloseIdleConnections)
			client := dynamodb.New(dynamodb.Options{
				Region:       "us-east-1",
				Credentials:  credentials.NewStaticCredentialsProvider(tc.akid, tc.secret, ""),
				BaseEndpoint: aws.String(srv.URL),
				Retryer:      aws.NopRetryer{},
				HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if tc.tamper != nil {
						tc.tamper(r)
					}
					return transport.RoundTrip(r)
				})},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("ListTables: got %v, want success", err)
				}
				if len(out.TableNames) != 0 {
					t.Fatalf("got tables %v, want none", out.TableNames)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("got error %v, want API error %s", err, tc.wantCode)
			}
			if ae.ErrorCode() != tc.wantCode {
				t.Fatalf("got code %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), tc.wantCode)
			}
			if !strings.Contains(ae.ErrorMessage(), tc.wantMsg) {
				t.Fatalf("got message %q, want it to contain %q", ae.ErrorMessage(), tc.wantMsg)
			}
		})
	}
}
