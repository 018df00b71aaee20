package health

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	web := Check{ID: "web", Type: HTTP, URL: "http://127.0.1.1:9000/readyz"}
	db := Check{ID: "db", Type: TCP, Addr: "127.0.1.1:4566"}
	with := func(k Check, f func(*Check)) Check { f(&k); return k }
	calc := func(id string, children ...string) Check {
		return Check{ID: id, Type: Calculated, Children: children}
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"valid", Config{Name: "edge-1", Checks: []Check{web, db, calc("all", "web", "db")},
			Peers: []Peer{{Name: "edge-2", URL: "http://127.0.2.2:9000"}}}, ""},
		{"self in peers is skipped", Config{Name: "edge-1", Checks: []Check{web},
			Peers: []Peer{{Name: "edge-1", URL: "http://127.0.2.1:9000"}, {Name: "edge-2", URL: "http://127.0.2.2:9000"}}}, ""},
		{"no name", Config{Checks: []Check{web}}, "checker name is empty"},
		{"duplicate ids", Config{Name: "a", Checks: []Check{web, with(db, func(k *Check) { k.ID = "web" })}}, `checks 1 and 2 have the same ID "web"`},
		{"no id", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.ID = "" })}}, "check 1 has no ID"},
		{"no type", Config{Name: "a", Checks: []Check{{ID: "x", URL: "http://h/"}}}, `check "x": no type`},
		{"unknown type", Config{Name: "a", Checks: []Check{{ID: "x", Type: "HTTPS"}}}, `unknown type "HTTPS"`},
		{"bad URL", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.URL = "http://[::1" })}}, `check "web": bad URL`},
		{"URL scheme", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.URL = "ftp://h/" })}}, "scheme must be http or https"},
		{"URL without host", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.URL = "/readyz" })}}, "scheme must be http or https"},
		{"no URL", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.URL = "" })}}, `check "web": URL is empty`},
		{"long search string", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.SearchString = strings.Repeat("x", 256) })}}, "search string is 256 bytes long"},
		{"tcp without port", Config{Name: "a", Checks: []Check{with(db, func(k *Check) { k.Addr = "127.0.1.1" })}}, `bad address "127.0.1.1"`},
		{"tcp port zero", Config{Name: "a", Checks: []Check{with(db, func(k *Check) { k.Addr = "h:0" })}}, "not a number between 1 and 65535"},
		{"tcp with URL", Config{Name: "a", Checks: []Check{with(db, func(k *Check) { k.URL = "http://h/" })}}, "URL does not apply to tcp checks"},
		{"http with children", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.Children = []string{"db"} })}}, "Children does not apply to http checks"},
		{"threshold too high", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.FailureThreshold = 11 })}}, "failure threshold 11 is out of range"},
		{"threshold negative", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.FailureThreshold = -1 })}}, "failure threshold -1 is out of range"},
		{"interval too short", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.Interval = time.Millisecond })}}, "interval 1ms is too short"},
		{"timeout over interval", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.Timeout = 2 * time.Second })}}, ""},
		{"timeout too long", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.Timeout = 2 * time.Minute })}}, "timeout 2m0s is out of range: it must be positive and at most 1m0s"},
		{"negative timeout", Config{Name: "a", Checks: []Check{with(web, func(k *Check) { k.Timeout = -time.Second })}}, "timeout -1s is out of range"},
		{"unknown child", Config{Name: "a", Checks: []Check{web, calc("all", "web", "nope")}}, `check "all": child "nope" is not a configured check`},
		{"self child", Config{Name: "a", Checks: []Check{calc("all", "all")}}, "lists itself as a child"},
		{"duplicate child", Config{Name: "a", Checks: []Check{web, calc("all", "web", "web")}}, `lists child "web" twice`},
		{"no children", Config{Name: "a", Checks: []Check{calc("all")}}, "needs at least one child"},
		{"healthy threshold above children", Config{Name: "a", Checks: []Check{web, with(calc("all", "web"), func(k *Check) { k.HealthyThreshold = 2 })}}, "healthy threshold 2 is out of range"},
		{"calculated with interval", Config{Name: "a", Checks: []Check{web, with(calc("all", "web"), func(k *Check) { k.Interval = time.Second })}}, "Interval does not apply to calculated checks"},
		{"cycle", Config{Name: "a", Checks: []Check{web, calc("x", "web", "y"), calc("y", "z"), calc("z", "x")}}, "calculated checks form a cycle: x → y → z → x"},
		{"peer without name", Config{Name: "a", Peers: []Peer{{URL: "http://h:9000"}}}, "peer 1 (http://h:9000) has no name"},
		{"peer twice", Config{Name: "a", Peers: []Peer{{Name: "b", URL: "http://h:9000"}, {Name: "b", URL: "http://i:9000"}}}, `peer "b" is listed twice`},
		{"peer bad URL", Config{Name: "a", Peers: []Peer{{Name: "b", URL: "h:9000"}}}, `peer "b": URL "h:9000": the scheme must be http or https`},
		{"expiry too short", Config{Name: "a", ExpireAfter: time.Millisecond}, "peer verdict expiry 1ms is too short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: got %v, want no error", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate: got no error, want one containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Validate: got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{Name: "a", Checks: []Check{
		{ID: "slow", Type: HTTP, URL: "http://h/"},
		{ID: "fast", Type: TCP, Addr: "h:1", Interval: 100 * time.Millisecond},
		{ID: "all", Type: Calculated, Children: []string{"slow", "fast"}},
	}}
	cfg.setDefaults()
	want := []Check{
		{Interval: time.Second, Timeout: 700 * time.Millisecond, FailureThreshold: 3},
		{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, FailureThreshold: 3},
		{HealthyThreshold: 2},
	}
	for i, w := range want {
		k := cfg.Checks[i]
		if k.Interval != w.Interval || k.Timeout != w.Timeout || k.FailureThreshold != w.FailureThreshold || k.HealthyThreshold != w.HealthyThreshold {
			t.Errorf("check %s after defaults: got interval %v timeout %v threshold %d healthy threshold %d, want %v %v %d %d",
				k.ID, k.Interval, k.Timeout, k.FailureThreshold, k.HealthyThreshold, w.Interval, w.Timeout, w.FailureThreshold, w.HealthyThreshold)
		}
	}
	if cfg.ExpireAfter != 6*time.Second {
		t.Errorf("ExpireAfter after defaults: got %v, want 6s", cfg.ExpireAfter)
	}
}
