package compute

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSpecFromYAMLWithDefaults(t *testing.T) {
	const doc = `
name: shop
command: meridian
args: [shop, serve]
env: {SHOP_SEED: "1"}
min: 2
max: 6
health_check: {path: /ready, interval: 2s}
scaling: {metric: in_flight, target: 20, warm_up: 15s}
drain_delay: 5s
slow_start: 3s
`
	var s GroupSpec
	if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	d := s.withDefaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"desired", d.Desired, 2},
		{"max", d.Max, 6},
		{"health path", d.HealthCheck.Path, "/ready"},
		{"health interval", d.HealthCheck.Interval, 2 * time.Second},
		{"health timeout", d.HealthCheck.Timeout, DefaultHealthTimeout},
		{"healthy threshold", d.HealthCheck.HealthyThreshold, 2},
		{"unhealthy threshold", d.HealthCheck.UnhealthyThreshold, 2},
		{"warm-up", d.Scaling.WarmUp, 15 * time.Second},
		{"cooldown", d.Scaling.Cooldown, DefaultCooldown},
		{"drain delay", d.DrainDelay, 5 * time.Second},
		{"slow start", d.SlowStart, 3 * time.Second},
		{"env", d.Env["SHOP_SEED"], "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Defaults fill a copy; the caller's spec is untouched.
	if s.Desired != 0 || s.HealthCheck.Timeout != 0 {
		t.Errorf("withDefaults changed its receiver: %+v", s)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := GroupSpec{Name: "shop", Command: "meridian"}
	tests := []struct {
		name string
		edit func(*GroupSpec)
		want string // substring of the error; "" means valid
	}{
		{"minimal", func(*GroupSpec) {}, ""},
		{"no name", func(s *GroupSpec) { s.Name = "" }, `group name ""`},
		{"bad name", func(s *GroupSpec) { s.Name = "Shop_1" }, "lowercase letters, digits and dashes"},
		{"no command", func(s *GroupSpec) { s.Command = " " }, "no command"},
		{"min above max", func(s *GroupSpec) { s.Min, s.Max = 3, 2 }, "min 3 is larger than max 2"},
		{"desired outside", func(s *GroupSpec) { s.Min, s.Max, s.Desired = 1, 3, 5 }, "desired 5 is outside min 1 .. max 3"},
		{"negative", func(s *GroupSpec) { s.Min = -1 }, "cannot be negative"},
		{"too many", func(s *GroupSpec) { s.Max = MaxInstances + 1 }, "more than the 256"},
		{"path", func(s *GroupSpec) { s.HealthCheck.Path = "healthz" }, "must start with /"},
		{"timeout over interval", func(s *GroupSpec) {
			s.HealthCheck.Interval, s.HealthCheck.Timeout = time.Second, 2*time.Second
		}, "timeout 2s is longer than its interval 1s"},
		{"unknown metric", func(s *GroupSpec) { s.Scaling.Metric, s.Scaling.Target = "cpu", 50 }, `scaling metric "cpu"`},
		{"metric without target", func(s *GroupSpec) { s.Scaling.Metric = MetricRPS }, "needs a target above zero"},
		{"target without metric", func(s *GroupSpec) { s.Scaling.Target = 5 }, "without a metric"},
		{"reserved env", func(s *GroupSpec) { s.Env = map[string]string{"PORT": "80"} }, "PORT is set by the supervisor"},
		{"bad env name", func(s *GroupSpec) { s.Env = map[string]string{"A=B": "x"} }, `"A=B"`},
		{"negative duration", func(s *GroupSpec) { s.DrainDelay = -time.Second }, "drain_delay -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.want != "" && err == nil:
				t.Errorf("got no error, want one containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("got error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero", Config{}, ""},
		{"host", Config{Host: "localhost"}, `host "localhost" is not an IP address`},
		{"ports", Config{PortRange: PortRange{30000, 20000}}, "port range 30000-20000"},
		{"backoff", Config{BackoffMin: time.Minute, BackoffMax: time.Second}, "backoff minimum 1m0s exceeds maximum 1s"},
		{"duplicate group", Config{Groups: []GroupSpec{{Name: "a", Command: "x"}, {Name: "a", Command: "y"}}}, "declared twice"},
		{"bad group", Config{Groups: []GroupSpec{{Name: "a"}}}, "instance group a: no command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
	for in, want := range map[string]string{"20000-29999": "20000-29999", "8081": "8081-8081", "1-2-3": "", "x": "", "0-10": ""} {
		got, err := ParsePortRange(in)
		if (err == nil) != (want != "") || (err == nil && got.String() != want) {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %q", in, got, err, want)
		}
	}
}

func TestDecide(t *testing.T) {
	base := scaleInput{target: 10, min: 1, max: 6, desired: 2, inService: 2, cooldown: time.Minute, sinceLastAction: time.Hour}
	tests := []struct {
		name    string
		edit    func(*scaleInput)
		want    int
		dirWant string
	}{
		{"on target holds", func(in *scaleInput) { in.warmed = []float64{10, 10} }, 2, ""},
		{"load doubles", func(in *scaleInput) { in.warmed = []float64{20, 20} }, 4, "out"},
		{"rounds up", func(in *scaleInput) { in.warmed = []float64{10.5, 10} }, 3, "out"},
		{"float noise does not round up", func(in *scaleInput) { in.warmed = []float64{10.000000000001, 10} }, 2, ""},
		{"clamped to max", func(in *scaleInput) { in.warmed = []float64{100, 100} }, 6, "out"},
		{"idle scales to min", func(in *scaleInput) { in.warmed = []float64{0, 0} }, 1, "in"},
		{"min above one", func(in *scaleInput) { in.min, in.warmed = 2, []float64{0, 0} }, 2, ""},
		{"warming instances left out of average", func(in *scaleInput) {
			in.inService, in.desired, in.warming, in.warmed = 4, 4, 2, []float64{20, 20}
		}, 6, "out"}, // 20 × 4 / 10 = 8, clamped to 6
		{"scale-in waits for warm-up", func(in *scaleInput) {
			in.inService, in.desired, in.warming, in.warmed = 4, 4, 2, []float64{1, 1}
		}, 4, ""},
		{"scale-in waits for cooldown", func(in *scaleInput) {
			in.everScaled, in.sinceLastAction, in.warmed = true, 30*time.Second, []float64{0, 0}
		}, 2, ""},
		{"scale-out ignores cooldown", func(in *scaleInput) {
			in.everScaled, in.sinceLastAction, in.warmed = true, time.Second, []float64{30, 30}
		}, 6, "out"},
		{"nothing measured", func(in *scaleInput) { in.warmed = nil }, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.edit(&in)
			d := decide(in)
			if d.desired != tc.want || d.direction != tc.dirWant {
				t.Errorf("got desired %d direction %q (%s), want %d %q", d.desired, d.direction, d.why, tc.want, tc.dirWant)
			}
		})
	}
}
