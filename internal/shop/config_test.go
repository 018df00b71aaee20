package shop

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"empty", nil, Config{}},
		{"port only", map[string]string{"PORT": "9001"}, Config{Addr: "127.0.0.1:9001"}},
		{"host and port", map[string]string{"HOST": "127.0.1.2", "PORT": "31000"}, Config{Addr: "127.0.1.2:31000"}},
		{"listen addr wins", map[string]string{"MERIDIAN_LISTEN_ADDR": "127.0.1.3:20001", "HOST": "127.0.1.3", "PORT": "20001"}, Config{Addr: "127.0.1.3:20001"}},
		{"ipv6 host", map[string]string{"HOST": "::1", "PORT": "1"}, Config{Addr: "[::1]:1"}},
		{"meridian and aws", map[string]string{
			"MERIDIAN_REGION": "eu-west", "MERIDIAN_INSTANCE": "shop-3",
			"AWS_ENDPOINT_URL": "http://127.0.1.2:4566", "AWS_REGION": "eu-west",
			"AWS_SHARED_CREDENTIALS_FILE": "/data/credentials", "AWS_PROFILE": "meridian",
		}, Config{
			Region: "eu-west", Instance: "shop-3", Endpoint: "http://127.0.1.2:4566", AWSRegion: "eu-west",
			CredentialsFile: "/data/credentials", Profile: "meridian",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := configFromEnv(func(k string) string { return tc.env[k] })
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{Region: "us-east", Addr: "127.0.0.1:9001"}.withDefaults()
	if got.AWSRegion != "us-east" || !strings.HasSuffix(got.Instance, ":9001") || len(got.Catalog) != len(DefaultCatalog()) {
		t.Errorf("defaults: got AWSRegion %q, Instance %q, %d products", got.AWSRegion, got.Instance, len(got.Catalog))
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"minimal", Config{Region: "us-east"}, ""},
		{"no region", Config{}, "MERIDIAN_REGION"},
		{"bad port", Config{Region: "r", Addr: "127.0.0.1:http"}, "port must be a number"},
		{"no port", Config{Region: "r", Addr: "127.0.0.1"}, "missing port"},
		{"bad product id", Config{Region: "r", Catalog: []Product{{ID: "Mug!", Name: "m", PriceCents: 1}}}, `product id "Mug!"`},
		{"free product", Config{Region: "r", Catalog: []Product{{ID: "m", Name: "m"}}}, "positive price"},
		{"duplicate", Config{Region: "r", Catalog: []Product{{ID: "m", Name: "m", PriceCents: 1}, {ID: "m", Name: "n", PriceCents: 1}}}, "appears twice"},
		{"negative settle", Config{Region: "r", Settle: -1}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestRun: Run refuses a bad configuration and an address in use with
// errors that say so.
func TestRun(t *testing.T) {
	if err := Run(t.Context(), Config{}); err == nil || !strings.Contains(err.Error(), "MERIDIAN_REGION") {
		t.Errorf("without a region: got %v, want an error naming MERIDIAN_REGION", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Run(t.Context(), Config{Region: "us-east", Addr: ln.Addr().String()}); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("on a busy address: got %v, want address already in use", err)
	}
}

func TestAllocate(t *testing.T) {
	for _, tc := range []struct {
		total   int64
		regions []string
		want    string
	}{
		{6, []string{"us-east", "eu-west"}, "map[eu-west:3 us-east:3]"},
		{7, []string{"us-east", "eu-west", "ap-south"}, "map[ap-south:3 eu-west:2 us-east:2]"},
		{1, []string{"us-east", "eu-west"}, "map[eu-west:1 us-east:0]"},
		{0, []string{"us-east"}, "map[us-east:0]"},
		{5, []string{"b", "a", "b"}, "map[a:3 b:2]"},
		{5, nil, "map[]"},
	} {
		t.Run(fmt.Sprint(tc.total, tc.regions), func(t *testing.T) {
			got := allocate(tc.total, tc.regions)
			if fmt.Sprint(got) != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
			var sum int64
			for _, n := range got {
				sum += n
			}
			if len(got) > 0 && sum != tc.total {
				t.Errorf("allocations sum to %d, want %d", sum, tc.total)
			}
		})
	}
}

func TestMoney(t *testing.T) {
	for cents, want := range map[int64]string{0: "$0.00", 5: "$0.05", 1400: "$14.00", 12345: "$123.45", -250: "-$2.50"} {
		if got := money(cents); got != want {
			t.Errorf("money(%d): got %q, want %q", cents, got, want)
		}
	}
}
