package chaos

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPut feeds arbitrary bodies to PUT /admin/chaos: the handler answers
// 200 or 400, never panics, and a refused body leaves the state alone.
func FuzzPut(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"partitions":[{"from":"east","to":"edge-1","one_way":true}]}`)
	f.Add(`{"latency":[{"a":"east","b":"west","rtt":"150ms"}],"stopped":["west-1"]}`)
	f.Add(`{"latency":[{"a":"east","b":"west","rtt":"-1s"}]}`)
	f.Add(`{"partitions":null,"x":1}`)
	top, _ := deployment(f)
	fab, err := NewFabric(top, "east-1", nil)
	if err != nil {
		f.Fatal(err)
	}
	h := fab.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		before := fab.State()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/admin/chaos", strings.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			after := fab.State()
			if len(after.Partitions) != len(before.Partitions) || len(after.Latency) != len(before.Latency) {
				t.Fatalf("refused body %q changed the state", body)
			}
		default:
			t.Fatalf("PUT %q: status %d", body, rec.Code)
		}
	})
}
