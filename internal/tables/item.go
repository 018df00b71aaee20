package tables

import (
	"bytes"
	"fmt"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// DynamoDB's key size limits, in bytes of the value.
const (
	maxHashKeySize  = 2048
	maxRangeKeySize = 1024
)

// keyFromItem returns the store key of a whole item (PutItem), checking the
// key attributes as DynamoDB does for items.
func (t *tableMeta) keyFromItem(item attr.Item) (store.Key, error) {
	for _, name := range nonEmpty(t.Hash, t.Range) {
		v, ok := item[name]
		if !ok {
			return store.Key{}, validationf(msgInvalidPrefix+"Missing the key %s in the item", name)
		}
		if want := t.kinds[name]; v.Kind != want {
			return store.Key{}, validationf(msgInvalidPrefix+"Type mismatch for key %s expected: %v actual: %v", name, want, v.Kind)
		}
	}
	return t.encodeKey(item)
}

// keyFromKey returns the store key of a Key parameter (GetItem, UpdateItem,
// DeleteItem, …), which must hold exactly the key attributes.
func (t *tableMeta) keyFromKey(key attr.Item) (store.Key, error) {
	want := 1
	if t.Range != "" {
		want = 2
	}
	if len(key) != want {
		return store.Key{}, validationf(msgKeySchema)
	}
	for _, name := range nonEmpty(t.Hash, t.Range) {
		v, ok := key[name]
		if !ok || v.Kind != t.kinds[name] {
			return store.Key{}, validationf(msgKeySchema)
		}
	}
	return t.encodeKey(key)
}

func (t *tableMeta) encodeKey(item attr.Item) (store.Key, error) {
	k := store.Key{Space: t.space()}
	hv := item[t.Hash]
	if err := checkKeyValue(t.Hash, hv, maxHashKeySize); err != nil {
		return store.Key{}, err
	}
	var err error
	if k.Hash, err = attr.EncodeKey(hv); err != nil {
		return store.Key{}, asError(err)
	}
	if t.Range != "" {
		rv := item[t.Range]
		if err := checkKeyValue(t.Range, rv, maxRangeKeySize); err != nil {
			return store.Key{}, err
		}
		if k.Range, err = attr.EncodeKey(rv); err != nil {
			return store.Key{}, asError(err)
		}
	}
	return k, nil
}

func checkKeyValue(name string, v attr.Value, limit int) error {
	switch {
	case v.Kind == attr.KindS && v.S == "":
		return validationf("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", name)
	case v.Kind == attr.KindB && len(v.B) == 0:
		return validationf("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: %s", name)
	}
	if attr.SizeOf(v) > limit {
		if limit == maxHashKeySize {
			return validationf(msgInvalidPrefix+"Size of hashkey has exceeded the maximum size limit of%d bytes", limit)
		}
		return validationf(msgInvalidPrefix+"Aggregated size of all range keys has exceeded the size limit of %d bytes", limit)
	}
	return nil
}

// keyItem decodes a store key back into the key attributes.
func (t *tableMeta) keyItem(k store.Key) (attr.Item, error) {
	item := attr.Item{}
	v, err := attr.DecodeKey(t.kinds[t.Hash], k.Hash)
	if err != nil {
		return nil, fmt.Errorf("decoding the partition key of %s: %w", k, err)
	}
	item[t.Hash] = v
	if t.Range != "" {
		v, err := attr.DecodeKey(t.kinds[t.Range], k.Range)
		if err != nil {
			return nil, fmt.Errorf("decoding the sort key of %s: %w", k, err)
		}
		item[t.Range] = v
	}
	return item, nil
}

// checkItem checks a whole item about to be written: its size and the
// types of the secondary index keys it carries.
func (t *tableMeta) checkItem(item attr.Item, sizeMsg string) error {
	if attr.Size(item) > attr.MaxItemSize {
		return validationf("%s", sizeMsg)
	}
	for _, ix := range t.Indexes {
		for _, name := range nonEmpty(ix.Hash, ix.Range) {
			if t.isKey(name) {
				continue
			}
			v, ok := item[name]
			if !ok {
				continue
			}
			if want := t.kinds[name]; v.Kind != want {
				return validationf(msgInvalidPrefix+"Type mismatch for Index Key %s Expected: %v Actual: %v IndexName: %s", name, want, v.Kind, ix.Name)
			}
			if (v.Kind == attr.KindS && v.S == "") || (v.Kind == attr.KindB && len(v.B) == 0) {
				return validationf("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s", emptyWord(v.Kind), ix.Name, name)
			}
			limit := maxRangeKeySize
			if name == ix.Hash {
				limit = maxHashKeySize
			}
			if err := checkKeyValue(name, v, limit); err != nil {
				return err
			}
		}
	}
	return nil
}

func emptyWord(k attr.Kind) string {
	if k == attr.KindB {
		return "binary"
	}
	return "string"
}

// materialize returns the item a state holds, or nil when it does not
// exist: the last whole-item write's document, with the key attributes,
// counter totals added to their base values (a counter without a numeric
// base starts from 0; a non-numeric base value wins over the counter) and
// set attributes as the add-wins set ops left them (an empty set is
// absent; a non-set base value wins over set ops).
func (t *tableMeta) materialize(k store.Key, st *store.State) (attr.Item, error) {
	if !st.Exists() {
		return nil, nil
	}
	item := attr.Item{}
	if !st.Base.Deleted && len(st.Base.Doc) > 0 {
		var err error
		if item, err = attr.DecodeItem(st.Base.Doc); err != nil {
			return nil, fmt.Errorf("decoding item %s: %w", k, err)
		}
	}
	keys, err := t.keyItem(k)
	if err != nil {
		return nil, err
	}
	for name, v := range keys {
		item[name] = v
	}
	for field := range st.Counters {
		sum, err := st.CounterSum(field)
		if err != nil {
			return nil, fmt.Errorf("item %s: %w", k, err)
		}
		n, err := attr.ParseNumber(sum.String())
		if err != nil {
			// Out of DynamoDB's range: keep what the document says.
			continue
		}
		cur, ok := item[field]
		switch {
		case !ok:
			item[field] = attr.Value{Kind: attr.KindN, N: n}
		case cur.Kind == attr.KindN:
			if total, err := cur.N.Add(n); err == nil {
				item[field] = attr.Value{Kind: attr.KindN, N: total}
			}
		}
	}
	for field := range st.Sets {
		base, ok := item[field]
		if ok && !isSetKind(base.Kind) {
			continue
		}
		var baseElems [][]byte
		if ok {
			baseElems = setElems(base)
		}
		v, present := setValue(st.SetMembers(field, baseElems), base.Kind)
		if present {
			item[field] = v
		} else {
			delete(item, field)
		}
	}
	return item, nil
}

func isSetKind(k attr.Kind) bool { return k == attr.KindSS || k == attr.KindNS || k == attr.KindBS }

// Set elements are stored with a type byte in front so that the type of a
// set created by ADD alone is recoverable: 'S' + string, 'N' + canonical
// number text, 'B' + bytes.
func setElems(v attr.Value) [][]byte {
	var out [][]byte
	switch v.Kind {
	case attr.KindSS:
		for _, s := range v.SS {
			out = append(out, append([]byte{'S'}, s...))
		}
	case attr.KindNS:
		for _, n := range v.NS {
			out = append(out, append([]byte{'N'}, n.String()...))
		}
	case attr.KindBS:
		for _, b := range v.BS {
			out = append(out, append([]byte{'B'}, b...))
		}
	}
	return out
}

// setValue rebuilds a set from stored elements. kind is the set type of the
// base value, if any; otherwise the type of the first element (elements
// arrive sorted, so the choice is the same in every region) decides, and
// elements of other types are dropped.
func setValue(elems [][]byte, kind attr.Kind) (attr.Value, bool) {
	var tag byte
	switch kind {
	case attr.KindSS:
		tag = 'S'
	case attr.KindNS:
		tag = 'N'
	case attr.KindBS:
		tag = 'B'
	default:
		for _, e := range elems {
			if len(e) > 0 && (e[0] == 'S' || e[0] == 'N' || e[0] == 'B') {
				tag = e[0]
				break
			}
		}
	}
	v := attr.Value{}
	for _, e := range elems {
		if len(e) == 0 || e[0] != tag {
			continue
		}
		switch tag {
		case 'S':
			v.Kind = attr.KindSS
			v.SS = append(v.SS, string(e[1:]))
		case 'N':
			n, err := attr.ParseNumber(string(e[1:]))
			if err != nil {
				continue
			}
			v.Kind = attr.KindNS
			v.NS = append(v.NS, n)
		case 'B':
			v.Kind = attr.KindBS
			v.BS = append(v.BS, bytes.Clone(e[1:]))
		}
	}
	return v, v.Kind != 0
}
