package topology

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/compute"
)

func TestValidateGroups(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Region)
		want   string
	}{
		{"duplicate group", func(r *Region) { r.Groups[1].Name = "shop" },
			`regions[1].groups[1].name: "shop" is already the name of regions[1].groups[0]`},
		{"group without command", func(r *Region) { r.Groups[1].Command = "" },
			"regions[1].groups[1]: instance group api: no command"},
		{"group min above max", func(r *Region) { r.Groups[0].Min, r.Groups[0].Max = 7, 6 },
			"regions[1].groups[0]: instance group shop: min 7 is larger than max 6"},
		{"rule to unknown group", func(r *Region) { r.LoadBalancer.Rules[0].Group = "apj" },
			`regions[1].load_balancer.rules[0].group: "apj" is not a group of region eu-west (its groups: shop, api)`},
		{"rule without group", func(r *Region) { r.LoadBalancer.Rules[1].Group = "" },
			"regions[1].load_balancer.rules[1].group: required: name one of the region's groups"},
		{"relative path prefix", func(r *Region) { r.LoadBalancer.Rules[1].PathPrefix = "api" },
			`regions[1].load_balancer.rules[1].path_prefix: "api" must start with /`},
		{"inner wildcard", func(r *Region) { r.LoadBalancer.Rules[0].Host = "api.*.com" },
			`regions[1].load_balancer.rules[0].host: "api.*.com" may only have a leading "*." wildcard`},
		{"unknown default group", func(r *Region) { r.LoadBalancer.DefaultGroup = "web" },
			`regions[1].load_balancer.default_group: "web" is not a group of region eu-west`},
		{"unknown algorithm", func(r *Region) { r.LoadBalancer.Algorithm = "random" },
			`regions[1].load_balancer.algorithm: "random" is not known; use "round_robin" or "least_outstanding"`},
		{"rules without groups", func(r *Region) { r.Groups = nil; r.LoadBalancer.DefaultGroup = "" },
			`regions[1].load_balancer.rules[0].group: "api" is not a group of region eu-west (its groups: none)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := exampleTopology()
			tt.mutate(&top.Regions[1])
			err := top.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: got %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseGroup(t *testing.T) {
	want := compute.GroupSpec{
		Name: "shop", Command: "meridian", Args: []string{"shop", "serve"}, Min: 2, Max: 6, Desired: 3,
		Env:         map[string]string{"A": "b"},
		HealthCheck: compute.HealthCheck{Path: "/healthz", Interval: time.Second},
		DrainDelay:  5 * time.Second,
	}
	inputs := map[string]string{
		"yaml":                       "name: shop\ncommand: meridian\nargs: [shop, serve]\nenv: {A: b}\nmin: 2\nmax: 6\ndesired: 3\nhealth_check: {path: /healthz, interval: 1s}\ndrain_delay: 5s\n",
		"json with duration strings": `{"name":"shop","command":"meridian","args":["shop","serve"],"env":{"A":"b"},"min":2,"max":6,"desired":3,"health_check":{"path":"/healthz","interval":"1s"},"drain_delay":"5s"}`,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			got, err := ParseGroup([]byte(in))
			if err != nil {
				t.Fatalf("ParseGroup: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseGroup:\ngot  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseGroupErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "group spec is empty"},
		{"unknown field", "name: shop\ncommand: x\nreplicas: 3\n", `line 3: unknown field "replicas" (known fields here: name, command, args, env, min, max, desired, health_check, scaling, start_timeout, stop_timeout, drain_delay, slow_start)`},
		{"duration without unit", "name: shop\ncommand: x\ndrain_delay: soon\n", "write durations with a unit"},
		{"invalid spec", "name: shop\nmin: 3\nmax: 2\n", "no command"},
		{"json duration in nanoseconds", `{"name":"shop","command":"x","drain_delay":5000000000}`, "write durations with a unit"},
		{"two documents", "name: shop\ncommand: x\n---\nname: b\n", "a group spec is one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGroup([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseGroup(%q): got %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}
