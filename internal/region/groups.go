package region

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/lb"
	"github.com/meridian-platform/meridian/internal/topology"
)

// lbConfig builds the region's load balancer: one target group per
// instance group, with the group's health check, drain delay and slow
// start, and the region's listener rules.
func lbConfig(r topology.Region) lb.Config {
	cfg := lb.Config{DefaultGroup: r.LoadBalancer.DefaultGroup}
	for _, g := range r.Groups {
		cfg.TargetGroups = append(cfg.TargetGroups, lb.TargetGroup{
			Name:      g.Name,
			Algorithm: r.LoadBalancer.Algorithm,
			HealthCheck: lb.HealthCheck{
				Path:               g.HealthCheck.Path,
				Interval:           g.HealthCheck.Interval,
				Timeout:            g.HealthCheck.Timeout,
				HealthyThreshold:   g.HealthCheck.HealthyThreshold,
				UnhealthyThreshold: g.HealthCheck.UnhealthyThreshold,
			},
			DeregistrationDelay: g.DrainDelay,
			SlowStart:           g.SlowStart,
		})
	}
	for _, rule := range r.LoadBalancer.Rules {
		cfg.Rules = append(cfg.Rules, lb.Rule{Host: rule.Host, PathPrefix: rule.PathPrefix, Group: rule.Group})
	}
	return cfg
}

// instanceEnv is what every instance of the region gets in its
// environment: the region's API endpoint, the bootstrap credentials and the
// region's name, so that an AWS SDK needs no configuration.
func instanceEnv(t *topology.Topology, region string, self topology.Node) map[string]string {
	env := map[string]string{
		"AWS_ENDPOINT_URL": "http://" + self.APIAddr(),
		"AWS_REGION":       region,
		"MERIDIAN_REGION":  region,
	}
	if t.Secrets.BootstrapCredentials != "" {
		env["AWS_SHARED_CREDENTIALS_FILE"] = t.Secrets.BootstrapCredentials
		env["AWS_PROFILE"] = iam.Profile
	}
	return env
}

// instanceLogDir is where a node's instances write their output:
// <data_dir>/instances/<node>/<group>/<instance>.log.
func instanceLogDir(t *topology.Topology, node string) string {
	return filepath.Join(t.DataDir, "instances", node)
}

// lbTargets is the load balancer as the supervisor's Targets (and
// HealthWaiter, through the embedded WaitHealthy).
type lbTargets struct{ *lb.LB }

func (l lbTargets) Stats(group string) ([]compute.TargetStats, error) {
	st, err := l.LB.Stats(group)
	if err != nil {
		return nil, err
	}
	out := make([]compute.TargetStats, 0, len(st))
	for _, s := range st {
		out = append(out, compute.TargetStats{ID: s.ID, InFlight: s.InFlight, Requests: s.Requests})
	}
	return out, nil
}

var (
	_ compute.Targets      = lbTargets{}
	_ compute.HealthWaiter = lbTargets{}
)

// ApplyResult is what POST /admin/groups/{name} answers.
type ApplyResult struct {
	Region string `json:"region"`
	Node   string `json:"node"`
	Group  string `json:"group"`
	// Changes lists what differs from the group's previous spec, one
	// "field: old -> new" each; empty when nothing changed.
	Changes []string `json:"changes"`
	// Rolling is true when the change replaces instances one at a time
	// (command, arguments, environment, health check, timeouts).
	Rolling bool `json:"rolling"`
	// Converged is true when every instance runs the new spec and is
	// healthy, as many as desired, within the request's wait.
	Converged bool `json:"converged"`
	// Progress says how far the group is when it has not converged.
	Progress string `json:"progress,omitempty"`
}

// maxGroupBody bounds a group spec sent to the admin API.
const maxGroupBody = 1 << 20

// maxApplyWait bounds ?wait= on POST /admin/groups/{name}.
const maxApplyWait = 5 * time.Minute

// applyGroup serves POST /admin/groups/{name}: the body is a group spec
// (JSON or YAML, as topology.ParseGroup reads it) for one of the region's
// groups; it is applied at once (a rolling update when the instances'
// template changes) and the answer lists what changed. With ?wait=DURATION
// the answer waits, that long at most, for the group to converge: 200 when
// it has, 202 when it is still rolling.
//
// Limitation: the load balancer's target group keeps the health check,
// deregistration delay and slow start it was built with until the node
// restarts (the load balancer cannot change a target group at run time);
// the supervisor uses the new ones at once. `meridian apply` writes the
// spec into the topology file, so a restart picks them up.
func (n *Node) applyGroup(sup *compute.Supervisor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if sup == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("region %s runs no instance groups; declare them under the region's groups in the topology file", n.region))
			return
		}
		var wait time.Duration
		if s := r.URL.Query().Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > maxApplyWait {
				writeError(w, http.StatusBadRequest, fmt.Errorf("wait %q: give a duration from 0s to %s, such as 30s", s, maxApplyWait))
				return
			}
			wait = d
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGroupBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		spec, err := topology.ParseGroup(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if spec.Name != name {
			writeError(w, http.StatusBadRequest, fmt.Errorf("the spec names group %q but was sent to /admin/groups/%s", spec.Name, name))
			return
		}

		n.applyMu.Lock()
		old, ok := n.specs[name]
		if !ok {
			n.applyMu.Unlock()
			writeError(w, http.StatusNotFound, fmt.Errorf("region %s has no group %q (its groups: %s); declare new groups in the topology file, since the load balancer's target groups are fixed when the node starts",
				n.region, name, strings.Join(slices.Sorted(maps.Keys(n.specs)), ", ")))
			return
		}
		changes, rolling := diffSpecs(old, spec)
		// Applied under applyMu with a context that is already done, so
		// concurrent applies reach the supervisor in the order they are
		// recorded; the wait for convergence happens below, unlocked.
		done, cancel := context.WithCancel(r.Context())
		cancel()
		err = sup.Update(done, spec)
		if err == nil || errors.Is(err, context.Canceled) {
			n.specs[name] = spec
		}
		n.applyMu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if len(changes) > 0 {
			n.log.Info("group spec applied", "group", name, "changes", strings.Join(changes, "; "), "rolling", rolling)
		}

		res := ApplyResult{Region: n.region, Node: n.self.Name, Group: name, Changes: changes, Rolling: rolling}
		if changes == nil {
			res.Changes = []string{}
		}
		ctx, cancelWait := context.WithTimeout(r.Context(), wait)
		defer cancelWait()
		if err := sup.Update(ctx, spec); err != nil {
			res.Progress = err.Error()
		} else {
			res.Converged = true
		}
		code := http.StatusOK
		if !res.Converged {
			code = http.StatusAccepted
		}
		writeJSON(w, code, res)
	}
}

// diffSpecs lists the fields that differ between a and b, and whether
// any of them makes the supervisor replace instances.
func diffSpecs(a, b compute.GroupSpec) (changes []string, rolling bool) {
	add := func(roll bool, field string, x, y any) {
		if fmt.Sprint(x) == fmt.Sprint(y) {
			return
		}
		changes = append(changes, fmt.Sprintf("%s: %s -> %s", field, show(x), show(y)))
		rolling = rolling || roll
	}
	add(true, "command", a.Command, b.Command)
	add(true, "args", a.Args, b.Args)
	add(true, "env", sortedEnv(a.Env), sortedEnv(b.Env))
	add(false, "min", a.Min, b.Min)
	add(false, "max", a.Max, b.Max)
	add(false, "desired", a.Desired, b.Desired)
	add(true, "health_check", a.HealthCheck, b.HealthCheck)
	add(false, "scaling", a.Scaling, b.Scaling)
	add(true, "start_timeout", a.StartTimeout, b.StartTimeout)
	add(true, "stop_timeout", a.StopTimeout, b.StopTimeout)
	add(false, "drain_delay", a.DrainDelay, b.DrainDelay)
	add(false, "slow_start", a.SlowStart, b.SlowStart)
	return changes, rolling
}

func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// show prints a spec value for a change line: empty lists read "(none)",
// other zero values "(default)".
func show(v any) string {
	s := fmt.Sprintf("%+v", v)
	switch s {
	case "[]":
		return "(none)"
	case "", "0", "0s", "{Path: Interval:0s Timeout:0s HealthyThreshold:0 UnhealthyThreshold:0}", "{Metric: Target:0 WarmUp:0s Cooldown:0s}":
		return "(default)"
	}
	return s
}
