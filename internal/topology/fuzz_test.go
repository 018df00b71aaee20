package topology

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics on any input, and that whatever
// it accepts survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("version: 1\nregions: [{name: a, nodes: [{name: a-1, host: 10.0.0.1}]}]\n"))
	f.Add([]byte("version: 1\ncluster: '0x1f'\ndata_dir: 'null'\ntls: {dir: ~}\nregions: [{name: a, nodes: [{name: a-1, host: '::ffff:1.2.3.4', api_port: 1e3}]}]\nwan: {latency: []}\n"))
	f.Add([]byte("version: 1\ndata_dir: \" a \\n\\tb \\n\"\ntls: {dir: \"#x: y\"}\nregions: [{name: a, nodes: [{name: a-1, host: 10.0.0.1}]}]\n"))
	f.Add([]byte("version: 1\nreplcation: {}\n"))
	f.Add([]byte("version: 1\nregions: &r [{name: a, nodes: [{name: a-1, host: 10.0.0.1}]}]\nwan: {latency: [{a: a, b: a, rtt: 1h}]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n...\n---\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := Parse(data)
		if err != nil {
			return
		}
		out, err := top.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed topology: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		if !reflect.DeepEqual(again, top) {
			t.Fatalf("Parse(Marshal()) differs:\ngot  %+v\nwant %+v\nmarshalled:\n%s", again, top, out)
		}
	})
}

// FuzzParseGroup checks that ParseGroup, which reads specs sent to the
// admin API, never panics and accepts only specs that validate.
func FuzzParseGroup(f *testing.F) {
	f.Add([]byte("name: shop\ncommand: meridian\nargs: [shop, serve]\nmin: 2\nmax: 6\ndesired: 2\n"))
	f.Add([]byte(`{"name":"shop","command":"x","env":{"A":"b"},"health_check":{"interval":"1s"},"scaling":{"metric":"rps","target":5}}`))
	f.Add([]byte("name: shop\ncommand: x\ndrain_delay: 5000000000\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGroup(data)
		if err != nil {
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("ParseGroup accepted a spec that does not validate: %v\ninput:\n%s", err, data)
		}
	})
}
