package shop

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// Shop is one instance of the shop: an http.Handler over one region's
// tables.
type Shop struct {
	cfg   Config
	log   *slog.Logger
	db    *db
	s3    *s3.Client // product images
	pages map[string]*template.Template
	mux   *http.ServeMux
	// ready is set once the tables exist and are seeded; until then every
	// page answers 503 and /healthz says "starting".
	ready atomic.Bool

	healthMu  sync.Mutex
	checkedAt time.Time
	healthErr error
}

var _ http.Handler = (*Shop)(nil)

// New builds an instance from cfg. It does not touch the network: Setup
// (or Serve, which calls it) creates and seeds the tables.
func New(ctx context.Context, cfg Config) (*Shop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	awsCfg, err := loadAWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	// Path-style bucket addressing: the region's endpoint is an address,
	// not a domain with a name per bucket.
	images := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = true
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Shop{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "shop", "region", cfg.Region, "node", cfg.Instance),
		db:    &db{c: client, region: cfg.Region},
		s3:    images,
		pages: pages,
	}
	s.mux = s.routes()
	return s, nil
}

// loadAWSConfig loads the SDK configuration the way any application on
// Meridian does: the standard chain (environment, shared credentials file,
// profile); the clients are then pointed at the region's own endpoint.
func loadAWSConfig(ctx context.Context, cfg Config) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.AWSRegion)}
	if cfg.CredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{cfg.CredentialsFile}))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS SDK configuration: %w", err)
	}
	return awsCfg, nil
}

// Run serves one shop instance on cfg.Addr until ctx is cancelled.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("shop: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP on ln, prepares the tables in the background (pages
// answer 503 until they are ready), and shuts down gracefully when ctx is
// cancelled. It closes ln.
func (s *Shop) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	g, ctx := errgroup.WithContext(ctx)
	s.log.Info("shop listening", "addr", ln.Addr().String())
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("shop: serving: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		// Exits when the tables are ready or ctx is cancelled.
		if err := s.Setup(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			return fmt.Errorf("shop: shutting down: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// Setup creates the tables if absent, waits until their ids have settled,
// seeds the catalog and this region's stock, and marks the instance ready.
// It retries (with backoff, logging each failure) until it succeeds or ctx
// is cancelled: the region's API may start after its instances.
func (s *Shop) Setup(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := s.setupOnce(ctx)
		if err == nil {
			s.ready.Store(true)
			s.log.Info("shop ready")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("shop setup failed; retrying", "err", err, "retry_in", backoff)
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Shop) setupOnce(ctx context.Context) error {
	if err := s.db.ensureTables(ctx); err != nil {
		return err
	}
	// If another region created a table at the same moment, one of the two
	// creations replaces the other everywhere once they have replicated.
	// Wait until no table id changes for a whole Settle period, so the
	// items seeded below land in the table that stays.
	ids, regions, err := s.db.tableIDs(ctx)
	if err != nil {
		return err
	}
	for {
		if err := sleep(ctx, s.cfg.Settle); err != nil {
			return err
		}
		again, r, err := s.db.tableIDs(ctx)
		if err != nil {
			return err
		}
		if maps.Equal(ids, again) {
			break
		}
		s.log.Info("table ids changed while settling; waiting again", "before", ids, "after", again)
		ids, regions = again, r
	}
	if err := s.db.seed(ctx, s.cfg.Catalog, regions); err != nil {
		return err
	}
	return s.ensureImages(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// health probes the region's API, at most once per HealthTTL.
func (s *Shop) health(ctx context.Context) error {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	now := s.cfg.Now()
	if !s.checkedAt.IsZero() && now.Sub(s.checkedAt) < s.cfg.HealthTTL {
		return s.healthErr
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.healthErr = s.db.ping(ctx)
	s.checkedAt = now
	return s.healthErr
}
