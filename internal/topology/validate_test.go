package topology

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/health"
)

func TestValidateAcceptsExample(t *testing.T) {
	if err := exampleTopology().Validate(); err != nil {
		t.Fatalf("Validate(example): got %v want nil", err)
	}
}

func TestValidateAcceptsZeroDefaults(t *testing.T) {
	top := &Topology{Version: 1, Regions: []Region{{Name: "a", Nodes: []Node{{Name: "a-1", Host: "10.0.0.1"}}}}}
	if err := top.Validate(); err != nil {
		t.Fatalf("Validate before SetDefaults: got %v want nil", err)
	}
}

func TestValidateErrors(t *testing.T) {
	const badName = "is not a valid name: use lowercase letters, digits and '-', at most 63 characters, not starting or ending with '-'"
	tests := []struct {
		name   string
		mutate func(*Topology)
		want   string
	}{
		{"missing version", func(t *Topology) { t.Version = 0 },
			"version: required (this format is version 1)"},
		{"unknown version", func(t *Topology) { t.Version = 2 },
			"version: 2 is not supported (the only known version is 1)"},
		{"bad cluster name", func(t *Topology) { t.Cluster = "Meridian Prod" },
			`cluster: "Meridian Prod" ` + badName},
		{"no regions", func(t *Topology) { t.Regions = nil; t.WAN.Latency = nil },
			"regions: at least one region is required"},
		{"region without nodes", func(t *Topology) { t.Regions[1].Nodes = nil },
			"regions[1].nodes: at least one node is required"},
		{"region without name", func(t *Topology) { t.Regions[0].Name = ""; t.WAN.Latency = nil },
			"regions[0].name: required"},
		{"region name with underscore", func(t *Topology) { t.Regions[0].Name = "us_east"; t.WAN.Latency = nil },
			`regions[0].name: "us_east" ` + badName},
		{"region name with capitals", func(t *Topology) { t.Regions[1].Name = "EU-West"; t.WAN.Latency = nil },
			`regions[1].name: "EU-West" ` + badName},
		{"region name ending in dash", func(t *Topology) { t.Regions[1].Name = "eu-"; t.WAN.Latency = nil },
			`regions[1].name: "eu-" ` + badName},
		{"region name too long", func(t *Topology) { t.Regions[1].Name = strings.Repeat("e", 64); t.WAN.Latency = nil },
			`regions[1].name: "` + strings.Repeat("e", 64) + `" ` + badName},
		{"duplicate region", func(t *Topology) { t.Regions[1].Name = "us-east"; t.WAN.Latency = nil },
			`regions[1].name: "us-east" is already the name of regions[0]`},
		{"node without name", func(t *Topology) { t.Regions[0].Nodes[1].Name = "" },
			"regions[0].nodes[1].name: required"},
		{"node name with dot", func(t *Topology) { t.Regions[0].Nodes[1].Name = "us-east.2" },
			`regions[0].nodes[1].name: "us-east.2" ` + badName},
		{"duplicate node in another region", func(t *Topology) { t.Regions[1].Nodes[0].Name = "us-east-1" },
			`regions[1].nodes[0].name: "us-east-1" is already the name of regions[0].nodes[0]`},
		{"duplicate node in the same region", func(t *Topology) { t.Regions[0].Nodes[1].Name = "us-east-1" },
			`regions[0].nodes[1].name: "us-east-1" is already the name of regions[0].nodes[0]`},
		{"node named ca", func(t *Topology) { t.Regions[1].Nodes[0].Name = "ca" },
			`regions[1].nodes[0].name: "ca" is reserved: the TLS directory keeps the cluster CA in ca.pem`},
		{"missing host", func(t *Topology) { t.Regions[1].Nodes[0].Host = "" },
			"regions[1].nodes[0].host: required"},
		{"truncated IP", func(t *Topology) { t.Regions[1].Nodes[0].Host = "127.0.1" },
			`regions[1].nodes[0].host: "127.0.1" is not an IP address`},
		{"host name instead of IP", func(t *Topology) { t.Regions[1].Nodes[0].Host = "node.example.com" },
			`regions[1].nodes[0].host: "node.example.com" is not an IP address`},
		{"host with port", func(t *Topology) { t.Regions[1].Nodes[0].Host = "127.0.1.2:80" },
			`regions[1].nodes[0].host: "127.0.1.2:80" is not an IP address`},
		{"unspecified host", func(t *Topology) { t.Regions[1].Nodes[0].Host = "0.0.0.0" },
			`regions[1].nodes[0].host: "0.0.0.0" is the unspecified address; give the address peers reach this node at`},
		{"port too large", func(t *Topology) { t.Regions[0].Nodes[0].APIPort = 70000 },
			"regions[0].nodes[0].api_port: 70000 is out of range (1-65535)"},
		{"negative port", func(t *Topology) { t.Regions[1].Nodes[0].LBPort = -1 },
			"regions[1].nodes[0].lb_port: -1 is out of range (1-65535)"},
		{"peer port out of range", func(t *Topology) { t.Regions[1].Nodes[0].PeerPort = 65536 },
			"regions[1].nodes[0].peer_port: 65536 is out of range (1-65535)"},
		{"admin port out of range", func(t *Topology) { t.Regions[1].Nodes[0].AdminPort = -9000 },
			"regions[1].nodes[0].admin_port: -9000 is out of range (1-65535)"},
		{"two nodes on one host and port", func(t *Topology) {
			t.Regions[1].Nodes[0] = Node{Name: "eu-west-1", Host: "127.0.1.1", APIPort: 5000, LBPort: 5001, PeerPort: 7100, AdminPort: 5003}
		}, "regions[1].nodes[0].peer_port: 127.0.1.1:7100 is already used by regions[0].nodes[0].peer_port"},
		{"two ports of one node equal", func(t *Topology) { t.Regions[0].Nodes[0].AdminPort = 4566 },
			"regions[0].nodes[0].admin_port: 127.0.1.1:4566 is already used by regions[0].nodes[0].api_port"},
		{"defaulted port clashes", func(t *Topology) { t.Regions[0].Nodes[0].LBPort = 0; t.Regions[0].Nodes[0].APIPort = 8080 },
			"regions[0].nodes[0].lb_port: 127.0.1.1:8080 is already used by regions[0].nodes[0].api_port"},
		{"same IPv6 host written differently", func(t *Topology) {
			t.Regions[1].Nodes[0] = Node{Name: "eu-west-1", Host: "0:0::1", APIPort: 4567, LBPort: 5001, PeerPort: 5002, AdminPort: 5003}
		}, "regions[1].nodes[0].api_port: [::1]:4567 is already used by regions[0].nodes[1].api_port"},
		{"wan unknown region", func(t *Topology) { t.WAN.Latency[0].B = "us-west" },
			`wan.latency[0].b: unknown region or edge "us-west"`},
		{"wan missing region", func(t *Topology) { t.WAN.Latency[0].A = "" },
			"wan.latency[0].a: required"},
		{"wan self pair", func(t *Topology) { t.WAN.Latency[0].B = "us-east" },
			`wan.latency[0]: a and b are both "us-east"; nothing has WAN latency to itself`},
		{"wan pair twice", func(t *Topology) {
			t.WAN.Latency = append(t.WAN.Latency, Link{A: "eu-west", B: "us-east", RTT: time.Millisecond})
		}, "wan.latency[1]: eu-west/us-east is already given by wan.latency[0]"},
		{"wan negative rtt", func(t *Topology) { t.WAN.Latency[0].RTT = -70 * time.Millisecond },
			"wan.latency[0].rtt: -70ms is negative"},
		{"negative max offset", func(t *Topology) { t.Clock.MaxOffset = -time.Second },
			"clock.max_offset: -1s is negative"},
		{"negative batch records", func(t *Topology) { t.Replication.BatchRecords = -1 },
			"replication.batch_records: -1 is negative"},
		{"negative retention records", func(t *Topology) { t.Replication.LogRetentionRecords = -5 },
			"replication.log_retention_records: -5 is negative"},
		{"negative retention", func(t *Topology) { t.Replication.LogRetention = -24 * time.Hour },
			"replication.log_retention: -24h0m0s is negative"},
		{"negative anti-entropy interval", func(t *Topology) { t.Replication.AntiEntropyInterval = -time.Second },
			"replication.anti_entropy_interval: -1s is negative"},
		{"negative health interval", func(t *Topology) { t.Health.Interval = -time.Millisecond },
			"health.interval: -1ms is negative"},
		{"negative health threshold", func(t *Topology) { t.Health.Threshold = -3 },
			"health.threshold: -3 is negative"},
		{"several problems at once", func(t *Topology) {
			t.Version = 3
			t.Regions[1].Nodes[0].Host = "127.0.1"
			t.Regions[0].Nodes[0].PeerPort = 99999
			t.WAN.Latency[0].A = "mars"
		}, "version: 3 is not supported (the only known version is 1)\n" +
			"regions[0].nodes[0].peer_port: 99999 is out of range (1-65535)\n" +
			`regions[1].nodes[0].host: "127.0.1" is not an IP address` + "\n" +
			`wan.latency[0].a: unknown region or edge "mars"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := exampleTopology()
			tt.mutate(top)
			err := top.Validate()
			if err == nil {
				t.Fatalf("Validate: got nil want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Validate:\ngot  %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestValidateTrafficErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Topology)
		want   string
	}{
		{"edge on a region's address", func(t *Topology) { t.Edges[0].Host, t.Edges[0].AdminPort = "127.0.1.1", 9000 },
			"edges[0].http_port: 127.0.1.1:8080 is already used by regions[0].nodes[0].lb_port\n" +
				"edges[0].admin_port: 127.0.1.1:9000 is already used by regions[0].nodes[0].admin_port"},
		{"edge named like a node", func(t *Topology) {
			t.Edges = append(t.Edges, Edge{Name: "us-east-1", Host: "127.0.2.9", Location: "na"})
		}, `edges[3].name: "us-east-1" is already the name of regions[0].nodes[0]`},
		{"edge in an unknown location", func(t *Topology) { t.Edges[0].Location = "mars" },
			`edges[0].location: "mars" is not a location of clients.networks or clients.latency`},
		{"bad client network", func(t *Topology) { t.Clients.Networks[0].CIDR = "127.0.10/24" },
			`clients.networks[0].cidr: "127.0.10/24" is not a network in CIDR form such as 127.0.10.0/24`},
		{"latency to an unknown region", func(t *Topology) { t.Clients.Latency[0].Region = "mars" },
			`clients.latency[0].region: unknown region "mars"`},
		{"record tied to an unknown check", func(t *Topology) { t.DNS.Zones[0].Records[0].Targets[0].HealthCheck = "nope" },
			`dns.zones[0].records[0].targets[0].health_check: "nope" is not a health check (a region, node, edge or health.checks id)`},
		{"record of an unknown type", func(t *Topology) { t.DNS.Zones[0].Records[0].Type = "A6" },
			`dns: zone "meridian.test": record set "shop" A6: type "A6" is not supported (A, AAAA, CNAME, TXT, MX, NS, SOA, SRV)`},
		{"calculated check without enough children", func(t *Topology) {
			t.Health.Checks = []HealthCheck{{ID: "any", Type: "calculated", Children: []string{"us-east", "ghost"}, HealthyThreshold: 3}}
		}, `health.checks[0].children: "ghost" is not another health check` + "\n" +
			`health.checks[0].healthy_threshold: 3 must be between 1 and the number of children (2)`},
		{"traffic dial over 100", func(t *Topology) { d := 150; t.Regions[1].Traffic.Dial = &d },
			"regions[1].traffic.dial: 150 is not a percentage (0-100)"},
		{"distribution without an origin", func(t *Topology) { t.CDN.Distributions[0].Origin = DistributionOrigin{} },
			"cdn.distributions[0].origin: give exactly one of bucket and load_balancer"},
		{"host in two distributions", func(t *Topology) { t.CDN.Distributions[1].Hosts = []string{"STATIC.meridian.test"} },
			`cdn.distributions[1].hosts: "static.meridian.test" is already served by distribution static`},
		{"path prefix without its slashes", func(t *Topology) { t.CDN.Distributions[1].PathPrefixes = []string{"static"} },
			`cdn.distributions[1].path_prefixes: "static" must start and end with /`},
		{"unknown check type", func(t *Topology) { t.Health.Checks = []HealthCheck{{ID: "x", Type: "ping"}} },
			`health.checks[0].type: "ping" is not known; use http, tcp or calculated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, err := Default(nil, "/data", WANRealistic)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(top)
			err = top.Validate()
			if err == nil {
				t.Fatalf("Validate: got nil want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Validate:\ngot  %q\nwant %q", err, tt.want)
			}
		})
	}
}

// TestHealthChecks: the built-in checks (each node's deep health, each
// region as one of its nodes, each edge) and the configured ones come out
// as the checkers run them, and a health checker accepts them.
func TestHealthChecks(t *testing.T) {
	top, err := Default(nil, "/data", WANNone)
	if err != nil {
		t.Fatal(err)
	}
	top.Health.Checks = []HealthCheck{
		{ID: "catalog", Type: "http", URL: "http://127.0.1.1:8080/", SearchString: "Catalog"},
		{ID: "two-regions", Type: "calculated", Children: []string{"us-east", "eu-west", "ap-south"}, HealthyThreshold: 2, Invert: true},
	}
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	checks, peers := top.HealthChecks()
	byID := map[string]health.Check{}
	for _, c := range checks {
		byID[c.ID] = c
	}
	for id, want := range map[string]health.Check{
		"us-east-1":   {Type: health.HTTP, URL: "http://127.0.1.1:9000/healthz/deep"},
		"us-east":     {Type: health.Calculated, Children: []string{"us-east-1"}, HealthyThreshold: 1},
		"edge-2":      {Type: health.HTTP, URL: "http://127.0.2.2:9000/healthz"},
		"catalog":     {Type: health.HTTP, URL: "http://127.0.1.1:8080/", SearchString: "Catalog"},
		"two-regions": {Type: health.Calculated, Children: []string{"us-east", "eu-west", "ap-south"}, HealthyThreshold: 2, Invert: true},
	} {
		got, ok := byID[id]
		if !ok || got.Type != want.Type || got.URL != want.URL || got.SearchString != want.SearchString ||
			!slices.Equal(got.Children, want.Children) || got.HealthyThreshold != want.HealthyThreshold || got.Invert != want.Invert {
			t.Errorf("check %s: got %+v want %+v", id, got, want)
		}
		if got.Type == health.HTTP && (got.Interval != time.Second || got.FailureThreshold != 3) {
			t.Errorf("check %s: interval %v threshold %d, want the topology's 1s and 3", id, got.Interval, got.FailureThreshold)
		}
	}
	if len(peers) != 6 {
		t.Errorf("checkers: got %d (%v) want every node and edge (6)", len(peers), peers)
	}
	if err := (health.Config{Name: "edge-1", Checks: checks, Peers: peers}).Validate(); err != nil {
		t.Errorf("a health checker refuses the deployment's checks: %v", err)
	}
}
