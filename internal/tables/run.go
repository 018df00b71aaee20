package tables

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// Background work batch sizes.
const (
	backfillBatch = 256
	expireBatch   = 100
	// ttlHorizon: as in DynamoDB, TTL values more than five years in the
	// past are not expiry times and are ignored.
	ttlHorizon = 5 * 365 * 24 * time.Hour
)

// Run deletes expired items of tables with TTL enabled and backfills new
// secondary indexes in this region, until ctx is cancelled. Run it in every
// region: the backfill is per region (indexes are local), and expiry runs
// everywhere so that items expire while any region is up (duplicate deletes
// are harmless tombstones).
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.cfg.TTLInterval)
	defer tick.Stop()
	e.backfill(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
			e.backfill(ctx)
		case <-tick.C:
			if _, err := e.expire(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("expiring items", "err", err)
			}
		}
	}
}

// backfill builds every index this region has not built yet.
func (e *Engine) backfill(ctx context.Context) {
	type job struct {
		t  *tableMeta
		ix *indexMeta
	}
	var jobs []job
	e.mu.RLock()
	for _, t := range e.tables {
		for _, ix := range t.Indexes {
			if !ix.Initial && !e.built[ix.ID] {
				jobs = append(jobs, job{t, ix})
			}
		}
	}
	e.mu.RUnlock()
	for _, j := range jobs {
		if err := e.backfillIndex(ctx, j.t, j.ix); err != nil {
			if ctx.Err() == nil {
				e.log.Error("backfilling index", "table", j.t.Name, "index", j.ix.Name, "err", err)
			}
			return
		}
	}
}

// backfillIndex writes the entries of ix for every existing item. Items
// written meanwhile are indexed by Index already (the catalog change that
// created ix reached the indexer before the backfill started), and Reindex
// runs between writes, so no item is missed or indexed stale.
func (e *Engine) backfillIndex(ctx context.Context, t *tableMeta, ix *indexMeta) error {
	var after *store.Key
	for {
		var keys []store.Key
		err := e.st.ScanSpace(t.space(), 0, 0, after, func(k store.Key, _ *store.State) bool {
			keys = append(keys, k)
			return len(keys) < backfillBatch
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			break
		}
		if err := e.st.Reindex(ctx, keys); err != nil {
			return err
		}
		if len(keys) < backfillBatch {
			break
		}
		after = &keys[len(keys)-1]
	}
	e.mu.Lock()
	e.built[ix.ID] = true
	e.mu.Unlock()
	// Rewriting the catalog entry's index entries persists the built marker.
	if err := e.st.Reindex(ctx, []store.Key{catalogKey(t.Name)}); err != nil {
		return fmt.Errorf("recording that index %s is built: %w", ix.Name, err)
	}
	e.log.Info("index backfilled", "table", t.Name, "index", ix.Name)
	return nil
}

// expired reports whether item's TTL attribute says it has expired at now.
func expired(item attr.Item, ttlAttr string, now time.Time) bool {
	v, ok := item[ttlAttr]
	if !ok || v.Kind != attr.KindN {
		return false
	}
	nowN := attr.MustParseNumber(strconv.FormatInt(now.Unix(), 10))
	oldest := attr.MustParseNumber(strconv.FormatInt(now.Add(-ttlHorizon).Unix(), 10))
	return v.N.Cmp(nowN) <= 0 && v.N.Cmp(oldest) >= 0
}

// expire deletes the expired items of every table with TTL enabled and
// returns how many it deleted. Each delete is conditional: the item is
// checked again, atomically, so an item rewritten meanwhile survives.
func (e *Engine) expire(ctx context.Context) (int, error) {
	var tables []*tableMeta
	e.mu.RLock()
	for _, t := range e.tables {
		if t.TTLAttr != "" {
			tables = append(tables, t)
		}
	}
	e.mu.RUnlock()
	deleted := 0
	for _, t := range tables {
		now := e.cfg.Now()
		var keys []store.Key
		var scanErr error
		flush := func() error {
			if len(keys) == 0 {
				return nil
			}
			batch := keys
			keys = nil
			_, err := e.st.Update(ctx, batch, func(states []*store.State) ([]store.Mutation, error) {
				var muts []store.Mutation
				for i, st := range states {
					item, err := t.materialize(batch[i], st)
					if err != nil {
						return nil, err
					}
					if item != nil && expired(item, t.TTLAttr, now) {
						muts = append(muts, store.Mutation{Key: batch[i], Delete: true})
					}
				}
				deleted += len(muts)
				return muts, nil
			})
			return err
		}
		err := e.st.ScanSpace(t.space(), 0, 0, nil, func(k store.Key, st *store.State) bool {
			item, err := t.materialize(k, st)
			if err != nil {
				scanErr = err
				return false
			}
			if item != nil && expired(item, t.TTLAttr, now) {
				keys = append(keys, k)
			}
			if len(keys) >= expireBatch {
				if scanErr = flush(); scanErr != nil {
					return false
				}
			}
			return ctx.Err() == nil
		})
		if err == nil {
			err = scanErr
		}
		if err == nil {
			err = flush()
		}
		if err != nil {
			return deleted, fmt.Errorf("expiring items of %s: %w", t.Name, err)
		}
	}
	return deleted, nil
}
