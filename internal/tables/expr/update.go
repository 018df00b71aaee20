package expr

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// ApplyUpdate returns the item that results from applying u to item (nil for
// an item that does not exist yet); item itself is not modified. As in
// DynamoDB, every SET operand is evaluated against the item as it was
// before the update, and REMOVE of several elements of one list uses their
// original positions. Errors wrap an *attr.ValidationError with DynamoDB's
// message (use errors.As). To apply only some actions (say, everything but
// the numeric ADDs that the store keeps as counters), pass an Update holding
// just those actions.
func ApplyUpdate(u *Update, item attr.Item) (attr.Item, error) {
	values := make([]attr.Value, len(u.Actions))
	for i, a := range u.Actions {
		if a.Kind != ActionSet {
			continue
		}
		v, err := evalSetValue(a.Value, item)
		if err != nil {
			return nil, fmt.Errorf("evaluating SET %s: %w", a.Path, err)
		}
		values[i] = clone(v)
	}
	root := attr.Value{Kind: attr.KindM, M: make(map[string]attr.Value, len(item))}
	for k, v := range item {
		root.M[k] = clone(v)
	}
	var removes []Path
	for i, a := range u.Actions {
		var err error
		switch a.Kind {
		case ActionSet:
			v := values[i]
			err = modify(&root, a.Path, func(attr.Value, bool) (attr.Value, bool, error) { return v, true, nil })
		case ActionAdd:
			err = modify(&root, a.Path, func(cur attr.Value, exists bool) (attr.Value, bool, error) {
				return add(cur, exists, a.Value.Value)
			})
		case ActionDelete:
			err = modify(&root, a.Path, func(cur attr.Value, exists bool) (attr.Value, bool, error) {
				return del(cur, exists, a.Value.Value)
			})
		case ActionRemove:
			removes = append(removes, a.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("applying %s %s: %w", a.Kind, a.Path, err)
		}
	}
	// Remove later list elements first so earlier indexes stay valid.
	sort.SliceStable(removes, func(i, j int) bool { return comparePaths(removes[i], removes[j]) > 0 })
	for _, p := range removes {
		err := modify(&root, p, func(attr.Value, bool) (attr.Value, bool, error) { return attr.Value{}, false, nil })
		if err != nil {
			return nil, fmt.Errorf("applying REMOVE %s: %w", p, err)
		}
	}
	return attr.Item(root.M), nil
}

// comparePaths orders paths element by element, list indexes numerically.
func comparePaths(a, b Path) int {
	for k := 0; k < len(a) && k < len(b); k++ {
		x, y := a[k], b[k]
		switch {
		case x.IsIndex != y.IsIndex:
			if x.IsIndex {
				return 1
			}
			return -1
		case x.IsIndex && x.Index != y.Index:
			if x.Index < y.Index {
				return -1
			}
			return 1
		case !x.IsIndex && x.Name != y.Name:
			if x.Name < y.Name {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// modify applies fn to the element at path p below v (a map or list),
// which must exist up to p's parent. fn gets the current value and whether
// it exists, and returns the new value and whether to keep it (false
// removes it). Setting a list index past the end appends.
func modify(v *attr.Value, p Path, fn func(cur attr.Value, exists bool) (attr.Value, bool, error)) error {
	e := p[0]
	last := len(p) == 1
	switch {
	case !e.IsIndex && v.Kind == attr.KindM:
		cur, exists := v.M[e.Name]
		if !last {
			if !exists {
				return validation(MsgInvalidPath)
			}
			if err := modify(&cur, p[1:], fn); err != nil {
				return err
			}
			v.M[e.Name] = cur
			return nil
		}
		nv, keep, err := fn(cur, exists)
		if err != nil {
			return err
		}
		if keep {
			v.M[e.Name] = nv
		} else {
			delete(v.M, e.Name)
		}
		return nil
	case e.IsIndex && v.Kind == attr.KindL:
		exists := e.Index < len(v.L)
		if !last {
			if !exists {
				return validation(MsgInvalidPath)
			}
			return modify(&v.L[e.Index], p[1:], fn)
		}
		var cur attr.Value
		if exists {
			cur = v.L[e.Index]
		}
		nv, keep, err := fn(cur, exists)
		if err != nil {
			return err
		}
		switch {
		case keep && exists:
			v.L[e.Index] = nv
		case keep:
			v.L = append(v.L, nv)
		case exists:
			v.L = append(v.L[:e.Index:e.Index], v.L[e.Index+1:]...)
		}
		return nil
	}
	return validation(MsgInvalidPath)
}

// evalSetValue evaluates the right side of a SET action against the
// original item.
func evalSetValue(o Operand, item attr.Item) (attr.Value, error) {
	switch o.Kind {
	case OperandPath:
		v, ok := lookup(item, o.Path)
		if !ok {
			return attr.Value{}, validation(MsgMissingAttribute)
		}
		return v, nil
	case OperandValue:
		return o.Value, nil
	case OperandFunc:
		switch o.Func {
		case "if_not_exists":
			if v, ok := lookup(item, o.Args[0].Path); ok {
				return v, nil
			}
			return evalSetValue(o.Args[1], item)
		case "list_append":
			a, err := evalSetValue(o.Args[0], item)
			if err != nil {
				return attr.Value{}, err
			}
			b, err := evalSetValue(o.Args[1], item)
			if err != nil {
				return attr.Value{}, err
			}
			if a.Kind != attr.KindL || b.Kind != attr.KindL {
				return attr.Value{}, validation(MsgIncorrectType)
			}
			l := make([]attr.Value, 0, len(a.L)+len(b.L))
			return attr.Value{Kind: attr.KindL, L: append(append(l, a.L...), b.L...)}, nil
		}
	case OperandPlus, OperandMinus:
		a, err := evalSetValue(o.Args[0], item)
		if err != nil {
			return attr.Value{}, err
		}
		b, err := evalSetValue(o.Args[1], item)
		if err != nil {
			return attr.Value{}, err
		}
		if a.Kind != attr.KindN || b.Kind != attr.KindN {
			return attr.Value{}, validation(MsgIncorrectType)
		}
		var n attr.Number
		if o.Kind == OperandPlus {
			n, err = a.N.Add(b.N)
		} else {
			n, err = a.N.Sub(b.N)
		}
		if err != nil {
			return attr.Value{}, err
		}
		return attr.Value{Kind: attr.KindN, N: n}, nil
	}
	return attr.Value{}, fmt.Errorf("unsupported operand %s in SET", o)
}

// add implements ADD: numbers are summed, sets united, and a missing
// attribute is created.
func add(cur attr.Value, exists bool, v attr.Value) (attr.Value, bool, error) {
	if !exists {
		return clone(v), true, nil
	}
	if cur.Kind != v.Kind {
		return attr.Value{}, false, validation(MsgIncorrectType)
	}
	switch v.Kind {
	case attr.KindN:
		n, err := cur.N.Add(v.N)
		if err != nil {
			return attr.Value{}, false, err
		}
		return attr.Value{Kind: attr.KindN, N: n}, true, nil
	case attr.KindSS, attr.KindNS, attr.KindBS:
		return setUnion(cur, v), true, nil
	}
	return attr.Value{}, false, validation(MsgIncorrectType)
}

// del implements DELETE: members are removed from a set, and a set left
// empty is removed. Deleting from a missing attribute does nothing.
func del(cur attr.Value, exists bool, v attr.Value) (attr.Value, bool, error) {
	if !exists {
		return attr.Value{}, false, nil
	}
	if cur.Kind != v.Kind || !isSet(v.Kind) {
		return attr.Value{}, false, validation(MsgIncorrectType)
	}
	out := setDifference(cur, v)
	if setLen(out) == 0 {
		return attr.Value{}, false, nil
	}
	return out, true, nil
}

func setLen(v attr.Value) int { return len(v.SS) + len(v.NS) + len(v.BS) }

// setUnion returns a's members followed by b's members not in a.
func setUnion(a, b attr.Value) attr.Value {
	out := clone(a)
	switch a.Kind {
	case attr.KindSS:
		for _, s := range b.SS {
			if !memberSS(out.SS, s) {
				out.SS = append(out.SS, s)
			}
		}
	case attr.KindNS:
		for _, n := range b.NS {
			if !memberNS(out.NS, n) {
				out.NS = append(out.NS, n)
			}
		}
	case attr.KindBS:
		for _, x := range b.BS {
			if !memberBS(out.BS, x) {
				out.BS = append(out.BS, bytes.Clone(x))
			}
		}
	}
	return out
}

// setDifference returns a's members that are not in b.
func setDifference(a, b attr.Value) attr.Value {
	out := attr.Value{Kind: a.Kind}
	switch a.Kind {
	case attr.KindSS:
		for _, s := range a.SS {
			if !memberSS(b.SS, s) {
				out.SS = append(out.SS, s)
			}
		}
	case attr.KindNS:
		for _, n := range a.NS {
			if !memberNS(b.NS, n) {
				out.NS = append(out.NS, n)
			}
		}
	case attr.KindBS:
		for _, x := range a.BS {
			if !memberBS(b.BS, x) {
				out.BS = append(out.BS, bytes.Clone(x))
			}
		}
	}
	return out
}

func memberSS(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

func memberNS(set []attr.Number, n attr.Number) bool {
	for _, x := range set {
		if x.Cmp(n) == 0 {
			return true
		}
	}
	return false
}

func memberBS(set [][]byte, b []byte) bool {
	for _, x := range set {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// clone returns a deep copy of v.
func clone(v attr.Value) attr.Value {
	switch v.Kind {
	case attr.KindB:
		v.B = bytes.Clone(v.B)
	case attr.KindM:
		m := make(map[string]attr.Value, len(v.M))
		for k, e := range v.M {
			m[k] = clone(e)
		}
		v.M = m
	case attr.KindL:
		l := make([]attr.Value, len(v.L))
		for i, e := range v.L {
			l[i] = clone(e)
		}
		v.L = l
	case attr.KindSS:
		v.SS = append([]string(nil), v.SS...)
	case attr.KindNS:
		v.NS = append([]attr.Number(nil), v.NS...)
	case attr.KindBS:
		bs := make([][]byte, len(v.BS))
		for i, x := range v.BS {
			bs[i] = bytes.Clone(x)
		}
		v.BS = bs
	}
	return v
}
