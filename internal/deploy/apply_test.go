package deploy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/topology"
)

func TestNewTopologyDeclaresTheShop(t *testing.T) {
	topo, err := newTopology(Config{Subnet: "127.5.6"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range topo.Regions {
		g, ok := r.Group("shop")
		if !ok || g.Command != "meridian" || !reflect.DeepEqual(g.Args, []string{"shop", "serve"}) || g.Min != 2 || g.Max != 6 || g.Desired != 2 {
			t.Errorf("region %s shop group = %+v (found %v), want meridian shop serve, min 2 max 6 desired 2", r.Name, g, ok)
		}
		if want := []topology.Rule{{PathPrefix: "/", Group: "shop"}}; !reflect.DeepEqual(r.LoadBalancer.Rules, want) {
			t.Errorf("region %s rules = %+v, want %+v", r.Name, r.LoadBalancer.Rules, want)
		}
	}
	eps := endpointsFor(topo)
	if got := eps.Nodes[1].LB; got != "http://127.5.6.2:8080" {
		t.Errorf("eu-west lb endpoint = %q, want http://127.5.6.2:8080", got)
	}
}

// TestApply applies a spec to a deployment whose two nodes are fake admin
// servers: the topology file takes the spec, every node gets it, and the
// printed results say what each node answered.
func TestApply(t *testing.T) {
	dir := t.TempDir()
	topo, err := newTopology(Config{Regions: []string{"us-east", "eu-west"}, Subnet: "127.5.7"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := topo.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, TopologyFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	token, err := admintoken.Ensure(topo.Secrets.AdminTokenFile) // as up does
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.String()+" "+string(body))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"no admin token"}`)
			return
		}
		_, _ = io.WriteString(w, `{"changes":["desired: 2 -> 3"],"rolling":false,"converged":true}`)
	}))
	defer ok.Close()
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"nope"}`)
	}))
	defer refuse.Close()
	eps := Endpoints{Nodes: []Endpoint{
		{Name: "us-east-1", Region: "us-east", Admin: ok.URL},
		{Name: "eu-west-1", Region: "eu-west", Admin: refuse.URL},
	}}
	if err := WriteEndpoints(dir, eps); err != nil {
		t.Fatal(err)
	}

	spec := "name: shop\ncommand: meridian\nargs: [shop, serve]\nmin: 2\nmax: 6\ndesired: 3\n"
	results, err := Apply(context.Background(), dir, []byte(spec), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"POST /admin/groups/shop?wait=0s " + spec}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	var out bytes.Buffer
	if err := WriteApplyResults(&out, results); err != nil {
		t.Fatal(err)
	}
	want := "us-east (us-east-1) group shop: desired: 2 -> 3, converged\neu-west (eu-west-1) group shop: FAILED: nope\n"
	if out.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
	again, err := topology.Load(filepath.Join(dir, TopologyFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again.Regions {
		if g, _ := r.Group("shop"); g.Desired != 3 {
			t.Errorf("topology file region %s: shop desired %d, want 3", r.Name, g.Desired)
		}
	}

	for _, tt := range []struct{ name, spec, want string }{
		{"unknown group", "name: web\ncommand: x\n", `regions us-east, eu-west declare no group "web"`},
		{"invalid spec", "name: shop\ncommand: x\nmin: 3\nmax: 2\n", "min 3 is larger than max 2"},
	} {
		if _, err := Apply(context.Background(), dir, []byte(tt.spec), 0, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Apply error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
