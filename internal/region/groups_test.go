package region

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/topology"
)

// instanceEnvVar makes the test binary serve as an instance: it answers
// every request with the environment the supervisor gave it.
const instanceEnvVar = "REGION_TEST_INSTANCE"

func TestMain(m *testing.M) {
	if os.Getenv(instanceEnvVar) != "" {
		serveInstance()
		return
	}
	os.Exit(m.Run())
}

func serveInstance() {
	env := map[string]string{}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "MERIDIAN_REGION", "MERIDIAN_INSTANCE", "COLOR"} {
		env[k] = os.Getenv(k)
	}
	body, _ := json.Marshal(env)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	if err := http.ListenAndServe(os.Getenv(compute.EnvAddr), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// startGroupNode runs a node (no API, no TLS) of a region with one group
// "web" of the test binary as instance, and returns it once its admin port
// serves.
func startGroupNode(t *testing.T) (*Node, topology.Node) {
	t.Helper()
	host := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(150), rand.IntN(256))
	fast := compute.HealthCheck{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond}
	topo := &topology.Topology{
		Version: topology.Version,
		DataDir: t.TempDir(),
		Secrets: topology.Secrets{BootstrapCredentials: "/creds/file"},
		Regions: []topology.Region{{
			Name:  "us-east",
			Nodes: []topology.Node{{Name: "us-east-1", Host: host}},
			Groups: []compute.GroupSpec{{
				Name: "web", Command: os.Args[0], Env: map[string]string{instanceEnvVar: "1", "COLOR": "blue"},
				Min: 2, Max: 3, HealthCheck: fast, DrainDelay: time.Second, StopTimeout: time.Second,
			}},
			LoadBalancer: topology.LoadBalancer{Rules: []topology.Rule{{PathPrefix: "/", Group: "web"}}},
		}},
	}
	topo.SetDefaults()
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Topology: topo, Node: "us-east-1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("node did not stop within 15s")
		}
	})
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("node not ready within 10s")
	}
	return n, topo.Regions[0].Nodes[0]
}

func getStatus(t *testing.T, self topology.Node) Status {
	t.Helper()
	resp, err := http.Get("http://" + self.AdminAddr() + "/admin/status")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// awaitHealthy waits until the group has want healthy instances and
// returns the status.
func awaitHealthy(t *testing.T, self topology.Node, want int, timeout time.Duration) compute.GroupStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := getStatus(t, self)
		if len(s.Groups) != 1 {
			t.Fatalf("status groups = %+v, want one group", s.Groups)
		}
		g := s.Groups[0]
		healthy := 0
		for _, i := range g.Instances {
			if i.Healthy {
				healthy++
			}
		}
		if healthy == want && len(g.Instances) == want {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not at %d healthy instances within %s: %+v", want, timeout, g)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getLB(t *testing.T, self topology.Node) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + self.LBAddr() + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET through the load balancer: %d %s", resp.StatusCode, body)
	}
	var env map[string]string
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("instance answered %q: %v", body, err)
	}
	return env
}

func TestGroupsRunBehindTheLoadBalancer(t *testing.T) {
	t.Parallel()
	_, self := startGroupNode(t)
	g := awaitHealthy(t, self, 2, 15*time.Second)
	if g.Name != "web" || g.Min != 2 || g.Max != 3 || g.Desired != 2 {
		t.Errorf("group status = %+v, want web min 2 max 3 desired 2", g)
	}
	host, _, _ := net.SplitHostPort(self.LBAddr())
	for _, i := range g.Instances {
		if h, _, _ := net.SplitHostPort(i.Addr); h != host || i.PID <= 0 {
			t.Errorf("instance %+v: want a pid and an address on the node's host %s", i, host)
		}
	}

	// Both instances answer through the balancer, with the region's
	// environment.
	seen := map[string]bool{}
	for range 4 {
		env := getLB(t, self)
		seen[env["MERIDIAN_INSTANCE"]] = true
		want := map[string]string{
			"AWS_ENDPOINT_URL": "http://" + self.APIAddr(), "AWS_REGION": "us-east", "MERIDIAN_REGION": "us-east",
			"AWS_PROFILE": "meridian", "AWS_SHARED_CREDENTIALS_FILE": "/creds/file", "COLOR": "blue",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("instance env %s = %q, want %q", k, env[k], v)
			}
		}
	}
	if len(seen) != 2 {
		t.Errorf("4 requests reached instances %v, want both of the 2 instances", seen)
	}

	// Deep health: storage writable and a healthy instance in every group.
	resp, err := http.Get("http://" + self.AdminAddr() + "/healthz/deep")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var h DeepHealth
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !h.Healthy || h.Storage != "ok" || h.Groups["web"] != 2 {
		t.Errorf("deep health = %d %+v, want 200, healthy, storage ok, 2 healthy web instances", resp.StatusCode, h)
	}
}

func TestApplyGroupRollsAndReportsChanges(t *testing.T) {
	t.Parallel()
	_, self := startGroupNode(t)
	before := awaitHealthy(t, self, 2, 15*time.Second)

	post := func(body, query string) (int, ApplyResult, string) {
		t.Helper()
		resp, err := http.Post("http://"+self.AdminAddr()+"/admin/groups/web"+query, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		data, _ := io.ReadAll(resp.Body)
		var r ApplyResult
		_ = json.Unmarshal(data, &r)
		return resp.StatusCode, r, string(data)
	}

	bad := []struct{ name, path, body, want string }{
		{"unknown field", "", `{"name":"web","command":"x","replicas":2}`, `unknown field "replicas"`},
		{"name mismatch", "", `{"name":"api","command":"x"}`, `the spec names group "api" but was sent to /admin/groups/web`},
		{"bad wait", "?wait=forever", `{"name":"web","command":"x"}`, `wait "forever"`},
	}
	for _, tt := range bad {
		code, _, body := post(tt.body, tt.path)
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(body), &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, tt.want) {
			t.Errorf("%s: got %d %s, want 400 with an error containing %q", tt.name, code, body, tt.want)
		}
	}

	spec := fmt.Sprintf(`{"name":"web","command":%q,"env":{%q:"1","COLOR":"green"},"min":2,"max":3,
		"health_check":{"interval":"100ms","timeout":"100ms"},"drain_delay":"1s","stop_timeout":"1s"}`, os.Args[0], instanceEnvVar)
	code, res, body := post(spec, "?wait=30s")
	if code != http.StatusOK || !res.Converged || !res.Rolling {
		t.Fatalf("apply: got %d %s, want 200, rolling and converged", code, body)
	}
	if want := []string{"env: [COLOR=blue REGION_TEST_INSTANCE=1] -> [COLOR=green REGION_TEST_INSTANCE=1]"}; !slices.Equal(res.Changes, want) {
		t.Errorf("changes = %q, want %q", res.Changes, want)
	}
	after := awaitHealthy(t, self, 2, 15*time.Second)
	for _, a := range after.Instances {
		for _, b := range before.Instances {
			if a.ID == b.ID || a.PID == b.PID {
				t.Errorf("instance %+v survived a rolling update (before: %+v)", a, before.Instances)
			}
		}
	}
	if env := getLB(t, self); env["COLOR"] != "green" {
		t.Errorf("after the update an instance has COLOR=%q, want green", env["COLOR"])
	}

	// The same spec again changes nothing.
	code, res, body = post(spec, "")
	if code != http.StatusOK || len(res.Changes) != 0 || res.Rolling || !res.Converged {
		t.Errorf("applying the same spec again: got %d %s, want 200 with no changes", code, body)
	}
}
