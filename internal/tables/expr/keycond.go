package expr

import (
	"strconv"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// KeySchema names the key attributes of the table or index a Query reads.
type KeySchema struct {
	Partition string
	Sort      string // "" for a table or index without a sort key
}

// SortOp is the operator of a sort key condition.
type SortOp uint8

// Sort key operators.
const (
	SortEQ SortOp = iota + 1
	SortLT
	SortLE
	SortGT
	SortGE
	SortBetween
	SortBeginsWith
)

// String returns the operator as written in an expression.
func (o SortOp) String() string {
	switch o {
	case SortEQ:
		return "="
	case SortLT:
		return "<"
	case SortLE:
		return "<="
	case SortGT:
		return ">"
	case SortGE:
		return ">="
	case SortBetween:
		return "BETWEEN"
	case SortBeginsWith:
		return "begins_with"
	}
	return "SortOp(" + strconv.Itoa(int(o)) + ")"
}

// SortCondition is the condition on the sort key of a Query.
type SortCondition struct {
	Op SortOp
	// Values holds the operand: two values (low, high) for SortBetween, one
	// otherwise.
	Values []attr.Value
}

// KeyCondition is a parsed KeyConditionExpression: the partition key value
// and an optional sort key condition. The types of the values are not
// checked against the table's attribute definitions; the caller knows them.
type KeyCondition struct {
	Partition attr.Value
	Sort      *SortCondition // nil if the sort key is not constrained
	// Cond is the expression as parsed.
	Cond *Condition
}

// String returns the expression in canonical form.
func (k *KeyCondition) String() string { return k.Cond.String() }

// Match reports whether item's key attributes satisfy the condition.
func (k *KeyCondition) Match(item attr.Item) bool { return evalCond(k.Cond.Root, item) }

// keyLeaf is one comparison of a key condition, normalized to
// "attribute op values".
type keyLeaf struct {
	name   string
	op     SortOp
	values []attr.Value
}

// ParseKeyCondition parses a KeyConditionExpression against e and checks it
// against the key attributes of the table or index queried.
func (e *Env) ParseKeyCondition(src string, keys KeySchema) (*KeyCondition, error) {
	const kind = KindKeyCondition
	cond, err := e.parseCondition(kind, src)
	if err != nil {
		return nil, err
	}
	var leaves []*Cond
	var walk func(c *Cond) error
	walk = func(c *Cond) error {
		switch c.Kind {
		case CondAnd:
			if err := walk(c.Sub[0]); err != nil {
				return err
			}
			return walk(c.Sub[1])
		case CondOr:
			return invalidf(kind, "Invalid operator used in KeyConditionExpression: OR")
		case CondNot:
			return invalidf(kind, "Invalid operator used in KeyConditionExpression: NOT")
		case CondIn:
			return invalidf(kind, "Invalid operator used in KeyConditionExpression: IN")
		case CondCompare:
			if c.Op == "<>" {
				return invalidf(kind, "Invalid operator used in KeyConditionExpression: <>")
			}
		case CondFunc:
			if c.Op != "begins_with" {
				return invalidf(kind, "Invalid operator used in KeyConditionExpression: %s", c.Op)
			}
		}
		leaves = append(leaves, c)
		return nil
	}
	if err := walk(cond.Root); err != nil {
		return nil, err
	}
	if len(leaves) > 2 {
		return nil, validation("Conditions can be of length 1 or 2 only")
	}
	var part, sort, other *keyLeaf
	for _, c := range leaves {
		l, err := keyLeafOf(c)
		if err != nil {
			return nil, err
		}
		switch {
		case l.name == keys.Partition:
			if part != nil {
				return nil, invalidf(kind, "KeyConditionExpressions must only contain one condition per key")
			}
			part = l
		case keys.Sort != "" && l.name == keys.Sort:
			if sort != nil {
				return nil, invalidf(kind, "KeyConditionExpressions must only contain one condition per key")
			}
			sort = l
		default:
			other = l
		}
	}
	switch {
	case part == nil:
		return nil, validation("Query condition missed key schema element: " + keys.Partition)
	case other != nil && keys.Sort != "":
		return nil, validation("Query condition missed key schema element: " + keys.Sort)
	case other != nil, part.op != SortEQ:
		return nil, validation("Query key condition not supported")
	}
	k := &KeyCondition{Partition: part.values[0], Cond: cond}
	if sort != nil {
		k.Sort = &SortCondition{Op: sort.op, Values: sort.values}
	}
	return k, nil
}

// keyLeafOf normalizes one comparison to "attribute op values".
func keyLeafOf(c *Cond) (*keyLeaf, error) {
	isPath := func(o Operand) bool { return o.Kind == OperandPath }
	isValue := func(o Operand) bool { return o.Kind == OperandValue }
	var path Path
	l := &keyLeaf{}
	switch c.Kind {
	case CondCompare:
		a, b := c.Operands[0], c.Operands[1]
		flip := false
		switch {
		case isPath(a) && isValue(b):
		case isValue(a) && isPath(b):
			a, b, flip = b, a, true
		default:
			return nil, validation("Query key condition not supported")
		}
		path, l.values = a.Path, []attr.Value{b.Value}
		l.op = sortOpOf(c.Op, flip)
	case CondBetween:
		if !isPath(c.Operands[0]) || !isValue(c.Operands[1]) || !isValue(c.Operands[2]) {
			return nil, validation("Query key condition not supported")
		}
		path, l.op = c.Operands[0].Path, SortBetween
		l.values = []attr.Value{c.Operands[1].Value, c.Operands[2].Value}
	case CondFunc: // begins_with, checked by the caller
		if !isPath(c.Operands[0]) || !isValue(c.Operands[1]) {
			return nil, validation("Query key condition not supported")
		}
		path, l.op = c.Operands[0].Path, SortBeginsWith
		l.values = []attr.Value{c.Operands[1].Value}
	}
	if len(path) != 1 {
		return nil, invalidf(KindKeyCondition, "KeyConditionExpressions cannot have conditions on nested attributes")
	}
	l.name = path.Top()
	return l, nil
}

// sortOpOf maps a comparator to a sort operator; flip mirrors it for
// conditions written value-first (":v < k" is "k > :v").
func sortOpOf(op string, flip bool) SortOp {
	switch op {
	case "<":
		if flip {
			return SortGT
		}
		return SortLT
	case "<=":
		if flip {
			return SortGE
		}
		return SortLE
	case ">":
		if flip {
			return SortLT
		}
		return SortGT
	case ">=":
		if flip {
			return SortLE
		}
		return SortGE
	}
	return SortEQ
}
