package health_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/meridian-platform/meridian/internal/health"
)

// FuzzParseDocument feeds arbitrary peer responses to the verdict document
// parser: it must not panic, and whatever it accepts must survive a round
// trip through encoding unchanged and hold only valid verdicts.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(`{"checker":"edge-1","version":"dn4qi32myv40-3","verdicts":{"us-east":"healthy","eu-west":"unhealthy","ap-south":"unknown"}}`))
	f.Add([]byte(`{"checker":"c1","version":"1-0","verdicts":{}}`))
	f.Add([]byte(`{"checker":"c1","version":"1-0"}`))
	f.Add([]byte(`{"checker":"c1","version":"1-0","verdicts":{"x":"sick"}}`))
	f.Add([]byte(`{"checker":"c1","version":"1-0","verdicts":{"":"healthy"}}`))
	f.Add([]byte(`{"checker":"c1","version":"1-0","verdicts":null} {}`))
	f.Add([]byte(`{"checker":"","version":"1-0"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := health.ParseDocument(data)
		if err != nil {
			return
		}
		if d.Checker == "" || d.Version == "" || d.Verdicts == nil {
			t.Fatalf("accepted %q as %+v: want a checker, a version and a verdict map", data, d)
		}
		for id, v := range d.Verdicts {
			if id == "" || (v != health.Healthy && v != health.Unhealthy && v != health.Unknown) {
				t.Fatalf("accepted %q with verdict %q for check %q", data, v, id)
			}
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("encoding %+v: %v", d, err)
		}
		d2, err := health.ParseDocument(again)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip changed the document: %+v became %+v", d, d2)
		}
	})
}
