package edge

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/cdn"
	"github.com/meridian-platform/meridian/internal/health"
	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/s3"
	"github.com/meridian-platform/meridian/internal/topology"
)

// cacheConfig builds the cache's distributions: each origin in every region
// that has the node to serve it, tried nearest healthy region first.
func cacheConfig(t *topology.Topology, checker *health.Checker, measured measuredRTT) ([]cdn.Distribution, error) {
	var sign func(*http.Request) error
	order := func() []string { return regionOrder(t, checker, measured) }
	var dists []cdn.Distribution
	for _, d := range t.CDN.Distributions {
		cd := cdn.Distribution{
			Name: d.Name, Hosts: slices.Clone(d.Hosts), Order: order,
			DefaultTTL: d.DefaultTTL, MinTTL: d.MinTTL, MaxTTL: d.MaxTTL,
		}
		if len(d.PathPrefixes) > 0 {
			cd.Hosts = append(cd.Hosts, d.PrefixHost())
		}
		if d.Origin.Bucket != "" && sign == nil {
			// As CloudFront's origin access control: the edge signs its
			// origin requests, so the bucket need not be public.
			path := t.Secrets.BootstrapCredentials
			if path == "" {
				return nil, fmt.Errorf("distribution %s: a bucket origin needs credentials to sign with (secrets.bootstrap_credentials)", d.Name)
			}
			ak, err := iam.ReadCredentials(path, iam.Profile)
			if err != nil {
				return nil, fmt.Errorf("distribution %s: %w", d.Name, err)
			}
			sign = s3.SignWith(ak.ID, ak.Secret, "us-east-1")
		}
		for _, r := range t.Regions {
			if len(r.Nodes) == 0 {
				continue
			}
			n := r.Nodes[0]
			o := cdn.Origin{Name: r.Name}
			switch {
			case d.Origin.Bucket != "":
				o.URL, o.Sign, o.DropQuery = "http://"+n.APIAddr()+"/"+d.Origin.Bucket, sign, true
			case len(r.Groups) > 0:
				o.URL = "http://" + n.LBAddr()
			default:
				continue // no balancer in this region
			}
			cd.Origins = append(cd.Origins, o)
		}
		if len(cd.Origins) == 0 {
			return nil, fmt.Errorf("distribution %s: no region can serve its origin", d.Name)
		}
		dists = append(dists, cd)
	}
	return dists, nil
}

// regionOrder is the regions, healthy (by the global verdict) before
// unhealthy, nearest (by the edge's measurement) first.
func regionOrder(t *topology.Topology, checker *health.Checker, measured measuredRTT) []string {
	type cand struct {
		name    string
		healthy bool
		rtt     time.Duration
	}
	cs := make([]cand, 0, len(t.Regions))
	for _, r := range t.Regions {
		healthy, _ := checker.Health(r.Name)
		rtt, ok := measured.RTT(r.Name)
		if !ok {
			rtt = time.Hour
		}
		cs = append(cs, cand{r.Name, healthy, rtt})
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if a.healthy != b.healthy {
			if a.healthy {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.rtt, b.rtt)
	})
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return names
}

// router sends requests for a distribution's hosts, or under its path
// prefixes, to the cache and the rest to the accelerator.
type router struct {
	cache http.Handler
	// hosts maps each distribution host to whether its origin is a bucket.
	hosts    map[string]bool
	prefixes []prefixRoute
	proxy    http.Handler
}

type prefixRoute struct{ prefix, host string }

func newRouter(t *topology.Topology, cache, proxy http.Handler) *router {
	rt := &router{cache: cache, proxy: proxy, hosts: map[string]bool{}}
	for _, d := range t.CDN.Distributions {
		for _, h := range d.Hosts {
			rt.hosts[strings.ToLower(h)] = d.Origin.Bucket != ""
		}
		for _, p := range d.PathPrefixes {
			rt.prefixes = append(rt.prefixes, prefixRoute{p, d.PrefixHost()})
		}
	}
	return rt
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch m, bucket, host := rt.match(r); m {
	case cacheHost:
		// A path ending in "/" names no object: to a bucket it would be a
		// listing, which the edge's credentials must not give to anyone
		// who asks.
		if bucket && strings.HasSuffix(r.URL.Path, "/") {
			http.Error(w, "no such object: give the key of an object", http.StatusNotFound)
			return
		}
		rt.cache.ServeHTTP(w, r)
	case cachePrefix:
		r.Host = host
		rt.cache.ServeHTTP(w, r)
	default:
		rt.proxy.ServeHTTP(w, r)
	}
}

// Where the router sends a request.
const (
	toProxy     = iota
	cacheHost   // a distribution's host
	cachePrefix // a path under a distribution's prefix
)

// match says where r goes: with cacheHost, whether the distribution's
// origin is a bucket; with cachePrefix, the distribution's host.
func (rt *router) match(r *http.Request) (where int, bucket bool, host string) {
	if rt.cache == nil {
		return toProxy, false, ""
	}
	h := strings.ToLower(r.Host)
	if hh, _, ok := strings.Cut(h, ":"); ok {
		h = hh
	}
	if bucket, ok := rt.hosts[h]; ok {
		return cacheHost, bucket, ""
	}
	for _, p := range rt.prefixes {
		if strings.HasPrefix(r.URL.Path, p.prefix) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			return cachePrefix, false, p.host
		}
	}
	return toProxy, false, ""
}

// claims reports whether the router serves r itself rather than pass it to
// the accelerator (edgeproxy.Config.Wrapped).
func (rt *router) claims(r *http.Request) bool {
	where, _, _ := rt.match(r)
	return where != toProxy
}
