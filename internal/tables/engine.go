package tables

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/expr"
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
	cfg Config
	st  *store.Store
	log *slog.Logger
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
	e := &Engine{cfg: cfg, st: st, log: cfg.Logger.With("component", "tables", "region", cfg.Region)}
	return e, nil
}

// Run deletes expired items of tables with TTL enabled and backfills new
// secondary indexes in this region, until ctx is cancelled. Run it in every
// region.
func (e *Engine) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// KeySchema returns the key attributes of a table, or of one of its
// indexes when index is not "", for parsing a Query's
// KeyConditionExpression.
func (e *Engine) KeySchema(table, index string) (expr.KeySchema, error) {
	return expr.KeySchema{}, errNotImplemented
}

// CreateTable creates a global table. It fails with ResourceInUseException
// when a table of that name exists.
func (e *Engine) CreateTable(ctx context.Context, in *CreateTableInput) (*CreateTableOutput, error) {
	return nil, errNotImplemented
}

// DescribeTable describes a table.
func (e *Engine) DescribeTable(ctx context.Context, in *DescribeTableInput) (*DescribeTableOutput, error) {
	return nil, errNotImplemented
}

// ListTables lists table names in order, a page at a time.
func (e *Engine) ListTables(ctx context.Context, in *ListTablesInput) (*ListTablesOutput, error) {
	return nil, errNotImplemented
}

// UpdateTable creates and deletes GSIs and changes billing settings.
func (e *Engine) UpdateTable(ctx context.Context, in *UpdateTableInput) (*UpdateTableOutput, error) {
	return nil, errNotImplemented
}

// DeleteTable deletes a table in every region.
func (e *Engine) DeleteTable(ctx context.Context, in *DeleteTableInput) (*DeleteTableOutput, error) {
	return nil, errNotImplemented
}

// UpdateTimeToLive enables or disables TTL.
func (e *Engine) UpdateTimeToLive(ctx context.Context, in *UpdateTimeToLiveInput) (*UpdateTimeToLiveOutput, error) {
	return nil, errNotImplemented
}

// DescribeTimeToLive reports the TTL setting.
func (e *Engine) DescribeTimeToLive(ctx context.Context, in *DescribeTimeToLiveInput) (*DescribeTimeToLiveOutput, error) {
	return nil, errNotImplemented
}

// PutItem writes a whole item.
func (e *Engine) PutItem(ctx context.Context, in *PutItemInput) (*PutItemOutput, error) {
	return nil, errNotImplemented
}

// GetItem reads an item.
func (e *Engine) GetItem(ctx context.Context, in *GetItemInput) (*GetItemOutput, error) {
	return nil, errNotImplemented
}

// UpdateItem updates an item.
func (e *Engine) UpdateItem(ctx context.Context, in *UpdateItemInput) (*UpdateItemOutput, error) {
	return nil, errNotImplemented
}

// DeleteItem deletes an item.
func (e *Engine) DeleteItem(ctx context.Context, in *DeleteItemInput) (*DeleteItemOutput, error) {
	return nil, errNotImplemented
}

// Query reads items of one partition of a table or index.
func (e *Engine) Query(ctx context.Context, in *QueryInput) (*QueryOutput, error) {
	return nil, errNotImplemented
}

// Scan reads every item of a table or index, a page at a time.
func (e *Engine) Scan(ctx context.Context, in *ScanInput) (*ScanOutput, error) {
	return nil, errNotImplemented
}

// BatchGetItem reads up to 100 items from one or more tables.
func (e *Engine) BatchGetItem(ctx context.Context, in *BatchGetItemInput) (*BatchGetItemOutput, error) {
	return nil, errNotImplemented
}

// BatchWriteItem puts and deletes up to 25 items.
func (e *Engine) BatchWriteItem(ctx context.Context, in *BatchWriteItemInput) (*BatchWriteItemOutput, error) {
	return nil, errNotImplemented
}

// TransactWriteItems applies up to 100 actions atomically, as one
// replicated record.
func (e *Engine) TransactWriteItems(ctx context.Context, in *TransactWriteItemsInput) (*TransactWriteItemsOutput, error) {
	return nil, errNotImplemented
}

// TransactGetItems reads up to 100 items as of one moment.
func (e *Engine) TransactGetItems(ctx context.Context, in *TransactGetItemsInput) (*TransactGetItemsOutput, error) {
	return nil, errNotImplemented
}
