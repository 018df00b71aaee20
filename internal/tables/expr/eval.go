package expr

import (
	"bytes"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// lookup returns the value at path p in item, and whether it exists.
func lookup(item attr.Item, p Path) (attr.Value, bool) {
	if len(p) == 0 {
		return attr.Value{}, false
	}
	v, ok := item[p[0].Name]
	if !ok {
		return attr.Value{}, false
	}
	for _, e := range p[1:] {
		switch {
		case e.IsIndex && v.Kind == attr.KindL:
			if e.Index >= len(v.L) {
				return attr.Value{}, false
			}
			v = v.L[e.Index]
		case !e.IsIndex && v.Kind == attr.KindM:
			if v, ok = v.M[e.Name]; !ok {
				return attr.Value{}, false
			}
		default:
			return attr.Value{}, false
		}
	}
	return v, true
}

// EvalCondition evaluates a parsed condition or filter against an item (nil
// or empty for an item that does not exist), with DynamoDB's semantics:
// comparisons of different types, and of missing attributes, are false
// rather than errors.
func EvalCondition(c *Condition, item attr.Item) (bool, error) {
	if c == nil || c.Root == nil {
		return false, errors.New("evaluating condition: no condition")
	}
	return evalCond(c.Root, item), nil
}

// Eval is EvalCondition(c, item).
func (c *Condition) Eval(item attr.Item) (bool, error) { return EvalCondition(c, item) }

func evalCond(c *Cond, item attr.Item) bool {
	switch c.Kind {
	case CondAnd:
		return evalCond(c.Sub[0], item) && evalCond(c.Sub[1], item)
	case CondOr:
		return evalCond(c.Sub[0], item) || evalCond(c.Sub[1], item)
	case CondNot:
		return !evalCond(c.Sub[0], item)
	case CondCompare:
		a, aok := evalOperand(c.Operands[0], item)
		b, bok := evalOperand(c.Operands[1], item)
		if c.Op == "<>" {
			return !aok || !bok || !attr.Equal(a, b)
		}
		if !aok || !bok {
			return false
		}
		if c.Op == "=" {
			return attr.Equal(a, b)
		}
		cmp, ok := attr.Compare(a, b)
		if !ok {
			return false
		}
		switch c.Op {
		case "<":
			return cmp < 0
		case "<=":
			return cmp <= 0
		case ">":
			return cmp > 0
		case ">=":
			return cmp >= 0
		}
		return false
	case CondBetween:
		v, ok1 := evalOperand(c.Operands[0], item)
		lo, ok2 := evalOperand(c.Operands[1], item)
		hi, ok3 := evalOperand(c.Operands[2], item)
		if !ok1 || !ok2 || !ok3 {
			return false
		}
		cl, okl := attr.Compare(lo, v)
		ch, okh := attr.Compare(v, hi)
		return okl && okh && cl <= 0 && ch <= 0
	case CondIn:
		v, ok := evalOperand(c.Operands[0], item)
		if !ok {
			return false
		}
		for _, o := range c.Operands[1:] {
			if w, ok := evalOperand(o, item); ok && attr.Equal(v, w) {
				return true
			}
		}
		return false
	case CondFunc:
		return evalFunc(c, item)
	}
	return false
}

func evalFunc(c *Cond, item attr.Item) bool {
	switch c.Op {
	case "attribute_exists":
		_, ok := lookup(item, c.Operands[0].Path)
		return ok
	case "attribute_not_exists":
		_, ok := lookup(item, c.Operands[0].Path)
		return !ok
	}
	a, aok := evalOperand(c.Operands[0], item)
	b, bok := evalOperand(c.Operands[1], item)
	if !aok || !bok {
		return false
	}
	switch c.Op {
	case "attribute_type":
		return b.Kind == attr.KindS && a.Kind.String() == b.S
	case "begins_with":
		switch {
		case a.Kind == attr.KindS && b.Kind == attr.KindS:
			return strings.HasPrefix(a.S, b.S)
		case a.Kind == attr.KindB && b.Kind == attr.KindB:
			return bytes.HasPrefix(a.B, b.B)
		}
		return false
	case "contains":
		return contains(a, b)
	}
	return false
}

// contains implements contains(a, b): a substring of a string, a
// subsequence of a binary, a member of a set, an element of a list.
func contains(a, b attr.Value) bool {
	switch a.Kind {
	case attr.KindS:
		return b.Kind == attr.KindS && strings.Contains(a.S, b.S)
	case attr.KindB:
		return b.Kind == attr.KindB && bytes.Contains(a.B, b.B)
	case attr.KindSS:
		if b.Kind == attr.KindS {
			for _, s := range a.SS {
				if s == b.S {
					return true
				}
			}
		}
	case attr.KindNS:
		if b.Kind == attr.KindN {
			for _, n := range a.NS {
				if n.Cmp(b.N) == 0 {
					return true
				}
			}
		}
	case attr.KindBS:
		if b.Kind == attr.KindB {
			for _, x := range a.BS {
				if bytes.Equal(x, b.B) {
					return true
				}
			}
		}
	case attr.KindL:
		for _, e := range a.L {
			if attr.Equal(e, b) {
				return true
			}
		}
	}
	return false
}

// evalOperand evaluates a condition operand; ok is false when it has no
// value (a missing attribute, or size of a value without a size).
func evalOperand(o Operand, item attr.Item) (attr.Value, bool) {
	switch o.Kind {
	case OperandPath:
		return lookup(item, o.Path)
	case OperandValue:
		return o.Value, true
	case OperandFunc:
		if o.Func != "size" || len(o.Args) != 1 {
			return attr.Value{}, false
		}
		v, ok := evalOperand(o.Args[0], item)
		if !ok {
			return attr.Value{}, false
		}
		n, ok := size(v)
		if !ok {
			return attr.Value{}, false
		}
		return attr.Value{Kind: attr.KindN, N: attr.MustParseNumber(strconv.Itoa(n))}, true
	}
	return attr.Value{}, false
}

// size implements size(): the length in bytes of S (UTF-8) and B, the number
// of members of a set, elements of L and entries of M.
func size(v attr.Value) (int, bool) {
	switch v.Kind {
	case attr.KindS:
		return len(v.S), true
	case attr.KindB:
		return len(v.B), true
	case attr.KindSS:
		return len(v.SS), true
	case attr.KindNS:
		return len(v.NS), true
	case attr.KindBS:
		return len(v.BS), true
	case attr.KindL:
		return len(v.L), true
	case attr.KindM:
		return len(v.M), true
	}
	return 0, false
}

// projNode is one level of a projection tree: the map keys and list indexes
// wanted below a value, or all of it.
type projNode struct {
	all     bool
	keys    map[string]*projNode
	indexes map[int]*projNode
}

func (n *projNode) child(e PathElem) *projNode {
	if e.IsIndex {
		if n.indexes == nil {
			n.indexes = make(map[int]*projNode)
		}
		c := n.indexes[e.Index]
		if c == nil {
			c = &projNode{}
			n.indexes[e.Index] = c
		}
		return c
	}
	if n.keys == nil {
		n.keys = make(map[string]*projNode)
	}
	c := n.keys[e.Name]
	if c == nil {
		c = &projNode{}
		n.keys[e.Name] = c
	}
	return c
}

// Project returns the parts of item that the projection names, keeping
// their nesting: map entries under their keys and list elements, in index
// order, in a shorter list. Paths that are not in the item are left out. The
// result shares no maps or slices with item's containers it rebuilt, but
// projected leaf values are shared, not copied.
func Project(paths Projection, item attr.Item) attr.Item {
	root := &projNode{}
	for _, p := range paths {
		n := root
		for _, e := range p {
			n = n.child(e)
		}
		n.all = true
	}
	out := make(attr.Item)
	for name, n := range root.keys {
		if v, ok := item[name]; ok {
			if pv, ok := project(n, v); ok {
				out[name] = pv
			}
		}
	}
	return out
}

func project(n *projNode, v attr.Value) (attr.Value, bool) {
	if n.all {
		return v, true
	}
	switch {
	case v.Kind == attr.KindM && n.keys != nil:
		m := make(map[string]attr.Value)
		for k, c := range n.keys {
			if cv, ok := v.M[k]; ok {
				if pv, ok := project(c, cv); ok {
					m[k] = pv
				}
			}
		}
		if len(m) == 0 {
			return attr.Value{}, false
		}
		return attr.Value{Kind: attr.KindM, M: m}, true
	case v.Kind == attr.KindL && n.indexes != nil:
		idx := make([]int, 0, len(n.indexes))
		for i := range n.indexes {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		var l []attr.Value
		for _, i := range idx {
			if i < len(v.L) {
				if pv, ok := project(n.indexes[i], v.L[i]); ok {
					l = append(l, pv)
				}
			}
		}
		if len(l) == 0 {
			return attr.Value{}, false
		}
		return attr.Value{Kind: attr.KindL, L: l}, true
	}
	return attr.Value{}, false
}
