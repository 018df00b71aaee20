package dynamoapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzHandler sends arbitrary signed bodies to every operation of a live
// handler over a real engine: it never panics, never fails internally on
// client input, and always answers a JSON document (an error with __type
// unless it succeeded) whose X-Amz-Crc32 is right. Seeds are the golden
// transcripts' requests.
func FuzzHandler(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, part := range strings.Split(string(data), "\n====\n") {
			req, _, _ := strings.Cut(part, "\n----")
			head, body, _ := strings.Cut(req, "\n")
			_, target, _ := strings.Cut(head, " ")
			f.Add(strings.TrimPrefix(target, TargetPrefix), []byte(body))
		}
	}
	e := newEnv(f, envOptions{})
	// A table for the item operations to hit.
	setup := `{"TableName":"orders","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],"BillingMode":"PAY_PER_REQUEST"}`
	if rec := serveSigned(f, e.Handler, "CreateTable", []byte(setup)); rec.Code != http.StatusOK {
		f.Fatalf("creating the fuzz table: %d %s", rec.Code, rec.Body)
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		rec := serveSigned(t, e.Handler, op, body)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %q: internal error %s", op, body, rec.Body)
		}
		if got, want := rec.Header().Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(rec.Body.Bytes())), 10); got != want {
			t.Fatalf("X-Amz-Crc32 %s, want %s", got, want)
		}
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %v: %s", op, body, err, rec.Body)
		}
		if rec.Code != http.StatusOK {
			if typ, _ := doc["__type"].(string); typ == "" || rec.Header().Get("X-Amzn-ErrorType") == "" {
				t.Fatalf("%s %q: error %d without a type: %s", op, body, rec.Code, rec.Body)
			}
		}
	})
}

func serveSigned(t testing.TB, h http.Handler, op string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", TargetPrefix+op)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "dynamodb", "us-east", time.Now()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
