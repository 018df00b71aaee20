package topology

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/lb"
)

// exampleTopology is testdata/example.yaml as Parse must return it.
func exampleTopology() *Topology {
	return &Topology{
		Version: 1,
		Cluster: "meridian",
		DataDir: "./meridian-data",
		TLS:     TLS{Dir: "/etc/meridian/certs"},
		Secrets: Secrets{MasterKeyFile: "/etc/meridian/master.key"},
		Clock:   Clock{MaxOffset: 250 * time.Millisecond},
		Replication: Replication{
			BatchRecords:        256,
			LogRetentionRecords: 5000,
			LogRetention:        12 * time.Hour,
			AntiEntropyInterval: 30 * time.Second,
		},
		Health: Health{Interval: 2 * time.Second, Threshold: 5},
		Regions: []Region{
			{Name: "us-east", Nodes: []Node{
				{Name: "us-east-1", Host: "127.0.1.1", APIPort: 4566, LBPort: 8080, PeerPort: 7100, AdminPort: 9000},
				{Name: "us-east-2", Host: "::1", APIPort: 4567, LBPort: 8081, PeerPort: 7101, AdminPort: 9001},
			}},
			{Name: "eu-west", Nodes: []Node{
				{Name: "eu-west-1", Host: "127.0.1.2", APIPort: 4566, LBPort: 8080, PeerPort: 7100, AdminPort: 9000},
			}, Groups: []compute.GroupSpec{
				{
					Name: "shop", Command: "meridian", Args: []string{"shop", "serve"},
					Env: map[string]string{"SHOP_NOTE": "example"}, Min: 2, Max: 6, Desired: 2,
					HealthCheck: compute.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: 500 * time.Millisecond},
					Scaling:     compute.Scaling{Metric: compute.MetricInFlight, Target: 10, WarmUp: 5 * time.Second, Cooldown: 20 * time.Second},
					DrainDelay:  5 * time.Second,
				},
				{Name: "api", Command: "/usr/local/bin/api", Args: []string{"--listen", "${ADDR}"}},
			}, LoadBalancer: LoadBalancer{
				Algorithm:    lb.LeastOutstanding,
				DefaultGroup: "shop",
				Rules:        []Rule{{Host: "api.example.com", Group: "api"}, {PathPrefix: "/", Group: "shop"}},
			}},
		},
		WAN: WAN{Latency: []Link{{A: "us-east", B: "eu-west", RTT: 70 * time.Millisecond}}},
	}
}

func TestLoadExample(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := exampleTopology(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(example.yaml):\ngot  %+v\nwant %+v", got, want)
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	got, err := Parse([]byte(`
version: 1
regions:
  - name: us-east
    nodes:
      - name: us-east-1
        host: 127.0.1.1
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Topology{
		Version:     1,
		Cluster:     "meridian",
		DataDir:     "./meridian-data",
		TLS:         TLS{Dir: "meridian-data/certs"},
		Secrets:     Secrets{MasterKeyFile: "meridian-data/keys/master.key"},
		Clock:       Clock{MaxOffset: 500 * time.Millisecond},
		Replication: Replication{BatchRecords: 512, LogRetentionRecords: 1000000, LogRetention: 24 * time.Hour, AntiEntropyInterval: 10 * time.Second},
		Health:      Health{Interval: time.Second, Threshold: 3},
		Regions: []Region{{Name: "us-east", Nodes: []Node{
			{Name: "us-east-1", Host: "127.0.1.1", APIPort: 4566, LBPort: 8080, PeerPort: 7100, AdminPort: 9000},
		}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	const regions = "regions: [{name: us-east, nodes: [{name: us-east-1, host: 127.0.1.1}]}]\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "typo at top level",
			in:   "version: 1\nreplcation: {batch_records: 1}\n" + regions,
			want: `line 2: unknown field "replcation" (known fields here: version, cluster, data_dir, tls, secrets, clock, replication, health, regions, edges, clients, dns, cdn, wan, chaos)`,
		},
		{
			name: "typo in a node",
			in:   "version: 1\nregions:\n  - name: us-east\n    nodes:\n      - name: us-east-1\n        host: 127.0.1.1\n        api_prot: 1\n",
			want: `line 7: unknown field "api_prot" (known fields here: name, host, api_port, lb_port, peer_port, admin_port)`,
		},
		{
			name: "two typos",
			in:   "version: 1\nclok: {}\nhealth: {intervl: 1s}\n" + regions,
			want: "line 2: unknown field \"clok\" (known fields here: version, cluster, data_dir, tls, secrets, clock, replication, health, regions, edges, clients, dns, cdn, wan, chaos)\n" +
				"line 3: unknown field \"intervl\" (known fields here: interval, threshold, checks)",
		},
		{
			name: "duration without unit",
			in:   "version: 1\nclock: {max_offset: 500}\n" + regions,
			want: "line 2: cannot unmarshal !!int `500` into time.Duration (write durations with a unit, such as \"500ms\" or \"24h\")",
		},
		{
			name: "not a duration",
			in:   "version: 1\nhealth: {interval: soon}\n" + regions,
			want: "line 2: cannot unmarshal !!str `soon` into time.Duration (write durations with a unit, such as \"500ms\" or \"24h\")",
		},
		{
			name: "port that is not a number",
			in:   "version: 1\nregions: [{name: a, nodes: [{name: a-1, host: 127.0.0.1, api_port: http}]}]\n",
			want: "line 2: cannot unmarshal !!str `http` into int",
		},
		{
			name: "empty",
			in:   "",
			want: "topology is empty",
		},
		{
			name: "comments only",
			in:   "# nothing here\n",
			want: "topology is empty",
		},
		{
			name: "two documents",
			in:   "version: 1\n" + regions + "---\nversion: 1\n",
			want: "line 3: topology holds more than one YAML document",
		},
		{
			name: "bad syntax",
			in:   "version: 1\nregions: [\n",
			want: "parsing topology: yaml: line 2: did not find expected node content",
		},
		{
			name: "not a mapping",
			in:   "- version: 1\n",
			want: "line 1: cannot unmarshal !!seq into topology.Topology",
		},
		{
			name: "valid YAML, invalid topology",
			in:   "version: 1\nregions: [{name: us-east, nodes: [{name: us-east-1, host: 127.0.1}]}]\n",
			want: `regions[0].nodes[0].host: "127.0.1" is not an IP address`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse: got %+v, nil error want error %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse error:\ngot  %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 2\nregions: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "missing.yaml"), "reading topology: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{"invalid content", bad, bad + ": version: 2 is not supported (the only known version is 1)\nregions: at least one region is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load:\ngot  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	realistic, err := Default(nil, "/var/lib/meridian", WANRealistic)
	if err != nil {
		t.Fatal(err)
	}
	for name, top := range map[string]*Topology{
		"example":           exampleTopology(),
		"default realistic": realistic,
	} {
		t.Run(name, func(t *testing.T) {
			data, err := top.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse(Marshal()): %v\n%s", err, data)
			}
			if !reflect.DeepEqual(got, top) {
				t.Errorf("Parse(Marshal()):\ngot  %+v\nwant %+v\nyaml:\n%s", got, top, data)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestMarshalIsReadable pins what `meridian up` writes as its topology (two
// regions, realistic WAN): an operator reads and edits this file.
func TestMarshalIsReadable(t *testing.T) {
	top, err := Default([]string{"us-east", "eu-west"}, "", WANRealistic)
	if err != nil {
		t.Fatal(err)
	}
	got, err := top.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "default-two-regions.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Marshal:\ngot\n%s\nwant (%s, -update rewrites it)\n%s", got, golden, want)
	}
}

func TestLookups(t *testing.T) {
	top := exampleTopology()

	t.Run("Node", func(t *testing.T) {
		r, n, ok := top.Node("us-east-2")
		if !ok || r.Name != "us-east" || n.Host != "::1" {
			t.Errorf(`Node("us-east-2"): got region %q node %+v ok %v want us-east, host ::1, true`, r.Name, n, ok)
		}
		if _, _, ok := top.Node("ap-south-1"); ok {
			t.Error(`Node("ap-south-1"): got ok want not found`)
		}
	})
	t.Run("Region", func(t *testing.T) {
		if r, ok := top.Region("eu-west"); !ok || len(r.Nodes) != 1 {
			t.Errorf(`Region("eu-west"): got %+v, %v want the region with one node`, r, ok)
		}
		if _, ok := top.Region("nowhere"); ok {
			t.Error(`Region("nowhere"): got ok want not found`)
		}
	})
	t.Run("RegionNames", func(t *testing.T) {
		if got, want := top.RegionNames(), []string{"us-east", "eu-west"}; !slices.Equal(got, want) {
			t.Errorf("got %v want %v", got, want)
		}
	})
	t.Run("Nodes", func(t *testing.T) {
		var got []string
		for _, ref := range top.Nodes() {
			got = append(got, ref.Region+"/"+ref.Node.Name)
		}
		want := []string{"us-east/us-east-1", "us-east/us-east-2", "eu-west/eu-west-1"}
		if !slices.Equal(got, want) {
			t.Errorf("got %v want %v", got, want)
		}
	})
	t.Run("RTT", func(t *testing.T) {
		tests := []struct {
			a, b string
			want time.Duration
		}{
			{"us-east", "eu-west", 70 * time.Millisecond},
			{"eu-west", "us-east", 70 * time.Millisecond},
			{"us-east", "us-east", 0},
			{"us-east", "ap-south", 0},
		}
		for _, tt := range tests {
			if got := top.RTT(tt.a, tt.b); got != tt.want {
				t.Errorf("RTT(%q, %q): got %v want %v", tt.a, tt.b, got, tt.want)
			}
		}
	})
	t.Run("addresses", func(t *testing.T) {
		_, v4, _ := top.Node("us-east-1")
		_, v6, _ := top.Node("us-east-2")
		tests := []struct{ name, got, want string }{
			{"APIAddr v4", v4.APIAddr(), "127.0.1.1:4566"},
			{"LBAddr v4", v4.LBAddr(), "127.0.1.1:8080"},
			{"PeerAddr v4", v4.PeerAddr(), "127.0.1.1:7100"},
			{"AdminAddr v4", v4.AdminAddr(), "127.0.1.1:9000"},
			{"APIAddr v6", v6.APIAddr(), "[::1]:4567"},
			{"LBAddr v6", v6.LBAddr(), "[::1]:8081"},
			{"PeerAddr v6", v6.PeerAddr(), "[::1]:7101"},
			{"AdminAddr v6", v6.AdminAddr(), "[::1]:9001"},
		}
		for _, tt := range tests {
			if tt.got != tt.want {
				t.Errorf("%s: got %q want %q", tt.name, tt.got, tt.want)
			}
		}
	})
	t.Run("NodeDataDir", func(t *testing.T) {
		if got, want := top.NodeDataDir("eu-west-1"), filepath.Join("meridian-data", "eu-west-1"); got != want {
			t.Errorf("got %q want %q", got, want)
		}
	})
}

func TestDefault(t *testing.T) {
	top, err := Default(nil, "", "")
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	if got, want := top.RegionNames(), []string{"us-east", "eu-west", "ap-south"}; !slices.Equal(got, want) {
		t.Errorf("regions: got %v want %v", got, want)
	}
	wantNodes := []NodeRef{
		{"us-east", Node{Name: "us-east-1", Host: "127.0.1.1", APIPort: 4566, LBPort: 8080, PeerPort: 7100, AdminPort: 9000}},
		{"eu-west", Node{Name: "eu-west-1", Host: "127.0.1.2", APIPort: 4566, LBPort: 8080, PeerPort: 7100, AdminPort: 9000}},
		{"ap-south", Node{Name: "ap-south-1", Host: "127.0.1.3", APIPort: 4566, LBPort: 8080, PeerPort: 7100, AdminPort: 9000}},
	}
	if got := top.Nodes(); !reflect.DeepEqual(got, wantNodes) {
		t.Errorf("nodes:\ngot  %+v\nwant %+v", got, wantNodes)
	}
	if top.DataDir != DefaultDataDir || top.Version != 1 || top.Cluster != "meridian" {
		t.Errorf("got data_dir %q version %d cluster %q want %q, 1, meridian", top.DataDir, top.Version, top.Cluster, DefaultDataDir)
	}
	if len(top.WAN.Latency) != 0 {
		t.Errorf("wan with profile \"\": got %v want no latency", top.WAN.Latency)
	}
}

func TestDefaultWAN(t *testing.T) {
	top, err := Default([]string{"us-east", "eu-west", "ap-south", "sa-east"}, "/data", WANRealistic)
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	tests := []struct {
		a, b string
		want time.Duration
	}{
		{"us-east", "eu-west", 70 * time.Millisecond},
		{"eu-west", "us-east", 70 * time.Millisecond},
		{"us-east", "ap-south", 200 * time.Millisecond},
		{"eu-west", "ap-south", 120 * time.Millisecond},
		{"ap-south", "eu-west", 120 * time.Millisecond},
		{"sa-east", "us-east", 100 * time.Millisecond},
		{"ap-south", "sa-east", 100 * time.Millisecond},
		{"us-east", "us-east", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			if got := top.RTT(tt.a, tt.b); got != tt.want {
				t.Errorf("RTT: got %v want %v", got, tt.want)
			}
		})
	}
	// 6 region pairs, and each of the 4 edges to each of the 4 regions.
	if got := len(top.WAN.Latency); got != 6+16 {
		t.Errorf("links among 4 regions and 4 edges: got %d want 22", got)
	}
	if got, want := top.RTT("edge-1", "us-east"), 10*time.Millisecond; got != want {
		t.Errorf("RTT edge-1/us-east: got %v want %v", got, want)
	}
	if got, want := top.RTT("ap-south", "edge-1"), 200*time.Millisecond; got != want {
		t.Errorf("RTT ap-south/edge-1: got %v want %v", got, want)
	}
	if got, want := top.NodeDataDir("sa-east-1"), "/data/sa-east-1"; got != want {
		t.Errorf("NodeDataDir: got %q want %q", got, want)
	}
	if got, want := top.TLS.Dir, "/data/certs"; got != want {
		t.Errorf("tls.dir: got %q want %q", got, want)
	}

	none, err := Default(nil, "", WANNone)
	if err != nil {
		t.Fatalf("Default none: %v", err)
	}
	if got := none.RTT("us-east", "ap-south"); got != 0 {
		t.Errorf("RTT with wan none: got %v want 0", got)
	}
}

func TestDefaultErrors(t *testing.T) {
	many := make([]string, 255)
	for i := range many {
		many[i] = "r" + strings.Repeat("x", i%10) + string(rune('a'+i%26)) + "-" + string(rune('a'+i/26))
	}
	tests := []struct {
		name    string
		regions []string
		wan     string
		want    string
	}{
		{"unknown wan", nil, "fast", `wan profile "fast" is not known; use "none" or "realistic"`},
		{"bad region name", []string{"us-east", "EU"}, "", `default topology for regions ["us-east" "EU"]: regions[1].name: "EU" is not a valid name: use lowercase letters, digits and '-', at most 63 characters, not starting or ending with '-'` + "\n" + `regions[1].nodes[0].name: "EU-1" is not a valid name: use lowercase letters, digits and '-', at most 63 characters, not starting or ending with '-'`},
		{"duplicate region", []string{"us-east", "us-east"}, "", `default topology for regions ["us-east" "us-east"]: regions[1].name: "us-east" is already the name of regions[0]` + "\n" + `regions[1].nodes[0].name: "us-east-1" is already the name of regions[0].nodes[0]` + "\n" + `dns: zone "meridian.test": record set us-east.meridian.test. A is configured twice`},
		{"too many regions", many, "", "255 regions do not fit on 127.0.1.1-127.0.1.254; give at most 254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Default(tt.regions, "", tt.wan)
			if err == nil {
				t.Fatalf("Default: got %+v, nil error want %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Default error:\ngot  %q\nwant %q", err, tt.want)
			}
		})
	}
}
