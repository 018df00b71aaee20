package tables

import (
	"bytes"
	"strings"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// Local index entries (the store's unreplicated 'x' keyspace):
//
//	"I" table-id 0x00 index-id 0x00 enc(index hash) [enc(index range)] enc(table hash) [enc(table range)]
//	    → attr.EncodeItem of the projected item
//	"B" index-id → 1: this region has backfilled the index
//
// enc is attr's order-preserving, self-delimiting key encoding, so one
// index partition is one key prefix, ordered by the index sort key and then
// the table key.

func indexPrefix(tableID, indexID string) []byte {
	b := make([]byte, 0, 2+len(tableID)+len(indexID)+1)
	b = append(b, 'I')
	b = append(b, tableID...)
	b = append(b, 0)
	b = append(b, indexID...)
	return append(b, 0)
}

func builtKey(indexID string) []byte { return append([]byte{'B'}, indexID...) }

// prefixEnd is the first byte string after every string with prefix p (nil
// when there is none).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// entry returns the index entry of an item (nil key when the item is not in
// the index: it lacks an index key attribute or has one of the wrong type).
func (t *tableMeta) entry(ix *indexMeta, k store.Key, item attr.Item) (key, value []byte) {
	if item == nil {
		return nil, nil
	}
	key = indexPrefix(t.ID, ix.ID)
	for _, name := range nonEmpty(ix.Hash, ix.Range) {
		v, ok := item[name]
		if !ok || v.Kind != t.kinds[name] {
			return nil, nil
		}
		var err error
		if key, err = attr.AppendKeyPart(key, v); err != nil {
			return nil, nil
		}
	}
	key = append(key, k.Hash...)
	key = append(key, k.Range...)
	return key, attr.EncodeItem(t.project(ix, item))
}

// project returns the attributes of item an index holds.
func (t *tableMeta) project(ix *indexMeta, item attr.Item) attr.Item {
	if ix.Projection.ProjectionType == ProjectionAll {
		return item
	}
	out := attr.Item{}
	for _, name := range nonEmpty(t.Hash, t.Range, ix.Hash, ix.Range) {
		if v, ok := item[name]; ok {
			out[name] = v
		}
	}
	for _, name := range ix.Projection.NonKeyAttributes {
		if v, ok := item[name]; ok {
			out[name] = v
		}
	}
	return out
}

// Index implements store.Indexer: it keeps the catalog cache in step with
// catalog writes and the secondary index entries in step with items, for
// local writes, replicated records and repairs alike. It runs on the
// store's commit goroutine.
func (e *Engine) Index(k store.Key, old, cur *store.State, w store.IndexWriter) {
	if k.Space == catalogSpace {
		e.catalogChanged(k, cur, w)
		return
	}
	id, ok := strings.CutPrefix(k.Space, "t:")
	if !ok {
		return
	}
	e.mu.RLock()
	t := e.ids[id]
	e.mu.RUnlock()
	if t == nil || len(t.Indexes) == 0 {
		return
	}
	var before, after attr.Item
	var err error
	if old != nil {
		if before, err = t.materialize(k, old); err != nil {
			e.log.Error("indexing: skipping undecodable item", "table", t.Name, "err", err)
			return
		}
	}
	if cur != nil {
		if after, err = t.materialize(k, cur); err != nil {
			e.log.Error("indexing: skipping undecodable item", "table", t.Name, "err", err)
			return
		}
	}
	for _, ix := range t.Indexes {
		oldKey, _ := t.entry(ix, k, before)
		newKey, newVal := t.entry(ix, k, after)
		if oldKey != nil && !bytes.Equal(oldKey, newKey) {
			w.Delete(oldKey)
		}
		if newKey != nil {
			w.Set(newKey, newVal)
		}
	}
}

var _ store.Indexer = (*Engine)(nil)
