package main

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// TestBodiesMatchTheSDK checks that the baseline sends what the SDK sends:
// the same JSON and the same number of bytes, and that the SDK accepts the
// bare handler's answers.
func TestBodiesMatchTheSDK(t *testing.T) {
	sh := shape{table: "bench", itemBytes: 200}
	it := sh.newItem(rand.New(rand.NewPCG(1, 2)), keyOf(7, 42), 42)
	got := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		target := r.Header.Get("X-Amz-Target")
		got[target] = b
		w.Header().Set("Content-Type", amzJSON)
		if target == targetGet {
			_, _ = w.Write(getResponse(it))
			return
		}
		_, _ = w.Write(putResponse())
	}))
	defer srv.Close()
	c := newSDKClient(srv.URL, "us-east", benchKey(), sh, true)
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.put(ctx, it); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	if _, _, err := c.get(ctx, it.key); err != nil {
		t.Fatalf("GetItem against the bare answer: %v", err)
	}
	for _, tc := range []struct {
		target string
		want   []byte
	}{
		{targetPut, sh.putRequest(it)},
		{targetGet, sh.getRequest(it.key)},
	} {
		t.Run(tc.target, func(t *testing.T) {
			sdk := got[tc.target]
			if len(sdk) != len(tc.want) {
				t.Errorf("got %d bytes from the SDK, the baseline sends %d\nsdk:      %s\nbaseline: %s", len(sdk), len(tc.want), sdk, tc.want)
			}
			var a, b any
			if err := json.Unmarshal(sdk, &a); err != nil {
				t.Fatalf("SDK body %s: %v", sdk, err)
			}
			if err := json.Unmarshal(tc.want, &b); err != nil {
				t.Fatalf("baseline body %s: %v", tc.want, err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("bodies differ\nsdk:      %s\nbaseline: %s", sdk, tc.want)
			}
		})
	}
}

func TestItemSize(t *testing.T) {
	sh := shape{table: "bench", itemBytes: 200}
	it := sh.newItem(rand.New(rand.NewPCG(1, 2)), keyOf(63, 1234567), 1234567)
	size := len("pk") + len(it.key) + len("n") + len(it.n) + len("data") + len(it.data)
	if size != 200 {
		t.Errorf("got a %d-byte item, want 200", size)
	}
}

func TestKeyspaceDrawsOnlyAcknowledgedKeys(t *testing.T) {
	k := newKeyspace(4)
	k.acked = []uint64{3, 0, 1, 5}
	if total := k.seal(); total != 9 {
		t.Fatalf("seal: got %d keys, want 9", total)
	}
	want := map[string]bool{}
	for i, n := range k.acked {
		for s := range n {
			want[keyOf(i, s)] = true
		}
	}
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		key := k.random(rng)
		if !want[key] {
			t.Fatalf("drew %s, which was never acknowledged", key)
		}
		seen[key] = true
	}
	if len(seen) != len(want) {
		t.Errorf("1000 draws hit %d of the %d keys", len(seen), len(want))
	}
}
