package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/topology"
)

func TestSubnetHost(t *testing.T) {
	tests := []struct {
		subnet  string
		i       int
		want    string
		wantErr string
	}{
		{subnet: "127.0.1", i: 1, want: "127.0.1.1"},
		{subnet: "127.200.7", i: 254, want: "127.200.7.254"},
		{subnet: "127.0.1", i: 255, wantErr: "room for 254"},
		{subnet: "10.0.1", i: 1, wantErr: "127.0.0.0/8"},
		{subnet: "127.0", i: 1, wantErr: "three octets"},
		{subnet: "127.0.1.1", i: 1, wantErr: "three octets"},
		{subnet: "127.0.256", i: 1, wantErr: "three octets"},
		{subnet: "127.00.1", i: 1, wantErr: "three octets"},
		{subnet: "127.-1.1", i: 1, wantErr: "three octets"},
		{subnet: "", i: 1, wantErr: "three octets"},
	}
	for _, tt := range tests {
		got, err := subnetHost(tt.subnet, tt.i)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("subnetHost(%q, %d) = %q, %v; want error containing %q", tt.subnet, tt.i, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("subnetHost(%q, %d) = %q, %v; want %q", tt.subnet, tt.i, got, err, tt.want)
		}
	}
}

func TestNewTopologyAppliesSubnet(t *testing.T) {
	dir := t.TempDir()
	topo, err := newTopology(Config{Regions: []string{"a", "b"}, Subnet: "127.42.3", WAN: topology.WANNone}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ref := range topo.Nodes() {
		got = append(got, ref.Region+"="+ref.Node.Host)
	}
	if want := []string{"a=127.42.3.1", "b=127.42.3.2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts = %v, want %v", got, want)
	}
	if topo.DataDir != dir {
		t.Errorf("data_dir = %q, want %q", topo.DataDir, dir)
	}
	if len(topo.WAN.Latency) != 0 {
		t.Errorf("wan none has latency %v", topo.WAN.Latency)
	}

	def, err := newTopology(Config{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := def.RegionNames(), topology.DefaultRegions(); !reflect.DeepEqual(got, want) {
		t.Errorf("default regions = %v, want %v", got, want)
	}
	if got := def.RTT("us-east", "ap-south"); got != 200*time.Millisecond {
		t.Errorf("default WAN us-east/ap-south RTT = %v, want 200ms (realistic)", got)
	}
	if got := def.Nodes()[0].Node.Host; got != "127.0.1.1" {
		t.Errorf("default first host = %s, want 127.0.1.1", got)
	}
}

func TestCheckResume(t *testing.T) {
	dir := t.TempDir()
	existing, err := newTopology(Config{Regions: []string{"us-east", "eu-west"}, Subnet: "127.9.9", WAN: topology.WANRealistic}, dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		dir     string
		wantErr string
	}{
		{name: "no flags", cfg: Config{}},
		{name: "same flags", cfg: Config{Regions: []string{"us-east", "eu-west"}, Subnet: "127.9.9", WAN: topology.WANRealistic}},
		{name: "other regions", cfg: Config{Regions: []string{"us-east"}}, wantErr: "--regions"},
		{name: "regions reordered", cfg: Config{Regions: []string{"eu-west", "us-east"}}, wantErr: "--regions"},
		{name: "other wan", cfg: Config{WAN: topology.WANNone}, wantErr: "--wan none"},
		{name: "other subnet", cfg: Config{Subnet: "127.0.1"}, wantErr: "--subnet 127.0.1"},
		{name: "moved directory", cfg: Config{}, dir: filepath.Join(dir, "elsewhere"), wantErr: "moved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dir
			if tt.dir != "" {
				d = tt.dir
			}
			err := checkResume(tt.cfg, d, existing)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkResume: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("checkResume: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "zero", cfg: Config{}},
		{name: "wan realistic", cfg: Config{WAN: "realistic"}},
		{name: "wan bogus", cfg: Config{WAN: "bogus"}, wantErr: `"bogus" is not known`},
		{name: "bad subnet", cfg: Config{Subnet: "192.168.1"}, wantErr: "127.0.0.0/8"},
		{name: "duplicate region", cfg: Config{Regions: []string{"a", "a"}}, wantErr: `"a" is given twice`},
		{name: "empty region", cfg: Config{Regions: []string{""}}, wantErr: "empty region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEndpointsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadEndpoints(dir); err == nil || !strings.Contains(err.Error(), "meridian up --data") {
		t.Errorf("ReadEndpoints on an empty dir: %v, want a hint to run meridian up", err)
	}
	topo, err := newTopology(Config{Subnet: "127.5.5"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := endpointsFor(topo)
	want.Nodes[1].PID = 4242
	if err := WriteEndpoints(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEndpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadEndpoints = %+v, want %+v", got, want)
	}
	if n := got.Nodes[0]; n.Name != "us-east-1" || n.Role != "region" || n.Admin != "http://127.5.5.1:9000" || n.API != "http://127.5.5.1:4566" || n.Peer != "127.5.5.1:7100" {
		t.Errorf("first endpoint = %+v", n)
	}
	// The wire format the issue fixes.
	raw, err := os.ReadFile(filepath.Join(dir, EndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	var generic struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"name", "role", "region", "pid", "api", "admin", "peer"} {
		if _, ok := generic.Nodes[0][field]; !ok {
			t.Errorf("endpoints.json node lacks %q: %s", field, raw)
		}
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries after WriteEndpoints, want just endpoints.json", len(entries))
	}
}

func TestCollect(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/status" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"region":"us-east","node":"us-east-1","healthy":true,"digest":"ab",
			"peers":[{"region":"eu-west","connected":true,"lag_seconds":0.25,"lag_records":7,"last_contact":"2026-01-01T00:00:00Z"}],
			"groups":[{"name":"shop","desired":2,"min":2,"max":6,"instances":[{"id":"shop-1","pid":7,"addr":"127.0.0.1:20000","healthy":true,"state":"healthy"}]}]}`))
	}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"region":"eu-west","node":"eu-west-1","healthy":false,"error":"storage is not writable","peers":[]}`))
	}))
	defer sick.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	eps := Endpoints{Nodes: []Endpoint{
		{Name: "us-east-1", Region: "us-east", Admin: healthy.URL, PID: 1},
		{Name: "eu-west-1", Region: "eu-west", Admin: sick.URL},
		{Name: "ap-south-1", Region: "ap-south", Admin: broken.URL},
		{Name: "sa-east-1", Region: "sa-east", Admin: goneURL},
	}}
	r := Collect(context.Background(), eps, nil)
	type row struct {
		name    string
		healthy bool
		errPart string
	}
	want := []row{
		{"us-east", true, ""},
		{"eu-west", false, "storage is not writable"},
		{"ap-south", false, "500"},
		{"sa-east", false, "connection refused"},
	}
	if len(r.Regions) != len(want) {
		t.Fatalf("Collect returned %d regions, want %d", len(r.Regions), len(want))
	}
	for i, w := range want {
		got := r.Regions[i]
		if got.Name != w.name || got.Healthy != w.healthy || !strings.Contains(got.Error, w.errPart) || (w.errPart == "" && got.Error != "") {
			t.Errorf("region %d = %s healthy=%v err=%q; want %s healthy=%v err containing %q", i, got.Name, got.Healthy, got.Error, w.name, w.healthy, w.errPart)
		}
	}
	if got, want := r.Regions[0].Peers, []PeerStatus{{Region: "eu-west", Connected: true, LagSeconds: 0.25, LagRecords: 7}}; !reflect.DeepEqual(got, want) {
		t.Errorf("us-east peers = %+v, want %+v", got, want)
	}
	wantGroups := []GroupStatus{{Name: "shop", Desired: 2, Min: 2, Max: 6,
		Instances: []InstanceStatus{{ID: "shop-1", PID: 7, Addr: "127.0.0.1:20000", Healthy: true, State: "healthy"}}}}
	if got := r.Regions[0].Groups; !reflect.DeepEqual(got, wantGroups) {
		t.Errorf("us-east groups = %+v, want %+v", got, wantGroups)
	}
	if r.Healthy() {
		t.Error("Healthy() = true with unhealthy regions")
	}
	if !(Report{Regions: r.Regions[:1]}).Healthy() {
		t.Error("Healthy() = false with one healthy region")
	}
	if (Report{}).Healthy() {
		t.Error("Healthy() = true with no regions")
	}

	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REGION", "us-east-1", "eu-west", "0.250", "storage is not writable", "sa-east-1 (sa-east): ", "GROUP", "shop-1(pid 7, 127.0.0.1:20000)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	// The JSON shape `meridian status --json` promises.
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var generic struct {
		Regions []struct {
			Name    *string `json:"name"`
			Healthy *bool   `json:"healthy"`
			Peers   []struct {
				Region     *string  `json:"region"`
				Connected  *bool    `json:"connected"`
				LagSeconds *float64 `json:"lag_seconds"`
				LagRecords *int     `json:"lag_records"`
			} `json:"peers"`
		} `json:"regions"`
	}
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	g := generic.Regions[0]
	if g.Name == nil || g.Healthy == nil || len(g.Peers) != 1 || g.Peers[0].Region == nil || g.Peers[0].Connected == nil || g.Peers[0].LagSeconds == nil || g.Peers[0].LagRecords == nil {
		t.Errorf("status JSON lacks a promised field: %s", data)
	}
	if !strings.Contains(string(data), `"groups":[]`) {
		t.Errorf("a region with no groups must print \"groups\":[] not null: %s", data)
	}
	if !strings.Contains(string(data), `"peers":[]`) {
		t.Errorf("a region with no peers must print \"peers\":[] not null: %s", data)
	}
}

// TestUpReportsCrashLoop starts Up with a stand-in binary that fails at
// once: Up must restart it, log each exit, and give up after ReadyTimeout
// with the node's log tail.
func TestUpReportsCrashLoop(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-meridian")
	script := "#!/bin/sh\necho \"fake region $*\"\necho 'boom: cannot open store' >&2\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	data := filepath.Join(dir, "data")
	start := time.Now()
	err := Up(context.Background(), Config{
		Dir:          data,
		Regions:      []string{"solo"},
		Subnet:       "127.251.251",
		Binary:       bin,
		Logger:       newTestLogger(&logs),
		ReadyTimeout: 1500 * time.Millisecond,
		MinBackoff:   50 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("Up succeeded with a binary that always fails")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Up took %s to give up, want about the 1.5s ready timeout", took)
	}
	for _, want := range []string{"not ready within 1.5s", "solo-1", "boom: cannot open store", "solo-1.log", "fake region region --config"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(logs.String(), "exited unexpectedly"); n < 2 {
		t.Errorf("logged %d unexpected exits, want a restart loop (>= 2):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "exit status 3") {
		t.Errorf("log lacks the exit status:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(data, TopologyFile)); err != nil {
		t.Errorf("topology not written: %v", err)
	}
	if fi, err := os.Stat(data); err != nil {
		t.Error(err)
	} else if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("new data directory has mode %v, want only its owner let in (0700)", perm)
	}
	for _, f := range []string{"ca.pem", "solo-1.pem", "solo-1-key.pem"} {
		if _, err := os.Stat(filepath.Join(data, "certs", f)); err != nil {
			t.Errorf("certificate file: %v", err)
		}
	}
}

func TestUpRefusesSecondUpOnSameDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	err = Up(context.Background(), Config{Dir: dir, Binary: "/bin/false"})
	if err == nil || !strings.Contains(err.Error(), "another `meridian up`") {
		t.Errorf("Up on a locked dir: %v, want a refusal naming the other up", err)
	}
}
