package store

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-platform/meridian/internal/codec"
	"github.com/meridian-platform/meridian/internal/hlc"
)

// Tag identifies one write: its timestamp and the region that accepted it.
// Tags are totally ordered; the greater tag wins last-writer-wins.
type Tag struct {
	TS     hlc.Timestamp
	Origin string
}

// Compare orders tags by timestamp, then region name.
func (t Tag) Compare(u Tag) int {
	if c := t.TS.Compare(u.TS); c != 0 {
		return c
	}
	return strings.Compare(t.Origin, u.Origin)
}

// IsZero reports whether t is the zero tag (no write).
func (t Tag) IsZero() bool { return t.TS.IsZero() && t.Origin == "" }

func (t Tag) String() string { return fmt.Sprintf("%s@%s", t.TS, t.Origin) }

// Base is the last-writer-wins part of an item: the whole document written by
// the latest whole-item write, or a tombstone.
type Base struct {
	Tag     Tag
	Deleted bool
	Doc     []byte
}

// CounterEntry is one numeric increment (a decimal, possibly negative) made
// in one region. Increments from every region all count (a PN-counter); a
// later whole-item write drops the increments tagged before it.
type CounterEntry struct {
	Tag   Tag
	Delta string
}

// SetElem is one element of an add-wins observed-remove set: the tags of the
// adds that put it there and the tags of adds that a remove observed. The
// element is present while some add tag has not been removed.
type SetElem struct {
	Adds    []Tag
	Removes []Tag
}

// State is everything the store keeps for one key. It is a join-semilattice:
// Merge is commutative, associative and idempotent, so regions that have seen
// the same writes hold byte-identical states whatever the order of delivery.
type State struct {
	Base     Base
	Counters map[string][]CounterEntry
	Sets     map[string]map[string]*SetElem
}

// Exists reports whether the item is live: a document that is not a
// tombstone, or counter increments or set elements after the last delete.
func (s *State) Exists() bool {
	if s == nil {
		return false
	}
	if !s.Base.Tag.IsZero() && !s.Base.Deleted {
		return true
	}
	return len(s.Counters) > 0 || len(s.Sets) > 0
}

// CounterSum is the sum of the increments to field since the base document
// was written (the caller adds it to the base document's own value).
func (s *State) CounterSum(field string) (*apd.Decimal, error) {
	sum := new(apd.Decimal)
	if s == nil {
		return sum, nil
	}
	for _, e := range s.Counters[field] {
		d, _, err := apd.NewFromString(e.Delta)
		if err != nil {
			return nil, fmt.Errorf("counter %q entry %s: %w", field, e.Tag, err)
		}
		if _, err := counterCtx.Add(sum, sum, d); err != nil {
			return nil, fmt.Errorf("counter %q: %w", field, err)
		}
	}
	return sum, nil
}

// SetMembers returns the live elements of the set field, given the elements
// the base document holds for it (which count as added by the base write).
func (s *State) SetMembers(field string, baseElems [][]byte) [][]byte {
	var elems map[string]*SetElem
	var baseTag Tag
	if s != nil {
		elems = s.Sets[field]
		baseTag = s.Base.Tag
	}
	var out [][]byte
	seen := map[string]bool{}
	for _, e := range baseElems {
		k := string(e)
		if seen[k] {
			continue
		}
		seen[k] = true
		if el := elems[k]; el != nil && containsTag(el.Removes, baseTag) && !el.liveAdd() {
			continue
		}
		out = append(out, e)
	}
	for k, el := range elems {
		if !seen[k] && el.liveAdd() {
			out = append(out, []byte(k))
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

func (e *SetElem) liveAdd() bool {
	for _, a := range e.Adds {
		if !containsTag(e.Removes, a) {
			return true
		}
	}
	return false
}

func containsTag(tags []Tag, t Tag) bool {
	i := sort.Search(len(tags), func(i int) bool { return tags[i].Compare(t) >= 0 })
	return i < len(tags) && tags[i].Compare(t) == 0
}

// counterCtx is the decimal context for counters: DynamoDB's 38 digits.
var counterCtx = apd.BaseContext.WithPrecision(38)

// Merge joins other into s. It returns whether s changed.
func (s *State) Merge(other *State) bool {
	changed := false
	if s.Base.Tag.Compare(other.Base.Tag) < 0 {
		s.Base = Base{Tag: other.Base.Tag, Deleted: other.Base.Deleted, Doc: slices.Clone(other.Base.Doc)}
		changed = true
	}
	for f, entries := range other.Counters {
		for _, e := range entries {
			if s.addCounter(f, e) {
				changed = true
			}
		}
	}
	for f, elems := range other.Sets {
		for k, el := range elems {
			for _, t := range el.Adds {
				if s.setTag(f, k, t, false) {
					changed = true
				}
			}
			for _, t := range el.Removes {
				if s.setTag(f, k, t, true) {
					changed = true
				}
			}
		}
	}
	if s.prune() {
		changed = true
	}
	return changed
}

func (s *State) addCounter(field string, e CounterEntry) bool {
	if e.Tag.Compare(s.Base.Tag) < 0 {
		return false
	}
	entries := s.Counters[field]
	i := sort.Search(len(entries), func(i int) bool { return entries[i].Tag.Compare(e.Tag) >= 0 })
	if i < len(entries) && entries[i].Tag.Compare(e.Tag) == 0 {
		return false
	}
	if s.Counters == nil {
		s.Counters = map[string][]CounterEntry{}
	}
	s.Counters[field] = slices.Insert(entries, i, e)
	return true
}

func (s *State) setTag(field, elem string, t Tag, remove bool) bool {
	if t.Compare(s.Base.Tag) < 0 {
		return false
	}
	if s.Sets == nil {
		s.Sets = map[string]map[string]*SetElem{}
	}
	elems := s.Sets[field]
	if elems == nil {
		elems = map[string]*SetElem{}
		s.Sets[field] = elems
	}
	el := elems[elem]
	if el == nil {
		el = &SetElem{}
		elems[elem] = el
	}
	list := &el.Adds
	if remove {
		list = &el.Removes
	}
	i := sort.Search(len(*list), func(i int) bool { return (*list)[i].Compare(t) >= 0 })
	if i < len(*list) && (*list)[i].Compare(t) == 0 {
		return false
	}
	*list = slices.Insert(*list, i, t)
	return true
}

// prune drops increments and set tags older than the base write, which
// replaced them.
func (s *State) prune() bool {
	changed := false
	base := s.Base.Tag
	older := func(t Tag) bool { return t.Compare(base) < 0 }
	for f, entries := range s.Counters {
		kept := slices.DeleteFunc(entries, func(e CounterEntry) bool { return older(e.Tag) })
		if len(kept) != len(entries) {
			changed = true
		}
		if len(kept) == 0 {
			delete(s.Counters, f)
		} else {
			s.Counters[f] = kept
		}
	}
	if len(s.Counters) == 0 {
		s.Counters = nil
	}
	for f, elems := range s.Sets {
		for k, el := range elems {
			na, nr := len(el.Adds), len(el.Removes)
			el.Adds = slices.DeleteFunc(el.Adds, older)
			el.Removes = slices.DeleteFunc(el.Removes, older)
			if len(el.Adds) != na || len(el.Removes) != nr {
				changed = true
			}
			if len(el.Adds) == 0 && len(el.Removes) == 0 {
				delete(elems, k)
			}
		}
		if len(elems) == 0 {
			delete(s.Sets, f)
		}
	}
	if len(s.Sets) == 0 {
		s.Sets = nil
	}
	return changed
}

const stateVersion = 1

// Marshal encodes the state canonically: equal states encode to equal bytes.
func (s *State) Marshal() []byte {
	size := 32 + len(s.Base.Tag.Origin) + len(s.Base.Doc)
	for _, entries := range s.Counters {
		size += 16 + len(entries)*48
	}
	for _, elems := range s.Sets {
		size += 16 + len(elems)*64
	}
	b := make([]byte, 1, size)
	b[0] = stateVersion
	b = appendTag(b, s.Base.Tag)
	if s.Base.Deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = codec.AppendBytes(b, s.Base.Doc)
	fields := sortedKeys(s.Counters)
	b = codec.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = codec.AppendString(b, f)
		entries := s.Counters[f]
		b = codec.AppendUvarint(b, uint64(len(entries)))
		for _, e := range entries {
			b = appendTag(b, e.Tag)
			b = codec.AppendString(b, e.Delta)
		}
	}
	fields = sortedKeys(s.Sets)
	b = codec.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = codec.AppendString(b, f)
		elems := s.Sets[f]
		keys := sortedKeys(elems)
		b = codec.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = codec.AppendString(b, k)
			b = appendTags(b, elems[k].Adds)
			b = appendTags(b, elems[k].Removes)
		}
	}
	return b
}

// UnmarshalState decodes what Marshal wrote.
func UnmarshalState(b []byte) (*State, error) {
	r := codec.NewReader(b)
	if v := r.Byte(); r.Err() == nil && v != stateVersion {
		return nil, fmt.Errorf("decoding item state: unknown version %d", v)
	}
	s := &State{}
	s.Base.Tag = readTag(r)
	s.Base.Deleted = r.Byte() == 1
	if doc := r.Bytes(); len(doc) > 0 {
		s.Base.Doc = slices.Clone(doc)
	}
	for range r.Count(2) {
		f := r.String()
		n := r.Count(3)
		entries := make([]CounterEntry, 0, n)
		for range n {
			entries = append(entries, CounterEntry{Tag: readTag(r), Delta: r.String()})
		}
		if s.Counters == nil {
			s.Counters = map[string][]CounterEntry{}
		}
		s.Counters[f] = entries
	}
	for range r.Count(2) {
		f := r.String()
		elems := map[string]*SetElem{}
		for range r.Count(3) {
			k := r.String()
			elems[k] = &SetElem{Adds: readTags(r), Removes: readTags(r)}
		}
		if s.Sets == nil {
			s.Sets = map[string]map[string]*SetElem{}
		}
		s.Sets[f] = elems
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decoding item state: %w", err)
	}
	return s, nil
}

func appendTag(b []byte, t Tag) []byte {
	b = codec.AppendVarint(b, t.TS.WallNanos)
	b = codec.AppendUvarint(b, uint64(t.TS.Logical))
	return codec.AppendString(b, t.Origin)
}

func readTag(r *codec.Reader) Tag {
	return Tag{TS: hlc.Timestamp{WallNanos: r.Varint(), Logical: r.Uvarint32()}, Origin: r.String()}
}

func appendTags(b []byte, tags []Tag) []byte {
	b = codec.AppendUvarint(b, uint64(len(tags)))
	for _, t := range tags {
		b = appendTag(b, t)
	}
	return b
}

func readTags(r *codec.Reader) []Tag {
	n := r.Count(3)
	if n == 0 {
		return nil
	}
	tags := make([]Tag, 0, n)
	for range n {
		tags = append(tags, readTag(r))
	}
	return tags
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
