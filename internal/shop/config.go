package shop

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Config configures one shop instance. The zero value of every field but
// Region means its default.
type Config struct {
	// Addr is the address to listen on (default 127.0.0.1:8000).
	// ConfigFromEnv takes MERIDIAN_LISTEN_ADDR, or builds it from HOST and
	// PORT.
	Addr string
	// Region is the Meridian region this instance runs in
	// (MERIDIAN_REGION). Required: it names the region's stock allocation
	// and goes into every response's X-Meridian-Region header.
	Region string
	// Instance names this instance in X-Meridian-Instance and in orders
	// (MERIDIAN_INSTANCE; default hostname:port).
	Instance string

	// Endpoint is the region's AWS-compatible API endpoint
	// (AWS_ENDPOINT_URL), such as http://127.0.1.1:4566. Empty leaves the
	// choice to the AWS SDK.
	Endpoint string
	// AWSRegion is the region the SDK signs requests for (AWS_REGION;
	// default Region).
	AWSRegion string
	// CredentialsFile (AWS_SHARED_CREDENTIALS_FILE) and Profile
	// (AWS_PROFILE) are where the SDK finds the access key; empty means the
	// SDK's defaults.
	CredentialsFile string
	Profile         string
	// Credentials, when set, are used instead of the shared credentials
	// file (tests and embedders).
	Credentials aws.CredentialsProvider

	// ImagesBucket is the S3 bucket that holds the product images
	// (SHOP_IMAGES_BUCKET; default "static"). The shop creates it if absent.
	ImagesBucket string

	// Catalog is the product catalog seeded on first start (default
	// DefaultCatalog).
	Catalog []Product
	// Settle is how long the table ids must stay unchanged after start-up
	// before the instance seeds data and serves (default 2s). Two regions
	// that create the same table at the same moment both succeed and the
	// later creation replaces the other; waiting for the catalog to settle
	// keeps seeded items out of a table that is about to be replaced.
	Settle time.Duration
	// HealthTTL is how long /healthz reuses its last probe of the API
	// (default 1s), so frequent health checks cost one DescribeTable a
	// second.
	HealthTTL time.Duration
	// Logger receives the instance's logs (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ConfigFromEnv reads the configuration an instance group passes to each
// process: MERIDIAN_LISTEN_ADDR, or HOST and PORT (the listen address),
// MERIDIAN_REGION,
// MERIDIAN_INSTANCE, and the AWS SDK's AWS_ENDPOINT_URL, AWS_REGION,
// AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE, and SHOP_IMAGES_BUCKET.
func ConfigFromEnv() Config { return configFromEnv(os.Getenv) }

func configFromEnv(getenv func(string) string) Config {
	cfg := Config{
		Region:          getenv("MERIDIAN_REGION"),
		Instance:        getenv("MERIDIAN_INSTANCE"),
		Endpoint:        getenv("AWS_ENDPOINT_URL"),
		AWSRegion:       getenv("AWS_REGION"),
		CredentialsFile: getenv("AWS_SHARED_CREDENTIALS_FILE"),
		Profile:         getenv("AWS_PROFILE"),
		ImagesBucket:    getenv("SHOP_IMAGES_BUCKET"),
	}
	host, port := getenv("HOST"), getenv("PORT")
	switch {
	case getenv("MERIDIAN_LISTEN_ADDR") != "":
		cfg.Addr = getenv("MERIDIAN_LISTEN_ADDR")
	case host != "" || port != "":
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "8000"
		}
		cfg.Addr = net.JoinHostPort(host, port)
	}
	return cfg
}

// withDefaults returns cfg with every unset field defaulted.
func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8000"
	}
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "localhost"
		}
		_, port, _ := net.SplitHostPort(cfg.Addr)
		cfg.Instance = net.JoinHostPort(host, port)
	}
	if cfg.AWSRegion == "" {
		cfg.AWSRegion = cfg.Region
	}
	if cfg.Catalog == nil {
		cfg.Catalog = DefaultCatalog()
	}
	if cfg.ImagesBucket == "" {
		cfg.ImagesBucket = "static"
	}
	if cfg.Settle == 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.HealthTTL == 0 {
		cfg.HealthTTL = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Validate says what is wrong with a configuration.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Region == "" {
		errs = append(errs, errors.New("the region is not set (MERIDIAN_REGION)"))
	}
	if cfg.Addr != "" {
		_, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen address %q: %w", cfg.Addr, err))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("listen address %q: the port must be a number from 0 to 65535 (PORT)", cfg.Addr))
		}
	}
	if cfg.Settle < 0 || cfg.HealthTTL < 0 {
		errs = append(errs, errors.New("Settle and HealthTTL must not be negative")) //nolint:staticcheck // ST1005: it starts with the Config field names
	}
	if len(cfg.Catalog) > maxCatalog {
		errs = append(errs, fmt.Errorf("catalog: %d products is more than the %d a checkout can hold", len(cfg.Catalog), maxCatalog))
	}
	seen := map[string]bool{}
	for _, p := range cfg.Catalog {
		if err := p.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("catalog: product %q appears twice", p.ID))
		}
		seen[p.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shop configuration: %w", err)
	}
	return nil
}
