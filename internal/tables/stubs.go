package tables

import "context"

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

// Run deletes expired items of tables with TTL enabled and backfills new
// secondary indexes in this region, until ctx is cancelled. Run it in every
// region.
func (e *Engine) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
