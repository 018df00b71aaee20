package tables

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
)

// Config configures an Engine. The zero value of every field means the
// default.
type Config struct {
	// Region is the region this engine serves (default: the store's).
	Region string
	// Regions lists every region of the deployment, reported as the
	// table's replicas (default: just Region).
	Regions []string
	// AccountID goes into ARNs (default "000000000000").
	AccountID string
	// Now is the clock for CreationDateTime and TTL expiry (default
	// time.Now).
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// TTLInterval is how often Run looks for expired items (default 10s).
	TTLInterval time.Duration
}

// Validate reports what is wrong with the config.
func (c *Config) Validate() error {
	if c.TTLInterval < 0 {
		return errors.New("tables: TTL interval is negative")
	}
	return nil
}

// Engine executes DynamoDB operations on one region node's store. It is
// safe for concurrent use. It installs itself as the store's Indexer, so
// build it right after opening the store and before the store takes
// replicated writes.
type Engine struct {
	cfg  Config
	st   *store.Store
	log  *slog.Logger
	wake chan struct{} // Run's work signal: a catalog change

	mu     sync.RWMutex
	tables map[string]*tableMeta // live tables by name
	ids    map[string]*tableMeta // live tables by id
	built  map[string]bool       // index ids this region has backfilled
}

// New builds an engine over st and installs its indexer.
func New(cfg Config, st *store.Store) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("tables: no store")
	}
	if cfg.Region == "" {
		cfg.Region = st.Region()
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = []string{cfg.Region}
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TTLInterval == 0 {
		cfg.TTLInterval = 10 * time.Second
	}
	e := &Engine{
		cfg:    cfg,
		st:     st,
		log:    cfg.Logger.With("component", "tables", "region", cfg.Region),
		wake:   make(chan struct{}, 1),
		tables: map[string]*tableMeta{},
		ids:    map[string]*tableMeta{},
		built:  map[string]bool{},
	}
	st.SetIndexer(e)
	if err := e.loadCatalog(); err != nil {
		return nil, err
	}
	return e, nil
}
