package expr

import (
	"strconv"
	"strings"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// PathElem is one step of a document path: an attribute or map key name, or
// a list index.
type PathElem struct {
	// Name is the attribute or map key, with any #placeholder substituted.
	Name string
	// Ref is the #placeholder the name was written as, or "" if it was
	// written literally.
	Ref string
	// Index is the list index when IsIndex is set.
	Index   int
	IsIndex bool
}

// Path is a document path such as a.b[2].#c. Its first element is always a
// name (the top-level attribute).
type Path []PathElem

// Top returns the top-level attribute name the path starts with.
func (p Path) Top() string {
	if len(p) == 0 {
		return ""
	}
	return p[0].Name
}

// IsTopLevel reports whether the path names a whole top-level attribute.
func (p Path) IsTopLevel() bool { return len(p) == 1 }

// String returns the path as written in an expression, with placeholders
// kept: a.#n[2].
func (p Path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.IsIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.Index))
			b.WriteByte(']')
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			if e.Ref != "" {
				b.WriteString(e.Ref)
			} else {
				b.WriteString(e.Name)
			}
		}
	}
	return b.String()
}

// Display returns the path the way DynamoDB prints it in messages, with
// names substituted: [a, b, [2]].
func (p Path) Display() string {
	parts := make([]string, len(p))
	for i, e := range p {
		if e.IsIndex {
			parts[i] = "[" + strconv.Itoa(e.Index) + "]"
		} else {
			parts[i] = e.Name
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// equal reports whether p and q are the same resolved path.
func (p Path) equal(q Path) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i].IsIndex != q[i].IsIndex || p[i].Index != q[i].Index || p[i].Name != q[i].Name {
			return false
		}
	}
	return true
}

// OperandKind says what an Operand is.
type OperandKind uint8

// Operand kinds.
const (
	// OperandPath reads a document path of the item.
	OperandPath OperandKind = iota + 1
	// OperandValue is an ExpressionAttributeValues placeholder.
	OperandValue
	// OperandFunc calls Func (size, if_not_exists, list_append) on Args.
	OperandFunc
	// OperandPlus and OperandMinus add or subtract Args[0] and Args[1]
	// (update expressions only).
	OperandPlus
	OperandMinus
)

// Operand is a value-producing term of an expression.
type Operand struct {
	Kind OperandKind
	// Path is set for OperandPath.
	Path Path
	// Ref is the :placeholder of an OperandValue, and Value its substituted
	// value.
	Ref   string
	Value attr.Value
	// Func is the function name of an OperandFunc.
	Func string
	// Args are the arguments of an OperandFunc, or the two sides of
	// OperandPlus and OperandMinus.
	Args []Operand

	pos int // byte offset in the source, for messages
}

// String returns the operand as written, placeholders kept.
func (o Operand) String() string {
	switch o.Kind {
	case OperandPath:
		return o.Path.String()
	case OperandValue:
		return o.Ref
	case OperandFunc:
		return o.Func + "(" + joinOperands(o.Args) + ")"
	case OperandPlus:
		return o.Args[0].String() + " + " + o.Args[1].String()
	case OperandMinus:
		return o.Args[0].String() + " - " + o.Args[1].String()
	}
	return "?"
}

func joinOperands(ops []Operand) string {
	parts := make([]string, len(ops))
	for i, o := range ops {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// CondKind says what a Cond is.
type CondKind uint8

// Condition node kinds.
const (
	// CondCompare compares Operands[0] and Operands[1] with Op.
	CondCompare CondKind = iota + 1
	// CondBetween is Operands[0] BETWEEN Operands[1] AND Operands[2].
	CondBetween
	// CondIn is Operands[0] IN (Operands[1:]...).
	CondIn
	// CondFunc is a boolean function (Op) of Operands: attribute_exists,
	// attribute_not_exists, attribute_type, begins_with, contains.
	CondFunc
	// CondAnd, CondOr combine Sub[0] and Sub[1]; CondNot negates Sub[0].
	CondAnd
	CondOr
	CondNot
)

// Cond is a node of a condition tree.
type Cond struct {
	Kind CondKind
	// Op is the comparator of a CondCompare ("=", "<>", "<", "<=", ">",
	// ">=") or the function name of a CondFunc.
	Op       string
	Operands []Operand
	Sub      []*Cond

	pos int // byte offset in the source, for messages
}

// String returns the condition in canonical form: AND and OR in
// parentheses, keywords upper case, placeholders kept. Parsing the result
// again gives the same tree.
func (c *Cond) String() string {
	var b strings.Builder
	c.write(&b)
	return b.String()
}

func (c *Cond) write(b *strings.Builder) {
	switch c.Kind {
	case CondCompare:
		b.WriteString(c.Operands[0].String() + " " + c.Op + " " + c.Operands[1].String())
	case CondBetween:
		b.WriteString(c.Operands[0].String() + " BETWEEN " + c.Operands[1].String() + " AND " + c.Operands[2].String())
	case CondIn:
		b.WriteString(c.Operands[0].String() + " IN (" + joinOperands(c.Operands[1:]) + ")")
	case CondFunc:
		b.WriteString(c.Op + "(" + joinOperands(c.Operands) + ")")
	case CondAnd, CondOr:
		op := " AND "
		if c.Kind == CondOr {
			op = " OR "
		}
		b.WriteByte('(')
		c.Sub[0].write(b)
		b.WriteString(op)
		c.Sub[1].write(b)
		b.WriteByte(')')
	case CondNot:
		b.WriteString("NOT ")
		c.Sub[0].write(b)
	}
}

// ActionKind is the clause an update action belongs to.
type ActionKind uint8

// Update action kinds, in the order Update.String prints their clauses.
const (
	ActionSet ActionKind = iota + 1
	ActionRemove
	ActionAdd
	ActionDelete
)

// String returns the clause keyword: SET, REMOVE, ADD or DELETE.
func (k ActionKind) String() string {
	switch k {
	case ActionSet:
		return "SET"
	case ActionRemove:
		return "REMOVE"
	case ActionAdd:
		return "ADD"
	case ActionDelete:
		return "DELETE"
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// Action is one action of an update expression.
type Action struct {
	Kind ActionKind
	// Path is the document path the action writes.
	Path Path
	// Value is what SET assigns (a path, a value, a function or an
	// arithmetic operand) and, for ADD and DELETE, the OperandValue
	// whose Value is the number or set to add or delete. It is unused
	// for REMOVE.
	Value Operand
}

// IsTopLevel reports whether the action writes a whole top-level attribute
// (as opposed to a nested map entry or list element).
func (a Action) IsTopLevel() bool { return a.Path.IsTopLevel() }

// IsCounter reports whether the action is a numeric ADD, which the
// replicated store keeps as a per-region counter.
func (a Action) IsCounter() bool { return a.Kind == ActionAdd && a.Value.Value.Kind == attr.KindN }

// IsSetOp reports whether the action adds members to or deletes members from
// a set, which the replicated store keeps as an add-wins set.
func (a Action) IsSetOp() bool {
	if a.Kind != ActionAdd && a.Kind != ActionDelete {
		return false
	}
	switch a.Value.Value.Kind {
	case attr.KindSS, attr.KindNS, attr.KindBS:
		return true
	}
	return false
}

func (a Action) String() string {
	switch a.Kind {
	case ActionSet:
		return a.Path.String() + " = " + a.Value.String()
	case ActionRemove:
		return a.Path.String()
	default:
		return a.Path.String() + " " + a.Value.String()
	}
}
