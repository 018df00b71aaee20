package topology

import (
	"fmt"
	"time"
)

// DefaultRegions are the regions `meridian up` starts when given none.
func DefaultRegions() []string { return []string{"us-east", "eu-west", "ap-south"} }

// WAN profiles accepted by Default.
const (
	// WANNone adds no latency between regions.
	WANNone = "none"
	// WANRealistic adds round trips like those between the AWS regions the
	// default names suggest: us-east/eu-west 70ms, us-east/ap-south 200ms,
	// eu-west/ap-south 120ms, and 100ms between any other two regions.
	WANRealistic = "realistic"
)

// realisticFallbackRTT is the WANRealistic round trip between regions the
// profile has no figure for.
const realisticFallbackRTT = 100 * time.Millisecond

// Default builds the topology `meridian up` uses without a topology file:
// one node per region named "<region>-1", region i (from 1) on 127.0.1.i
// with the default ports, an edge per region (see defaultTraffic), data under dataDir (DefaultDataDir when empty) and
// the WAN profile wan: WANNone (also when empty) or WANRealistic. Regions
// default to DefaultRegions.
func Default(regions []string, dataDir, wan string) (*Topology, error) {
	return DefaultAt(regions, dataDir, wan, "127.0.1", "127.0.2")
}

// DefaultAt is Default with region i's node on <regionSubnet>.i and edge i
// on <edgeSubnet>.i, subnets being three octets such as "127.0.1".
func DefaultAt(regions []string, dataDir, wan, regionSubnet, edgeSubnet string) (*Topology, error) {
	if len(regions) == 0 {
		regions = DefaultRegions()
	}
	if len(regions) > 254 {
		return nil, fmt.Errorf("%d regions do not fit on 127.0.1.1-127.0.1.254; give at most 254", len(regions))
	}
	t := &Topology{Version: Version, DataDir: dataDir}
	for i, name := range regions {
		t.Regions = append(t.Regions, Region{
			Name: name,
			Nodes: []Node{{
				Name:      name + "-1",
				Host:      fmt.Sprintf("%s.%d", regionSubnet, i+1),
				APIPort:   DefaultAPIPort,
				LBPort:    DefaultLBPort,
				PeerPort:  DefaultPeerPort,
				AdminPort: DefaultAdminPort,
			}},
		})
	}
	t.defaultTraffic(regions, edgeSubnet)
	switch wan {
	case "", WANNone:
	case WANRealistic:
		for i, a := range regions {
			for _, b := range regions[i+1:] {
				t.WAN.Latency = append(t.WAN.Latency, Link{A: a, B: b, RTT: realisticRTT(a, b)})
			}
		}
		t.WAN.Latency = append(t.WAN.Latency, t.realisticEdgeLinks()...)
	default:
		return nil, fmt.Errorf("wan profile %q is not known; use %q or %q", wan, WANNone, WANRealistic)
	}
	t.SetDefaults()
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("default topology for regions %q: %w", regions, err)
	}
	return t, nil
}

func realisticRTT(a, b string) time.Duration {
	if a > b {
		a, b = b, a
	}
	switch [2]string{a, b} {
	case [2]string{"eu-west", "us-east"}:
		return 70 * time.Millisecond
	case [2]string{"ap-south", "us-east"}:
		return 200 * time.Millisecond
	case [2]string{"ap-south", "eu-west"}:
		return 120 * time.Millisecond
	}
	return realisticFallbackRTT
}
