package tables

import (
	"bytes"
	"context"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// maxPageBytes is DynamoDB's limit on the data one Query or Scan page reads
// (measured before the filter).
const maxPageBytes = 1 << 20

// page collects one Query or Scan response.
type page struct {
	e         *Engine
	t         *tableMeta
	ix        *indexMeta
	filter    *expr.Condition
	proj      expr.Projection
	sel       string
	limit     int
	fetchBase bool // LSI read that needs attributes the index does not hold

	out  QueryOutput
	size int
	err  error
}

// visit takes one evaluated item; it returns false when the page is full.
func (p *page) visit(item attr.Item) bool {
	p.out.ScannedCount++
	p.size += attr.Size(item)
	if p.fetchBase {
		k, err := p.t.encodeKey(item)
		if err == nil {
			var base attr.Item
			if base, err = p.e.get(p.t, k); err == nil && base != nil {
				item = base
			}
		}
		if err != nil {
			p.err = err
			return false
		}
	}
	match := true
	if p.filter != nil {
		var err error
		if match, err = expr.EvalCondition(p.filter, item); err != nil {
			p.err = asError(err)
			return false
		}
	}
	if match {
		p.out.Count++
		if p.sel != SelectCount {
			if p.proj != nil {
				item = expr.Project(p.proj, item)
			}
			p.out.Items = append(p.out.Items, item)
		}
	}
	if (p.limit > 0 && p.out.ScannedCount >= p.limit) || p.size >= maxPageBytes {
		p.out.LastEvaluatedKey = p.keyOf(item)
		return false
	}
	return true
}

// keyOf is the LastEvaluatedKey of an item: the table's key attributes and,
// on an index, the index's.
func (p *page) keyOf(item attr.Item) attr.Item {
	names := nonEmpty(p.t.Hash, p.t.Range)
	if p.ix != nil {
		names = append(names, nonEmpty(p.ix.Hash, p.ix.Range)...)
	}
	k := attr.Item{}
	for _, n := range names {
		if v, ok := item[n]; ok {
			k[n] = v
		}
	}
	return k
}

func (p *page) result() (*QueryOutput, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.sel != SelectCount && p.out.Items == nil {
		p.out.Items = []attr.Item{}
	}
	return &p.out, nil
}

// newPage validates what Query and Scan share: the index, Select,
// projection, Limit and ConsistentRead.
func (e *Engine) newPage(table, index, sel string, proj expr.Projection, filter *expr.Condition, limit int, consistent bool) (*page, error) {
	t, err := e.table(table)
	if err != nil {
		return nil, err
	}
	p := &page{e: e, t: t, filter: filter, proj: proj, limit: limit}
	if limit < 0 {
		return nil, validationf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", limit)
	}
	if index != "" {
		if p.ix = t.index(index); p.ix == nil {
			return nil, noIndex(index)
		}
		if !p.ix.Local && consistent {
			return nil, validationf("Consistent reads are not supported on global secondary indexes")
		}
		e.mu.RLock()
		ready := p.ix.Initial || e.built[p.ix.ID]
		e.mu.RUnlock()
		if !ready {
			return nil, validationf("Cannot read from backfilling global secondary index: %s", index)
		}
	}
	switch sel {
	case "":
		switch {
		case proj != nil:
			sel = SelectSpecificAttributes
		case p.ix != nil:
			sel = SelectAllProjectedAttributes
		default:
			sel = SelectAllAttributes
		}
	case SelectSpecificAttributes:
		if proj == nil {
			return nil, validationf("Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
		}
	case SelectAllAttributes, SelectAllProjectedAttributes, SelectCount:
		if proj != nil {
			return nil, validationf("Cannot specify the ProjectionExpression when choosing to get %s", sel)
		}
	default:
		return nil, validationf("1 validation error detected: Value '%s' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]", sel)
	}
	if sel == SelectAllProjectedAttributes && p.ix == nil {
		return nil, validationf("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
	}
	if p.ix != nil && p.ix.Projection.ProjectionType != ProjectionAll {
		switch {
		case sel == SelectAllAttributes && !p.ix.Local:
			return nil, validationf(msgInvalidPrefix+"Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", index)
		case p.ix.Local && (sel == SelectAllAttributes || sel == SelectSpecificAttributes):
			p.fetchBase = true
		}
	}
	p.sel = sel
	return p, nil
}

// startKey parses an ExclusiveStartKey: the table's store key and, on an
// index, the entry key it stands for.
func (p *page) startKey(esk attr.Item) (store.Key, []byte, error) {
	bad := validationf("The provided starting key is invalid: The provided key element does not match the schema")
	tk := attr.Item{}
	for _, n := range nonEmpty(p.t.Hash, p.t.Range) {
		v, ok := esk[n]
		if !ok {
			return store.Key{}, nil, bad
		}
		tk[n] = v
	}
	want := len(tk)
	if p.ix != nil {
		for _, n := range nonEmpty(p.ix.Hash, p.ix.Range) {
			if _, ok := tk[n]; !ok {
				want++
			}
		}
	}
	if len(esk) != want {
		return store.Key{}, nil, bad
	}
	k, err := p.t.keyFromKey(tk)
	if err != nil {
		return store.Key{}, nil, bad
	}
	if p.ix == nil {
		return k, nil, nil
	}
	ek, _ := p.t.entry(p.ix, k, esk)
	if ek == nil {
		return store.Key{}, nil, bad
	}
	return k, ek, nil
}

// sortBounds maps a sort key condition onto [lo, hi) over encoded sort
// key values (nil = open): attr's key encoding preserves order and is
// prefix-free, so every value equal to v encodes to exactly enc(v), and
// every encoding that begins with enc(v) belongs to v.
func sortBounds(c *expr.SortCondition) (lo, hi []byte, err error) {
	if c == nil {
		return nil, nil, nil
	}
	enc := func(v attr.Value) []byte {
		b, e := attr.EncodeKey(v)
		if e != nil && err == nil {
			err = asError(e)
		}
		return b
	}
	switch c.Op {
	case expr.SortEQ:
		v := enc(c.Values[0])
		return v, prefixEnd(v), err
	case expr.SortLT:
		return nil, enc(c.Values[0]), err
	case expr.SortLE:
		return nil, prefixEnd(enc(c.Values[0])), err
	case expr.SortGT:
		return prefixEnd(enc(c.Values[0])), nil, err
	case expr.SortGE:
		return enc(c.Values[0]), nil, err
	case expr.SortBetween:
		return enc(c.Values[0]), prefixEnd(enc(c.Values[1])), err
	case expr.SortBeginsWith:
		pfx, e := attr.AppendKeyPrefix(nil, c.Values[0])
		if e != nil {
			return nil, nil, asError(e)
		}
		return pfx, prefixEnd(pfx), nil
	}
	return nil, nil, validationf("Query key condition not supported")
}

func maxLower(a, b []byte) []byte {
	if a == nil || (b != nil && bytes.Compare(b, a) > 0) {
		return b
	}
	return a
}

func minUpper(a, b []byte) []byte {
	if a == nil || (b != nil && bytes.Compare(b, a) < 0) {
		return b
	}
	return a
}

func emptyRange(lo, hi []byte) bool { return lo != nil && hi != nil && bytes.Compare(lo, hi) >= 0 }

func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// Query reads the items of one partition of a table or index in sort key
// order.
func (e *Engine) Query(_ context.Context, in *QueryInput) (*QueryOutput, error) {
	p, err := e.newPage(in.TableName, in.IndexName, in.Select, in.Projection, in.Filter, in.Limit, in.ConsistentRead)
	if err != nil {
		return nil, err
	}
	kc := in.KeyCondition
	if kc == nil {
		return nil, validationf("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	hashName, rangeName := p.t.Hash, p.t.Range
	if p.ix != nil {
		hashName, rangeName = p.ix.Hash, p.ix.Range
	}
	if kc.Partition.Kind != p.t.kinds[hashName] {
		return nil, validationf(msgInvalidPrefix + "Condition parameter type does not match schema type")
	}
	if err := checkKeyValue(hashName, kc.Partition, maxHashKeySize); err != nil {
		return nil, err
	}
	if kc.Sort != nil {
		if rangeName == "" {
			return nil, validationf("Query condition missed key schema element")
		}
		for _, v := range kc.Sort.Values {
			if v.Kind != p.t.kinds[rangeName] {
				return nil, validationf(msgInvalidPrefix + "Condition parameter type does not match schema type")
			}
		}
		if kc.Sort.Op == expr.SortBeginsWith && kc.Sort.Values[0].Kind == attr.KindN {
			return nil, validationf("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
		}
	}
	lo, hi, err := sortBounds(kc.Sort)
	if err != nil {
		return nil, err
	}
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	hash, err := attr.EncodeKey(kc.Partition)
	if err != nil {
		return nil, asError(err)
	}
	var startKey store.Key
	var startEntry []byte
	if in.ExclusiveStartKey != nil {
		if startKey, startEntry, err = p.startKey(in.ExclusiveStartKey); err != nil {
			return nil, err
		}
	}
	if p.ix == nil {
		if in.ExclusiveStartKey != nil {
			if p.t.Range == "" || !bytes.Equal(startKey.Hash, hash) {
				return p.result()
			}
			if forward {
				lo = maxLower(lo, concat(startKey.Range, []byte{0}))
			} else {
				hi = minUpper(hi, startKey.Range)
			}
		}
		if emptyRange(lo, hi) {
			return p.result()
		}
		err := e.st.ScanHash(p.t.space(), hash, lo, hi, !forward, func(k store.Key, st *store.State) bool {
			item, err := p.t.materialize(k, st)
			if err != nil {
				p.err = internal(err)
				return false
			}
			if item == nil {
				return true
			}
			return p.visit(item)
		})
		if err != nil {
			return nil, internal(err)
		}
		return p.result()
	}
	prefix := concat(indexPrefix(p.t.ID, p.ix.ID), hash)
	absLo, absHi := prefix, prefixEnd(prefix)
	if lo != nil {
		absLo = concat(prefix, lo)
	}
	if hi != nil {
		absHi = concat(prefix, hi)
	}
	if startEntry != nil {
		if forward {
			absLo = maxLower(absLo, concat(startEntry, []byte{0}))
		} else {
			absHi = minUpper(absHi, startEntry)
		}
	}
	if emptyRange(absLo, absHi) {
		return p.result()
	}
	if err := e.scanEntries(p, absLo, absHi, !forward, nil); err != nil {
		return nil, err
	}
	return p.result()
}

// scanEntries feeds the index entries in [lo, hi) to p; keep, when not nil,
// selects the entries of one Scan segment.
func (e *Engine) scanEntries(p *page, lo, hi []byte, reverse bool, keep func(attr.Item) bool) error {
	err := e.st.ScanIndex(lo, hi, reverse, func(_, value []byte) bool {
		item, err := attr.DecodeItem(value)
		if err != nil {
			p.err = internal(err)
			return false
		}
		if keep != nil && !keep(item) {
			return true
		}
		return p.visit(item)
	})
	if err != nil {
		return internal(err)
	}
	return nil
}

// segmentBuckets maps a Scan segment onto a range of store buckets.
func segmentBuckets(seg, total int) (from, to int) {
	if total == 0 {
		return 0, store.NumBuckets
	}
	return seg * store.NumBuckets / total, (seg + 1) * store.NumBuckets / total
}

// Scan reads every item of a table or index, a page at a time. Parallel
// segments are disjoint ranges of the store's hash buckets, so together they
// cover every item exactly once.
func (e *Engine) Scan(_ context.Context, in *ScanInput) (*ScanOutput, error) {
	p, err := e.newPage(in.TableName, in.IndexName, in.Select, in.Projection, in.Filter, in.Limit, in.ConsistentRead)
	if err != nil {
		return nil, err
	}
	switch {
	case in.TotalSegments < 0 || in.TotalSegments > 1000000:
		return nil, validationf("1 validation error detected: Value '%d' at 'totalSegments' failed to satisfy constraint: Member must have value between 1 and 1000000", in.TotalSegments)
	case in.Segment < 0 || in.Segment > 999999:
		return nil, validationf("1 validation error detected: Value '%d' at 'segment' failed to satisfy constraint: Member must have value between 0 and 999999", in.Segment)
	case in.TotalSegments == 0 && in.Segment != 0:
		return nil, validationf("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	case in.TotalSegments > 0 && in.Segment >= in.TotalSegments:
		return nil, validationf("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", in.Segment, in.TotalSegments)
	}
	from, to := segmentBuckets(in.Segment, in.TotalSegments)
	inSegment := func(b uint16) bool { return int(b) >= from && int(b) < to }
	var after *store.Key
	var startEntry []byte
	if in.ExclusiveStartKey != nil {
		k, ek, err := p.startKey(in.ExclusiveStartKey)
		if err != nil {
			return nil, err
		}
		if p.ix == nil && !inSegment(store.KeyBucket(k)) {
			return nil, validationf("The provided Exclusive start key does not map to the provided segment")
		}
		after, startEntry = &k, ek
	}
	if from == to {
		return p.result()
	}
	if p.ix == nil {
		err := e.st.ScanSpace(p.t.space(), uint16(from), uint16(to), after, func(k store.Key, st *store.State) bool { //nolint:gosec // G115: bucket numbers are at most NumBuckets (4096)
			item, err := p.t.materialize(k, st)
			if err != nil {
				p.err = internal(err)
				return false
			}
			if item == nil {
				return true
			}
			return p.visit(item)
		})
		if err != nil {
			return nil, internal(err)
		}
		return p.result()
	}
	prefix := indexPrefix(p.t.ID, p.ix.ID)
	lo := prefix
	if startEntry != nil {
		lo = concat(startEntry, []byte{0})
	}
	var keep func(attr.Item) bool
	if in.TotalSegments > 1 {
		space, hashName := p.t.space(), p.ix.Hash
		keep = func(item attr.Item) bool {
			h, err := attr.EncodeKey(item[hashName])
			return err == nil && inSegment(store.Bucket(space, h))
		}
	}
	if err := e.scanEntries(p, lo, prefixEnd(prefix), false, keep); err != nil {
		return nil, err
	}
	return p.result()
}
