package s3

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
)

// Local index entries (the store's unreplicated index space), kept by
// Engine.Index in the same batch as the object states they derive from:
//
//	"s3l" 0 bucket-id 0 key → listEntry of the key's current version
//	"s3p" 0 id             → ref: a visible version whose bytes this node lacks
//	"s3g" 0 id             → ref: a dead version whose file this node still has
//	"s3i" 0 id             → ref: every version this node has seen, by id
//
// ref is the object's store Space, 0, and its key.
const (
	listPrefix    = "s3l\x00"
	pendingPrefix = "s3p\x00"
	garbagePrefix = "s3g\x00"
	versionPrefix = "s3i\x00"
)

func listKeyPrefix(bucketID string) []byte { return []byte(listPrefix + bucketID + "\x00") }
func listKey(bucketID, key string) []byte  { return append(listKeyPrefix(bucketID), key...) }
func pendingKey(id string) []byte          { return []byte(pendingPrefix + id) }
func garbageKey(id string) []byte          { return []byte(garbagePrefix + id) }
func versionKey(id string) []byte          { return []byte(versionPrefix + id) }

func refOf(k store.Key) []byte { return append([]byte(k.Space+"\x00"), k.Hash...) }

func parseRef(b []byte) (store.Key, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return store.Key{}, false
	}
	return store.Key{Space: string(b[:i]), Hash: bytes.Clone(b[i+1:])}, true
}

// listEntry is a key's current version as listings show it.
type listEntry struct {
	Version
	Mod int64 `json:"mod"`
}

func encodeListEntry(v *Version) []byte {
	b, _ := json.Marshal(listEntry{Version: *v, Mod: v.Modified.UnixNano()})
	return b
}

func decodeListEntry(b []byte) (*Version, bool) {
	var le listEntry
	if err := json.Unmarshal(b, &le); err != nil {
		return nil, false
	}
	v := le.Version
	v.Modified = time.Unix(0, le.Mod).UTC()
	return &v, true
}

// Index implements store.Indexer. It runs on the store's commit goroutine for
// every object state change: local writes, replicated records and repairs.
// old is nil for a full re-evaluation (store.Reindex).
func (e *Engine) Index(k store.Key, old, cur *store.State, w store.IndexWriter) {
	bid, ok := strings.CutPrefix(k.Space, objSpacePrefix)
	if !ok || len(k.Range) != 0 {
		return
	}
	region := e.cfg.Region
	all, live := allVersions(e.versions, cur)
	vs := visible(all, live, region)
	lk := listKey(bid, string(k.Hash))
	if len(vs) == 0 {
		w.Delete(lk)
	} else {
		w.Set(lk, encodeListEntry(vs[0]))
	}
	curEff := make(map[string]bool, len(vs))
	for _, v := range vs {
		curEff[v.ID] = true
	}
	oldEff := map[string]bool{}
	full := old == nil
	var seen map[string]bool
	if !full {
		var before []*Version
		before, seen = allVersions(e.versions, old)
		for _, v := range visible(before, seen, region) {
			oldEff[v.ID] = true
		}
		// A base version replaced by a later whole-item write is gone from
		// the state altogether: drop its entries and collect its file.
		for _, v := range before {
			if _, still := live[v.ID]; still {
				continue
			}
			if v.Origin != region {
				w.Delete(pendingKey(v.ID))
				e.unhint(v.ID)
			}
			if !v.DeleteMarker && e.files.exists(v.ID) {
				w.Set(garbageKey(v.ID), refOf(k))
				e.noteDead(v.ID)
				e.wake()
			}
		}
	}
	ref := refOf(k)
	woke := false
	// Versions this node just recorded a replica of (fetch's Apply): their
	// pending entries go in the same batch.
	var recorded map[string]bool
	if !full && len(vs) > 0 {
		now, before := heldIn(cur, region), heldIn(old, region)
		for id := range now {
			if !before[id] {
				if recorded == nil {
					recorded = map[string]bool{}
				}
				recorded[id] = true
			}
		}
	}
	for _, v := range all {
		if _, ok := seen[v.ID]; !ok {
			w.Set(versionKey(v.ID), ref)
		}
		switch {
		case curEff[v.ID]:
			if v.DeleteMarker || v.Origin == region || !(full || !oldEff[v.ID] || recorded[v.ID]) {
				continue
			}
			// A version that just became visible here has no bytes here
			// (but for a version that was visible before, a rare case fetch
			// handles: it looks for the file before downloading), so only
			// full passes and recorded replicas look for the file.
			if (full || recorded[v.ID]) && e.files.exists(v.ID) {
				w.Delete(pendingKey(v.ID))
				e.unhint(v.ID)
			} else {
				w.Set(pendingKey(v.ID), ref)
				e.hint(v.ID, k)
				woke = true
			}
		case full || oldEff[v.ID]:
			// Only versions from elsewhere have pending entries; a blind
			// delete would leave a tombstone every pass must step over.
			if v.Origin != region {
				w.Delete(pendingKey(v.ID))
				e.unhint(v.ID)
			}
			// A shadowed null version (a concurrent unversioned write that
			// lost) keeps its file until a later write removes it, in case
			// a concurrent delete of the winner brings it back.
			if !live[v.ID] && !v.DeleteMarker && e.files.exists(v.ID) {
				w.Set(garbageKey(v.ID), ref)
				e.noteDead(v.ID)
				woke = true
			} else {
				w.Delete(garbageKey(v.ID))
			}
		}
	}
	if woke {
		e.wake()
	}
}

// hint queues a version the indexer marked pending for the next
// replication pass; unhint drops it once its entry is deleted. The queue
// may hold versions whose batch has not committed yet, or failed: a pass
// that finds no such version leaves the hint to the full scans.
func (e *Engine) hint(id string, k store.Key) {
	e.hintMu.Lock()
	if e.hints == nil {
		e.hints = map[string]hint{}
	}
	if _, ok := e.hints[id]; !ok {
		e.hints[id] = hint{ref: store.Key{Space: k.Space, Hash: bytes.Clone(k.Hash)}, seen: e.scans}
	}
	e.hintMu.Unlock()
}

func (e *Engine) unhint(id string) {
	e.hintMu.Lock()
	delete(e.hints, id)
	e.hintMu.Unlock()
}

// noteDead queues a version whose garbage entry the indexer wrote for the
// collector.
func (e *Engine) noteDead(id string) {
	e.gcMu.Lock()
	if len(e.dead) < maxDead {
		e.dead = append(e.dead, id)
	} else {
		e.rescan = true
	}
	e.gcMu.Unlock()
}

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// scanListing calls fn for the listing entries of a bucket under prefix, in
// key order. fn returns false to stop.
func (e *Engine) scanListing(bucketID, prefix string, fn func(key string, val []byte) bool) error {
	return e.scanFrom(bucketID, prefix, "", fn)
}

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
