// Package topology is the Meridian topology file: which regions exist, which
// nodes serve each region and at which addresses, the edges, client
// networks and DNS zones, where data lives, and the cluster-wide knobs for
// clocks, replication, health checking and the simulated WAN. The file is YAML; the field comments on the types below are
// its user documentation.
//
// Parse and Load read a file strictly (an unknown field is an error naming
// its line), fill in defaults for fields left out and validate the result;
// Default builds the topology `meridian up` uses when given none.
//
// Imported by the CLI and by every component that needs to know its peers
// (replication, health, DNS, edge, the test harness). From Meridian it
// imports only compute, whose GroupSpec is the `groups` entry of a region,
// lb, for the names of its balancing algorithms, and dns, which checks the
// zones.
package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/lb"
)

// Version is the only topology file format version this package knows.
const Version = 1

// Defaults for fields left out of a topology file (or set to zero).
const (
	DefaultCluster             = "meridian"
	DefaultDataDir             = "./meridian-data"
	DefaultMaxClockOffset      = 500 * time.Millisecond
	DefaultBatchRecords        = 512
	DefaultLogRetentionRecords = 1_000_000
	DefaultLogRetention        = 24 * time.Hour
	DefaultAntiEntropyInterval = 10 * time.Second
	DefaultHealthInterval      = time.Second
	DefaultHealthThreshold     = 3
	DefaultAPIPort             = 4566
	DefaultLBPort              = 8080
	DefaultPeerPort            = 7100
	DefaultAdminPort           = 9000
)

// Topology is a whole deployment: the contents of a topology file.
type Topology struct {
	// Version of the file format. Required; the only known version is 1.
	Version int `yaml:"version"`
	// Cluster names the deployment. Default "meridian".
	Cluster string `yaml:"cluster"`
	// DataDir is where nodes keep their state, each under DataDir/<node name>.
	// A relative path is relative to the working directory of the process.
	// Default "./meridian-data".
	DataDir string `yaml:"data_dir"`
	// TLS configures mutual TLS on the peer port.
	TLS TLS `yaml:"tls"`
	// Secrets configures the keys that protect secrets at rest.
	Secrets Secrets `yaml:"secrets"`
	// Clock configures the hybrid logical clocks that order writes.
	Clock Clock `yaml:"clock"`
	// Replication configures the inter-region change streams.
	Replication Replication `yaml:"replication"`
	// Health configures how regions are probed.
	Health Health `yaml:"health"`
	// Regions lists the regions and their nodes. At least one is required.
	Regions []Region `yaml:"regions"`
	// Edges lists the edge locations: DNS, accelerator and cache.
	Edges []Edge `yaml:"edges,omitempty"`
	// Clients maps client networks to locations and locations to regions.
	Clients Clients `yaml:"clients,omitempty"`
	// DNS holds the zones the edges serve.
	DNS DNS `yaml:"dns,omitempty"`
	// CDN configures the edges' cache and its distributions.
	CDN CDN `yaml:"cdn,omitempty"`
	// WAN describes the simulated network between regions and edges.
	WAN WAN `yaml:"wan,omitempty"`
	// Chaos lets `meridian chaos` inject faults (partitions, latency) into
	// the running processes through their admin ports (PUT /admin/chaos)
	// and DATA_DIR/chaos.json. `meridian up` turns it on for its local
	// deployment; leave it off where the admin ports are reachable by
	// anyone who should not be able to cut a region off.
	Chaos bool `yaml:"chaos,omitempty"`
}

// TLS configures mutual TLS between nodes.
type TLS struct {
	// Dir holds the cluster CA (ca.pem, ca-key.pem) and each node's
	// certificate and key (<node>.pem, <node>-key.pem). Default
	// <data_dir>/certs.
	Dir string `yaml:"dir"`
}

// Secrets configures encryption at rest of secrets (access keys' secret
// keys, Secrets Manager values).
type Secrets struct {
	// MasterKeyFile is the cluster master key: 32 random bytes, mode 0600,
	// created on first start if absent. Every node of the cluster needs the
	// same file; copy it to each host over a secure channel and back it up,
	// since without it stored secrets cannot be decrypted. Default
	// <data_dir>/keys/master.key.
	MasterKeyFile string `yaml:"master_key_file"`
	// BootstrapCredentials is an AWS shared-credentials file whose
	// [meridian] access key every node stores, encrypted, as the
	// administrator's key when it starts, so the first key needs no API
	// call. `meridian up` writes it (mode 0600) to <data_dir>/credentials.
	// Empty: none.
	BootstrapCredentials string `yaml:"bootstrap_credentials,omitempty"`
	// AdminTokenFile holds the bearer token the admin ports require for
	// requests that change state (internal/admintoken); reads stay open.
	// `meridian up` writes it (mode 0600) to <data_dir>/admin-token. Empty:
	// the admin ports are not guarded.
	AdminTokenFile string `yaml:"admin_token_file,omitempty"`
}

// Clock configures hybrid logical clocks.
type Clock struct {
	// MaxOffset is how far ahead of this node's clock a peer's clock may be;
	// writes from a peer further ahead are refused and reported, so that a
	// fast clock cannot win every conflict. Default 500ms.
	MaxOffset time.Duration `yaml:"max_offset"`
}

// Replication configures the inter-region change streams.
type Replication struct {
	// BatchRecords is the most change records sent or applied in one batch.
	// Default 512.
	BatchRecords int `yaml:"batch_records"`
	// LogRetentionRecords is the most change records a node keeps per origin
	// region for peers that have not applied them yet. Default 1000000.
	LogRetentionRecords int `yaml:"log_retention_records"`
	// LogRetention is how long change records are kept for peers that have
	// not applied them yet; a peer further behind is repaired by
	// anti-entropy instead. Default 24h.
	LogRetention time.Duration `yaml:"log_retention"`
	// AntiEntropyInterval is how often regions compare digests of their data
	// and repair differences. Default 10s.
	AntiEntropyInterval time.Duration `yaml:"anti_entropy_interval"`
}

// Health configures region health checks.
type Health struct {
	// Interval between probes of each region. Default 1s.
	Interval time.Duration `yaml:"interval"`
	// Threshold is how many consecutive failed probes make a checker call a
	// region unhealthy. Default 3.
	Threshold int `yaml:"threshold"`
	// Checks are health checks besides the built-in ones; see HealthCheck.
	Checks []HealthCheck `yaml:"checks,omitempty"`
}

// Region is one region and the nodes that serve it.
type Region struct {
	// Name of the region, such as "us-east": lowercase letters, digits and
	// '-', at most 63 characters. Required and unique.
	Name string `yaml:"name"`
	// Nodes serving the region. At least one is required.
	Nodes []Node `yaml:"nodes"`
	// Groups are the region's instance groups (Meridian's Auto Scaling
	// groups): every node of the region runs and supervises each group's
	// processes on its own host, on ports 20000-29999, with the region's
	// API endpoint and the bootstrap credentials in their environment, and
	// registers them with its load balancer in the target group of the
	// group's name. Each entry is a compute.GroupSpec:
	//
	//	groups:
	//	  - name: shop              # unique in the region
	//	    command: meridian       # "meridian" is the node's own binary
	//	    args: [shop, serve]
	//	    env: {SHOP_GREETING: hi}
	//	    min: 2
	//	    max: 6
	//	    desired: 2
	//	    health_check: {path: /healthz, interval: 1s, timeout: 500ms,
	//	                   healthy_threshold: 2, unhealthy_threshold: 2}
	//	    scaling: {metric: in_flight, target: 10, warm_up: 10s, cooldown: 30s}
	//	    start_timeout: 30s
	//	    stop_timeout: 10s
	//	    drain_delay: 10s        # the load balancer's deregistration delay
	//	    slow_start: 0s
	//
	// Empty: the region runs no instances and its nodes open no load
	// balancer port.
	Groups []compute.GroupSpec `yaml:"groups,omitempty"`
	// LoadBalancer routes the requests that arrive on each node's lb_port
	// to the groups. Its target groups are the groups above, with their
	// health checks, drain delays and slow start.
	LoadBalancer LoadBalancer `yaml:"load_balancer,omitempty"`
	// Traffic is how edges weigh the region against others about as near.
	Traffic Traffic `yaml:"traffic,omitempty"`
}

// Traffic is a region's share of edge traffic, as Global Accelerator's
// endpoint weights and traffic dials.
type Traffic struct {
	// Weight is the region's relative share among regions about as near to
	// an edge (within 5 ms). Default 1.
	Weight int `yaml:"weight,omitempty"`
	// Dial is the percentage (0-100) of the traffic that would go to the
	// region that it gets; the rest goes to the next region. Default 100;
	// 0 drains the region of new edge traffic while keeping it as a
	// fallback.
	Dial *int `yaml:"dial,omitempty"`
}

// Group returns the region's group called name.
func (r Region) Group(name string) (compute.GroupSpec, bool) {
	for _, g := range r.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return compute.GroupSpec{}, false
}

// LoadBalancer is a region's listener rules, like an ALB listener's.
type LoadBalancer struct {
	// Rules are tried in order; the first that matches a request sends it
	// to its group. Example:
	//
	//	rules:
	//	  - {host: api.example.com, group: api}
	//	  - {path_prefix: /static/, group: assets}
	//	  - {path_prefix: /, group: shop}
	Rules []Rule `yaml:"rules,omitempty"`
	// DefaultGroup receives the requests no rule matches. Empty: the only
	// group when the region has exactly one; otherwise such requests are
	// answered 404.
	DefaultGroup string `yaml:"default_group,omitempty"`
	// Algorithm chooses among a group's healthy instances: "round_robin"
	// (the default) or "least_outstanding" (fewest requests in flight).
	Algorithm lb.Algorithm `yaml:"algorithm,omitempty"`
}

// Rule routes requests by host and path prefix to a group. A rule without
// host or path_prefix matches every request.
type Rule struct {
	// Host is an exact host name ("shop.example.com") or a leading
	// wildcard ("*.example.com"); case-insensitive, port ignored.
	Host string `yaml:"host,omitempty"`
	// PathPrefix matches a path equal to it or under it: "/api" matches
	// "/api" and "/api/cart" but not "/apix". It must start with "/".
	PathPrefix string `yaml:"path_prefix,omitempty"`
	// Group is the name of one of the region's groups. Required.
	Group string `yaml:"group"`
}

// Node is one `meridian region` process.
type Node struct {
	// Name of the node, such as "us-east-1": lowercase letters, digits and
	// '-', at most 63 characters, unique across all regions. It is also the
	// name in the node's TLS certificate.
	Name string `yaml:"name"`
	// Host is the IP address the node listens on and peers dial. Required.
	Host string `yaml:"host"`
	// APIPort serves the AWS-compatible APIs. Default 4566.
	APIPort int `yaml:"api_port"`
	// LBPort serves the regional load balancer. Default 8080.
	LBPort int `yaml:"lb_port"`
	// PeerPort carries replication and health gossip over mutual TLS.
	// Default 7100.
	PeerPort int `yaml:"peer_port"`
	// AdminPort serves /healthz, /readyz, /metrics, the console and the
	// admin API. Default 9000.
	AdminPort int `yaml:"admin_port"`
}

// WAN describes the network between regions.
type WAN struct {
	// Latency lists simulated round-trip times on the links between pairs
	// of regions, or an edge and a region; a pair not listed has none. Each
	// pair is listed once, in either order.
	Latency []Link `yaml:"latency,omitempty"`
}

// Link is the simulated round trip between two regions, or an edge and a
// region.
type Link struct {
	// A is one region's or edge's name.
	A string `yaml:"a"`
	// B is the other's.
	B string `yaml:"b"`
	// RTT is the round-trip time added to traffic between A and B,
	// written like "70ms".
	RTT time.Duration `yaml:"rtt"`
}

// NodeRef is a node together with the name of its region.
type NodeRef struct {
	Region string
	Node   Node
}

// Load reads, defaults and validates the topology file at path. Errors name
// the file.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse reads a topology from YAML, fills in defaults and validates it.
// Unknown fields are errors that name their line.
func Parse(data []byte) (*Topology, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var t Topology
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("topology is empty")
		}
		return nil, describeYAMLError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("line %d: topology holds more than one YAML document", extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, describeYAMLError(err)
	}
	t.SetDefaults()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// SetDefaults replaces zero values with their defaults. Parse and Default
// call it; call it yourself on a Topology built in code.
func (t *Topology) SetDefaults() {
	setDefault(&t.Cluster, DefaultCluster)
	setDefault(&t.DataDir, DefaultDataDir)
	setDefault(&t.TLS.Dir, filepath.Join(t.DataDir, "certs"))
	setDefault(&t.Secrets.MasterKeyFile, filepath.Join(t.DataDir, "keys", "master.key"))
	setDefault(&t.Clock.MaxOffset, DefaultMaxClockOffset)
	setDefault(&t.Replication.BatchRecords, DefaultBatchRecords)
	setDefault(&t.Replication.LogRetentionRecords, DefaultLogRetentionRecords)
	setDefault(&t.Replication.LogRetention, DefaultLogRetention)
	setDefault(&t.Replication.AntiEntropyInterval, DefaultAntiEntropyInterval)
	setDefault(&t.Health.Interval, DefaultHealthInterval)
	setDefault(&t.Health.Threshold, DefaultHealthThreshold)
	for i := range t.Regions {
		r := &t.Regions[i]
		for j := range r.Nodes {
			n := &r.Nodes[j]
			setDefault(&n.APIPort, DefaultAPIPort)
			setDefault(&n.LBPort, DefaultLBPort)
			setDefault(&n.PeerPort, DefaultPeerPort)
			setDefault(&n.AdminPort, DefaultAdminPort)
		}
		if len(r.Nodes) == 0 {
			r.Nodes = nil
		}
		if len(r.Groups) == 0 {
			r.Groups = nil
		}
		for k := range r.Groups {
			g := &r.Groups[k]
			if len(g.Args) == 0 {
				g.Args = nil
			}
			if len(g.Env) == 0 {
				g.Env = nil
			}
		}
		if len(r.LoadBalancer.Rules) == 0 {
			r.LoadBalancer.Rules = nil
		}
	}
	t.setTrafficDefaults()
	// An empty list and a missing one mean the same; keep one form so that
	// a topology compares equal to itself after Marshal and Parse.
	if len(t.Regions) == 0 {
		t.Regions = nil
	}
	if len(t.WAN.Latency) == 0 {
		t.WAN.Latency = nil
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Marshal writes t as YAML that Parse reads back to an equal Topology.
func (t *Topology) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("encoding topology: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding topology: %w", err)
	}
	return buf.Bytes(), nil
}

// Node finds the node called name and its region.
func (t *Topology) Node(name string) (Region, Node, bool) {
	for _, r := range t.Regions {
		for _, n := range r.Nodes {
			if n.Name == name {
				return r, n, true
			}
		}
	}
	return Region{}, Node{}, false
}

// Region finds the region called name.
func (t *Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// RegionNames returns the region names in file order.
func (t *Topology) RegionNames() []string {
	names := make([]string, 0, len(t.Regions))
	for _, r := range t.Regions {
		names = append(names, r.Name)
	}
	return names
}

// Nodes returns every node with its region, in file order.
func (t *Topology) Nodes() []NodeRef {
	var refs []NodeRef
	for _, r := range t.Regions {
		for _, n := range r.Nodes {
			refs = append(refs, NodeRef{Region: r.Name, Node: n})
		}
	}
	return refs
}

// RTT returns the simulated round-trip time between regions a and b, in
// either order, or 0 when the WAN section lists none.
func (t *Topology) RTT(a, b string) time.Duration {
	for _, l := range t.WAN.Latency {
		if (l.A == a && l.B == b) || (l.A == b && l.B == a) {
			return l.RTT
		}
	}
	return 0
}

// NodeDataDir returns the directory that holds node's data.
func (t *Topology) NodeDataDir(node string) string {
	return filepath.Join(t.DataDir, node)
}

// APIAddr is the host:port of the node's AWS-compatible API.
func (n Node) APIAddr() string { return joinHostPort(n.Host, n.APIPort) }

// LBAddr is the host:port of the node's regional load balancer.
func (n Node) LBAddr() string { return joinHostPort(n.Host, n.LBPort) }

// PeerAddr is the host:port of the node's mutual-TLS peer port.
func (n Node) PeerAddr() string { return joinHostPort(n.Host, n.PeerPort) }

// AdminAddr is the host:port of the node's admin endpoint.
func (n Node) AdminAddr() string { return joinHostPort(n.Host, n.AdminPort) }

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
