// Package deploy runs a whole Meridian deployment on one machine: the
// business logic behind `meridian up` and `meridian status`.
//
// Up writes (or, on a later run, reloads) DIR/topology.yaml, creates the
// cluster CA and node certificates, starts one `meridian region` child
// process per node, supervises them (a child that dies is logged and
// restarted with exponential backoff), records where every node listens in
// DIR/endpoints.json, waits until every node is ready and stops everything
// cleanly when its context is cancelled. Children never outlive the
// supervisor: they are started with a parent-death signal.
//
// Collect reads endpoints.json and asks every node for its status.
//
// Apply changes an instance group in every region of a running deployment
// and in its topology file.
//
// Imported by the CLI and by tests; it imports topology, pki, iam and
// compute (for the group spec) but no other component engine.
package deploy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/topology"
)

// Files inside a data directory.
const (
	// TopologyFile is the topology `up` writes on its first run and reads
	// on every later one.
	TopologyFile = "topology.yaml"
	// EndpointsFile lists every running node; see Endpoints.
	EndpointsFile = "endpoints.json"
	// LogsDir holds one log file per node, named <node>.log.
	LogsDir = "logs"
	// CredentialsFile is the administrator's access key, in the AWS
	// shared-credentials format under profile iam.Profile.
	CredentialsFile = "credentials"
	// AdminTokenFile holds the admin ports' bearer token (mode 0600).
	AdminTokenFile = "admin-token"
	// lockFile keeps two `up` processes off one data directory.
	lockFile = "up.lock"
)

// DefaultSubnet is where `up` puts region nodes unless told otherwise:
// node i (from 1) listens on 127.0.1.i.
const DefaultSubnet = "127.0.1"

// Config configures Up. The zero value of every field means its default.
type Config struct {
	// Dir is the data directory. Default topology.DefaultDataDir.
	Dir string
	// Regions to start on the first run (default topology.DefaultRegions).
	// On a later run, a non-empty list must match the topology file.
	Regions []string
	// WAN is the simulated WAN profile for the first run: topology.WANNone
	// or topology.WANRealistic (the default). On a later run a non-empty
	// value must match the topology file.
	WAN string
	// Subnet is the first three octets of the loopback addresses nodes
	// listen on, such as "127.0.1" (the default): node i gets <Subnet>.i,
	// and edge i <next subnet>.i (127.0.2.i by default). On a later run a non-empty value must match the topology file.
	Subnet string
	// Binary is the meridian executable to start children from. Default:
	// this process's own executable.
	Binary string
	// ChildArgs are extra arguments for every child, placed before the
	// subcommand (such as "--log-level", "debug").
	ChildArgs []string
	// Logger receives the supervisor's own log (default: discard).
	Logger *slog.Logger
	// Out receives the human summary printed once every node is ready
	// (default: discard).
	Out io.Writer
	// ReadyTimeout bounds the wait for every node's /readyz. Default 15s.
	ReadyTimeout time.Duration
	// StopTimeout is how long children get to exit after SIGTERM before
	// they are killed. Default 10s.
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before restarting a child
	// that exited unexpectedly; the delay doubles on every crash and is
	// reset once a child has run for ResetBackoffAfter. Defaults 250ms,
	// 10s and 30s.
	MinBackoff        time.Duration
	MaxBackoff        time.Duration
	ResetBackoffAfter time.Duration
}

func (c *Config) setDefaults() {
	if c.Dir == "" {
		c.Dir = topology.DefaultDataDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	setDefault(&c.ReadyTimeout, 15*time.Second)
	setDefault(&c.StopTimeout, 10*time.Second)
	setDefault(&c.MinBackoff, 250*time.Millisecond)
	setDefault(&c.MaxBackoff, 10*time.Second)
	setDefault(&c.ResetBackoffAfter, 30*time.Second)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate says what is wrong with the flags-level settings, before anything
// touches the disk.
func (c *Config) Validate() error {
	var errs []error
	switch c.WAN {
	case "", topology.WANNone, topology.WANRealistic:
	default:
		errs = append(errs, fmt.Errorf("wan profile %q is not known; use %q or %q", c.WAN, topology.WANRealistic, topology.WANNone))
	}
	if c.Subnet != "" {
		if _, err := subnetHost(c.Subnet, 1); err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if r == "" {
			errs = append(errs, errors.New("regions: an empty region name was given"))
			continue
		}
		if seen[r] {
			errs = append(errs, fmt.Errorf("regions: %q is given twice", r))
		}
		seen[r] = true
	}
	return errors.Join(errs...)
}

// subnetHost returns <subnet>.<i> after checking that subnet is three
// decimal octets of 127.0.0.0/8, the loopback network Linux routes to lo.
func subnetHost(subnet string, i int) (string, error) {
	octets := strings.Split(subnet, ".")
	ok := len(octets) == 3
	for _, o := range octets {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != o {
			ok = false
		}
	}
	if !ok {
		return "", fmt.Errorf("subnet %q is not three octets such as %q", subnet, DefaultSubnet)
	}
	if octets[0] != "127" {
		return "", fmt.Errorf("subnet %q is not in 127.0.0.0/8: a local deployment listens on loopback addresses", subnet)
	}
	if i < 1 || i > 254 {
		return "", fmt.Errorf("subnet %s has room for 254 nodes; node %d does not fit", subnet, i)
	}
	return subnet + "." + strconv.Itoa(i), nil
}

// ShopGroup is the instance group a first `up` declares in every region:
// the reference shop (`meridian shop serve`, from the same binary), two
// instances to start, between two and six, behind the region's load
// balancer, which sends it every request.
func ShopGroup() compute.GroupSpec {
	return compute.GroupSpec{
		Name:    "shop",
		Command: "meridian",
		Args:    []string{"shop", "serve"},
		Min:     2,
		Max:     6,
		Desired: 2,
	}
}

// edgeSubnet is where `up` puts the edges: the subnet after the regions'
// (127.0.2 for the default 127.0.1), or the one before when there is no
// next.
func edgeSubnet(subnet string) string {
	i := strings.LastIndexByte(subnet, '.')
	last, err := strconv.Atoi(subnet[i+1:])
	if err != nil {
		return subnet // subnetHost reports it
	}
	if last == 255 {
		return subnet[:i+1] + "254"
	}
	return subnet[:i+1] + strconv.Itoa(last+1)
}

// hostSubnet returns the first three octets of an IPv4 host, or "".
func hostSubnet(host string) string {
	i := strings.LastIndexByte(host, '.')
	if i <= 0 {
		return ""
	}
	return host[:i]
}

// prepareTopology writes the topology on the first run in dir (absolute) and
// loads it on later ones, refusing settings that contradict it.
func prepareTopology(cfg Config, dir string, exists bool) (*topology.Topology, error) {
	path := filepath.Join(dir, TopologyFile)
	if exists {
		t, err := topology.Load(path)
		if err != nil {
			return nil, err
		}
		if err := checkResume(cfg, dir, t); err != nil {
			return nil, fmt.Errorf("%s already describes a deployment and %w; drop the flag to resume it, or give another --data directory for a new one", path, err)
		}
		return t, nil
	}
	return newTopology(cfg, dir)
}

// newTopology builds the topology of a first run in dir.
func newTopology(cfg Config, dir string) (*topology.Topology, error) {
	wan := cfg.WAN
	if wan == "" {
		wan = topology.WANRealistic
	}
	subnet := cfg.Subnet
	if subnet == "" {
		subnet = DefaultSubnet
	}
	regions := cfg.Regions
	if len(regions) == 0 {
		regions = topology.DefaultRegions()
	}
	edges := edgeSubnet(subnet)
	for i := range regions {
		for _, sn := range []string{subnet, edges} {
			if _, err := subnetHost(sn, i+1); err != nil {
				return nil, err
			}
		}
	}
	t, err := topology.DefaultAt(regions, dir, wan, subnet, edges)
	if err != nil {
		return nil, err
	}
	t.Secrets.BootstrapCredentials = filepath.Join(dir, CredentialsFile)
	t.Secrets.AdminTokenFile = filepath.Join(dir, AdminTokenFile)
	t.Chaos = true // a local deployment is for game days
	for r := range t.Regions {
		t.Regions[r].Groups = []compute.GroupSpec{ShopGroup()}
		t.Regions[r].LoadBalancer = topology.LoadBalancer{Rules: []topology.Rule{{PathPrefix: "/", Group: ShopGroup().Name}}}
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("topology for subnet %s: %w", subnet, err)
	}
	return t, nil
}

// checkResume reports the first setting in cfg that contradicts t.
func checkResume(cfg Config, dir string, t *topology.Topology) error {
	if filepath.Clean(t.DataDir) != dir {
		return fmt.Errorf("its data_dir is %s, not this directory (was it moved? fix data_dir and tls.dir in the file)", t.DataDir)
	}
	if len(cfg.Regions) > 0 && !slices.Equal(cfg.Regions, t.RegionNames()) {
		return fmt.Errorf("its regions are %v, but --regions asks for %v", t.RegionNames(), cfg.Regions)
	}
	if cfg.WAN != "" {
		want, err := topology.Default(t.RegionNames(), dir, cfg.WAN)
		if err != nil {
			return err
		}
		if !slices.Equal(want.WAN.Latency, t.WAN.Latency) {
			return fmt.Errorf("its wan section does not match --wan %s", cfg.WAN)
		}
	}
	if cfg.Subnet != "" {
		for _, ref := range t.Nodes() {
			if got := hostSubnet(ref.Node.Host); got != cfg.Subnet {
				return fmt.Errorf("node %s listens on %s, not in --subnet %s", ref.Node.Name, ref.Node.Host, cfg.Subnet)
			}
		}
	}
	return nil
}

// adminToken is the token the deployment's admin ports require for changes,
// or "" when its topology configures none.
func adminToken(t *topology.Topology) (string, error) {
	if t.Secrets.AdminTokenFile == "" {
		return "", nil
	}
	return admintoken.Read(t.Secrets.AdminTokenFile)
}
