package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-platform/meridian/internal/codec"
	"github.com/meridian-platform/meridian/internal/hlc"
)

// Key addresses one item. Space is a keyspace (a table, a bucket's index, a
// system area); Hash decides where the item lives for anti-entropy, and items
// sharing Space and Hash are ordered by Range, so a range scan over one Hash
// is cheap.
type Key struct {
	Space string
	Hash  []byte
	Range []byte
}

func (k Key) String() string { return fmt.Sprintf("%s/%x/%x", k.Space, k.Hash, k.Range) }

// Mutation is one key's part of a write. A write with Put or Delete is a
// whole-item write (last writer wins); counter deltas and set operations
// merge with concurrent writes from other regions.
type Mutation struct {
	Key Key
	// Put replaces the whole document. Delete writes a tombstone.
	Put    []byte
	Delete bool
	// Counters adds each delta (a decimal string) to its field's counter.
	Counters []CounterDelta
	// SetAdd adds elements to set fields; SetRemove removes the elements the
	// accepting region observes (concurrent adds elsewhere win).
	SetAdd    []SetOp
	SetRemove []SetOp

	// removeTags are the observed add tags of SetRemove, filled in by the
	// store when the write is accepted.
	removeTags []removeTag
}

// CounterDelta is a numeric increment of one field.
type CounterDelta struct {
	Field string
	Delta string
}

// SetOp names elements of one set field.
type SetOp struct {
	Field string
	Elems [][]byte
}

type removeTag struct {
	Field string
	Elem  []byte
	Tags  []Tag
}

func (m *Mutation) whole() bool { return m.Put != nil || m.Delete }

// Validate checks a mutation before it is accepted.
func (m *Mutation) Validate() error {
	if m.Key.Space == "" {
		return errors.New("mutation key has an empty keyspace")
	}
	if strings.IndexByte(m.Key.Space, 0) >= 0 {
		return fmt.Errorf("keyspace %q contains a NUL byte", m.Key.Space)
	}
	if m.Put != nil && m.Delete {
		return fmt.Errorf("mutation of %s both puts and deletes", m.Key)
	}
	for _, c := range m.Counters {
		if _, _, err := apd.NewFromString(c.Delta); err != nil {
			return fmt.Errorf("counter %q delta %q is not a decimal: %w", c.Field, c.Delta, err)
		}
	}
	return nil
}

// delta is the state this mutation contributes, under tag t.
func (m *Mutation) delta(t Tag) *State {
	d := &State{}
	if m.whole() {
		d.Base = Base{Tag: t, Deleted: m.Delete, Doc: m.Put}
	}
	for _, c := range m.Counters {
		d.addCounter(c.Field, CounterEntry{Tag: t, Delta: c.Delta})
	}
	for _, op := range m.SetAdd {
		for _, e := range op.Elems {
			d.setTag(op.Field, string(e), t, false)
		}
	}
	for _, rt := range m.removeTags {
		for _, at := range rt.Tags {
			d.setTag(rt.Field, string(rt.Elem), at, true)
		}
	}
	return d
}

// observeRemoves fills in the add tags each SetRemove observes in cur: every
// live add tag of the element, and the base write's tag (which added the
// elements of the base document).
func (m *Mutation) observeRemoves(cur *State) {
	m.removeTags = nil
	for _, op := range m.SetRemove {
		for _, e := range op.Elems {
			tags := []Tag{}
			if !cur.Base.Tag.IsZero() {
				tags = append(tags, cur.Base.Tag)
			}
			if el := cur.Sets[op.Field][string(e)]; el != nil {
				tags = append(tags, el.Adds...)
			}
			slices.SortFunc(tags, Tag.Compare)
			tags = slices.CompactFunc(tags, func(a, b Tag) bool { return a.Compare(b) == 0 })
			if len(tags) > 0 {
				m.removeTags = append(m.removeTags, removeTag{Field: op.Field, Elem: e, Tags: tags})
			}
		}
	}
}

// Record is one accepted write as it travels between regions: the origin
// region numbers its writes 1, 2, 3, … without gaps.
type Record struct {
	Origin    string
	Seq       uint64
	TS        hlc.Timestamp
	Mutations []Mutation

	// raw is the encoding the record was decoded from, kept to log it as is.
	raw []byte
}

// Tag is the tag every mutation of the record carries.
func (r *Record) Tag() Tag { return Tag{TS: r.TS, Origin: r.Origin} }

const recordVersion = 1

// Marshal encodes the record for the log and the wire.
func (r *Record) Marshal() []byte {
	b := []byte{recordVersion}
	b = codec.AppendString(b, r.Origin)
	b = codec.AppendUvarint(b, r.Seq)
	b = codec.AppendVarint(b, r.TS.WallNanos)
	b = codec.AppendUvarint(b, uint64(r.TS.Logical))
	b = codec.AppendUvarint(b, uint64(len(r.Mutations)))
	for i := range r.Mutations {
		m := &r.Mutations[i]
		b = codec.AppendString(b, m.Key.Space)
		b = codec.AppendBytes(b, m.Key.Hash)
		b = codec.AppendBytes(b, m.Key.Range)
		var flags byte
		if m.Put != nil {
			flags |= 1
		}
		if m.Delete {
			flags |= 2
		}
		b = append(b, flags)
		b = codec.AppendBytes(b, m.Put)
		b = codec.AppendUvarint(b, uint64(len(m.Counters)))
		for _, c := range m.Counters {
			b = codec.AppendString(b, c.Field)
			b = codec.AppendString(b, c.Delta)
		}
		b = appendSetOps(b, m.SetAdd)
		b = codec.AppendUvarint(b, uint64(len(m.removeTags)))
		for _, rt := range m.removeTags {
			b = codec.AppendString(b, rt.Field)
			b = codec.AppendBytes(b, rt.Elem)
			b = appendTags(b, rt.Tags)
		}
	}
	return b
}

func appendSetOps(b []byte, ops []SetOp) []byte {
	b = codec.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		b = codec.AppendString(b, op.Field)
		b = codec.AppendUvarint(b, uint64(len(op.Elems)))
		for _, e := range op.Elems {
			b = codec.AppendBytes(b, e)
		}
	}
	return b
}

// UnmarshalRecord decodes and validates a record. The record keeps b, to
// log it as received, and its keys, documents and elements are slices of b:
// b must not change while the record is in use.
func UnmarshalRecord(b []byte) (*Record, error) {
	r := codec.NewReader(b)
	if v := r.Byte(); r.Err() == nil && v != recordVersion {
		return nil, fmt.Errorf("decoding change record: unknown version %d", v)
	}
	rec := &Record{Origin: r.String(), Seq: r.Uvarint()}
	rec.TS = hlc.Timestamp{WallNanos: r.Varint(), Logical: r.Uvarint32()}
	n := r.Count(6)
	for range n {
		m := Mutation{Key: Key{Space: r.String(), Hash: r.Bytes(), Range: r.Bytes()}}
		flags := r.Byte()
		put := r.Bytes()
		if flags&1 != 0 {
			m.Put = put
			if m.Put == nil {
				m.Put = []byte{}
			}
		}
		m.Delete = flags&2 != 0
		for range r.Count(2) {
			m.Counters = append(m.Counters, CounterDelta{Field: r.String(), Delta: r.String()})
		}
		for range r.Count(2) {
			op := SetOp{Field: r.String()}
			for range r.Count(1) {
				op.Elems = append(op.Elems, r.Bytes())
			}
			m.SetAdd = append(m.SetAdd, op)
		}
		for range r.Count(3) {
			m.removeTags = append(m.removeTags, removeTag{Field: r.String(), Elem: r.Bytes(), Tags: readTags(r)})
		}
		rec.Mutations = append(rec.Mutations, m)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decoding change record: %w", err)
	}
	if err := rec.Validate(); err != nil {
		return nil, fmt.Errorf("decoding change record: %w", err)
	}
	rec.raw = b
	return rec, nil
}

// Validate checks a record received from elsewhere.
func (r *Record) Validate() error {
	if r.Origin == "" {
		return errors.New("record has no origin region")
	}
	if r.Seq == 0 {
		return fmt.Errorf("record from %s has sequence number 0", r.Origin)
	}
	for i := range r.Mutations {
		if err := r.Mutations[i].Validate(); err != nil {
			return fmt.Errorf("record %s/%d: %w", r.Origin, r.Seq, err)
		}
	}
	return nil
}
