package topology

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/lb"
)

// Validate reports every problem with t at once, one per line, each naming
// the field path it is about, such as
// `regions[1].nodes[0].host: "127.0.1" is not an IP address`. Zero values
// that SetDefaults would fill in are accepted.
func (t *Topology) Validate() error {
	v := &validator{}
	switch t.Version {
	case Version:
	case 0:
		v.add("version", "required (this format is version %d)", Version)
	default:
		v.add("version", "%d is not supported (the only known version is %d)", t.Version, Version)
	}
	if t.Cluster != "" {
		v.name("cluster", t.Cluster)
	}
	nonNegative(v, "clock.max_offset", t.Clock.MaxOffset)
	nonNegative(v, "replication.batch_records", t.Replication.BatchRecords)
	nonNegative(v, "replication.log_retention_records", t.Replication.LogRetentionRecords)
	nonNegative(v, "replication.log_retention", t.Replication.LogRetention)
	nonNegative(v, "replication.anti_entropy_interval", t.Replication.AntiEntropyInterval)
	nonNegative(v, "health.interval", t.Health.Interval)
	nonNegative(v, "health.threshold", t.Health.Threshold)
	nodeAt := make(map[string]string) // node and edge name -> path of its first use
	addrAt := make(map[string]string) // host:port -> path of its first use
	v.regions(t.Regions, nodeAt, addrAt)
	v.traffic(t, nodeAt, addrAt)
	v.wan(t.WAN, t)
	return errors.Join(v.errs...)
}

type validator struct {
	errs []error
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// name checks a region, node or cluster name: a DNS label, so that it can
// appear in host names, certificates and file names.
func (v *validator) name(path, s string) bool {
	if s == "" {
		v.add(path, "required")
		return false
	}
	if !isDNSLabel(s) {
		v.add(path, "%q is not a valid name: use lowercase letters, digits and '-', at most 63 characters, not starting or ending with '-'", s)
		return false
	}
	return true
}

func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i != 0 && i != len(s)-1:
		default:
			return false
		}
	}
	return true
}

// nonNegative checks a count or duration; zero means "the default".
func nonNegative[T ~int | ~int64](v *validator, path string, n T) {
	if n < 0 {
		v.add(path, "%v is negative", n)
	}
}

func (v *validator) regions(regions []Region, nodeAt, addrAt map[string]string) {
	if len(regions) == 0 {
		v.add("regions", "at least one region is required")
		return
	}
	regionAt := make(map[string]string) // region name -> path of its first use
	for i, r := range regions {
		rp := fmt.Sprintf("regions[%d]", i)
		if v.name(rp+".name", r.Name) {
			if prev, ok := regionAt[r.Name]; ok {
				v.add(rp+".name", "%q is already the name of %s", r.Name, prev)
			} else {
				regionAt[r.Name] = rp
			}
		}
		if len(r.Nodes) == 0 {
			v.add(rp+".nodes", "at least one node is required")
		}
		for j, n := range r.Nodes {
			np := fmt.Sprintf("%s.nodes[%d]", rp, j)
			v.node(np, n, nodeAt, addrAt)
		}
		v.groups(rp, r)
	}
}

// groups checks a region's instance groups and load balancer rules.
func (v *validator) groups(rp string, r Region) {
	groupAt := make(map[string]string)
	for i, g := range r.Groups {
		gp := fmt.Sprintf("%s.groups[%d]", rp, i)
		if err := g.Validate(); err != nil {
			v.add(gp, "%v", err)
		}
		if g.Name == "" {
			continue
		}
		if prev, ok := groupAt[g.Name]; ok {
			v.add(gp+".name", "%q is already the name of %s", g.Name, prev)
		} else {
			groupAt[g.Name] = gp
		}
	}
	lp := rp + ".load_balancer"
	known := func(path, name string) {
		switch {
		case name == "":
			v.add(path, "required: name one of the region's groups")
		case groupAt[name] == "":
			v.add(path, "%q is not a group of region %s (its groups: %s)", name, r.Name, groupNames(r.Groups))
		}
	}
	for i, rule := range r.LoadBalancer.Rules {
		p := fmt.Sprintf("%s.rules[%d]", lp, i)
		known(p+".group", rule.Group)
		if rule.PathPrefix != "" && !strings.HasPrefix(rule.PathPrefix, "/") {
			v.add(p+".path_prefix", "%q must start with /", rule.PathPrefix)
		}
		if strings.Contains(strings.TrimPrefix(rule.Host, "*."), "*") {
			v.add(p+".host", "%q may only have a leading \"*.\" wildcard", rule.Host)
		}
	}
	if r.LoadBalancer.DefaultGroup != "" {
		known(lp+".default_group", r.LoadBalancer.DefaultGroup)
	}
	switch r.LoadBalancer.Algorithm {
	case "", lb.RoundRobin, lb.LeastOutstanding:
	default:
		v.add(lp+".algorithm", "%q is not known; use %q or %q", r.LoadBalancer.Algorithm, lb.RoundRobin, lb.LeastOutstanding)
	}
}

func groupNames(groups []compute.GroupSpec) string {
	if len(groups) == 0 {
		return "none"
	}
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		names = append(names, g.Name)
	}
	return strings.Join(names, ", ")
}

func (v *validator) node(np string, n Node, nodeAt, addrAt map[string]string) {
	v.endpoint(np, n.Name, n.Host, []port{
		{"api_port", n.APIPort, DefaultAPIPort},
		{"lb_port", n.LBPort, DefaultLBPort},
		{"peer_port", n.PeerPort, DefaultPeerPort},
		{"admin_port", n.AdminPort, DefaultAdminPort},
	}, nodeAt, addrAt)
}

// port is one listening port of a node or edge, for endpoint.
type port struct {
	field string
	port  int
	def   int
}

// endpoint checks the name, host and ports of a node or edge: names are
// unique among both, and so are host:port pairs.
func (v *validator) endpoint(np, name, host string, ports []port, nodeAt, addrAt map[string]string) {
	if v.name(np+".name", name) {
		switch prev, ok := nodeAt[name]; {
		case ok:
			v.add(np+".name", "%q is already the name of %s", name, prev)
		case name == "ca":
			v.add(np+".name", `"ca" is reserved: the TLS directory keeps the cluster CA in ca.pem`)
		default:
			nodeAt[name] = np
		}
	}
	var ip net.IP
	switch host {
	case "":
		v.add(np+".host", "required")
	default:
		ip = net.ParseIP(host)
		switch {
		case ip == nil:
			v.add(np+".host", "%q is not an IP address", host)
		case ip.IsUnspecified():
			v.add(np+".host", "%q is the unspecified address; give the address peers reach this node at", host)
			ip = nil
		}
	}
	for _, p := range ports {
		path := np + "." + p.field
		port := p.port
		if port == 0 {
			port = p.def
		}
		if port < 1 || port > 65535 {
			v.add(path, "%d is out of range (1-65535)", port)
			continue
		}
		if ip == nil {
			continue
		}
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
		if prev, ok := addrAt[addr]; ok {
			v.add(path, "%s is already used by %s", addr, prev)
		} else {
			addrAt[addr] = path
		}
	}
}

func (v *validator) wan(w WAN, t *Topology) {
	known := map[string]bool{}
	for _, r := range t.Regions {
		known[r.Name] = true
	}
	for _, e := range t.Edges {
		known[e.Name] = true
	}
	pairAt := make(map[[2]string]string)
	for i, l := range w.Latency {
		lp := fmt.Sprintf("wan.latency[%d]", i)
		ok := true
		for _, end := range []struct{ field, name string }{{"a", l.A}, {"b", l.B}} {
			switch {
			case end.name == "":
				v.add(lp+"."+end.field, "required")
				ok = false
			case !known[end.name]:
				v.add(lp+"."+end.field, "unknown region or edge %q", end.name)
				ok = false
			}
		}
		nonNegative(v, lp+".rtt", l.RTT)
		if !ok {
			continue
		}
		if l.A == l.B {
			v.add(lp, "a and b are both %q; nothing has WAN latency to itself", l.A)
			continue
		}
		pair := [2]string{l.A, l.B}
		if pair[0] > pair[1] {
			pair[0], pair[1] = pair[1], pair[0]
		}
		if prev, dup := pairAt[pair]; dup {
			v.add(lp, "%s/%s is already given by %s", l.A, l.B, prev)
		} else {
			pairAt[pair] = lp
		}
	}
}

// describeYAMLError rewrites the YAML decoder's errors for operators: an
// unknown field lists the fields allowed there, and a duration without a unit
// says how to write one.
func describeYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("parsing topology: %w", err)
	}
	known := knownFields(reflect.TypeFor[Topology](), nil)
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		errs = append(errs, errors.New(rewriteYAMLMessage(msg, known)))
	}
	return errors.Join(errs...)
}

func rewriteYAMLMessage(msg string, known map[string][]string) string {
	const notFound = " not found in type "
	if head, typ, ok := strings.Cut(msg, notFound); ok {
		if line, field, ok := strings.Cut(head, ": field "); ok {
			out := fmt.Sprintf("%s: unknown field %q", line, field)
			if names := known[typ]; len(names) > 0 {
				out += " (known fields here: " + strings.Join(names, ", ") + ")"
			}
			return out
		}
	}
	if strings.HasSuffix(msg, " into time.Duration") {
		return msg + ` (write durations with a unit, such as "500ms" or "24h")`
	}
	return msg
}

// knownFields maps each struct type reachable from t (by its reflect name,
// as the YAML decoder prints it) to the YAML field names it accepts.
func knownFields(t reflect.Type, into map[string][]string) map[string][]string {
	if into == nil {
		into = make(map[string][]string)
	}
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Duration]() {
		return into
	}
	if _, seen := into[t.String()]; seen {
		return into
	}
	names := []string{}
	into[t.String()] = names
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		knownFields(f.Type, into)
	}
	into[t.String()] = names
	return into
}
