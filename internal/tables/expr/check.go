package expr

import (
	"encoding/base64"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// category orders semantic errors: when an expression has several, DynamoDB
// reports the one of the earliest category, and within a category the first
// in the source.
type category int

const (
	catParens category = iota
	catDepth
	catUnknownFunc
	catMisused
	catReserved
	catSections
	catNames
	catValues
	catOverlap
	catConflict
	catAddDelete
	catLeaf
	numCats
)

// checker resolves placeholders in a freshly parsed tree and validates it.
type checker struct {
	env   *Env
	kind  Kind
	first [numCats]error
}

func newChecker(env *Env, kind Kind, p *parser) *checker {
	c := &checker{env: env, kind: kind}
	if p.redundantAt >= 0 {
		c.set(catParens, invalidf(kind, "The expression has redundant parentheses;"))
	}
	if p.deepest > MaxPathDepth {
		c.set(catDepth, invalidf(kind, "The document path has too many nesting levels; nesting levels: %d", p.deepest))
	}
	return c
}

func (c *checker) set(cat category, err error) {
	if c.first[cat] == nil {
		c.first[cat] = err
	}
}

func (c *checker) err() error {
	for _, err := range c.first {
		if err != nil {
			return err
		}
	}
	return nil
}

// path substitutes #placeholders and rejects reserved words.
func (c *checker) path(p Path) {
	for i := range p {
		e := &p[i]
		switch {
		case e.IsIndex:
		case e.Ref != "":
			name, ok := c.env.names[e.Ref]
			if !ok {
				c.set(catNames, invalidf(c.kind, "An expression attribute name used in the document path is not defined; attribute name: %s", e.Ref))
				continue
			}
			c.env.usedNames[e.Ref] = true
			e.Name = name
		case IsReserved(e.Name):
			c.set(catReserved, invalidf(c.kind, "Attribute name is a reserved keyword; reserved keyword: %s", e.Name))
		}
	}
}

// value substitutes a :placeholder.
func (c *checker) value(o *Operand) {
	v, ok := c.env.values[o.Ref]
	if !ok {
		c.set(catValues, invalidf(c.kind, "An expression attribute value used in expression is not defined; attribute value: %s", o.Ref))
		return
	}
	c.env.usedValues[o.Ref] = true
	o.Value = v
}

// Function tables. Arity of the boolean condition functions:
func condFuncArity(name string) (int, bool) {
	switch name {
	case "attribute_exists", "attribute_not_exists":
		return 1, true
	case "attribute_type", "begins_with", "contains":
		return 2, true
	}
	return 0, false
}

// updateFunc reports whether name is a function of update expressions.
func updateFunc(name string) bool { return name == "if_not_exists" || name == "list_append" }

// operand resolves an operand tree; inUpdate selects which functions are
// allowed as operands.
func (c *checker) operand(o *Operand, inUpdate bool) {
	switch o.Kind {
	case OperandPath:
		c.path(o.Path)
	case OperandValue:
		c.value(o)
	case OperandFunc:
		_, isCond := condFuncArity(o.Func)
		switch {
		case inUpdate && updateFunc(o.Func):
		case !inUpdate && o.Func == "size":
		case inUpdate && (isCond || o.Func == "size"):
			c.set(catMisused, invalidf(c.kind, "The function is not allowed in an update expression; function: %s", o.Func))
		case !inUpdate && updateFunc(o.Func):
			c.set(catMisused, invalidf(c.kind, "The function is not allowed in a condition expression; function: %s", o.Func))
		case isCond:
			c.set(catMisused, invalidf(c.kind, "The function is not allowed to be used this way in an expression; function: %s", o.Func))
		default:
			c.set(catUnknownFunc, invalidf(c.kind, "Invalid function name; function: %s", o.Func))
		}
		for i := range o.Args {
			c.operand(&o.Args[i], inUpdate)
		}
	case OperandPlus, OperandMinus:
		c.operand(&o.Args[0], inUpdate)
		c.operand(&o.Args[1], inUpdate)
	}
}

// condition resolves and validates a condition tree.
func (c *checker) condition(cd *Cond) {
	switch cd.Kind {
	case CondAnd, CondOr, CondNot:
		for _, s := range cd.Sub {
			c.condition(s)
		}
		return
	case CondFunc:
		_, ok := condFuncArity(cd.Op)
		switch {
		case ok:
		case cd.Op == "size":
			c.set(catMisused, invalidf(c.kind, "The function is not allowed to be used this way in an expression; function: %s", cd.Op))
		case updateFunc(cd.Op):
			c.set(catMisused, invalidf(c.kind, "The function is not allowed in a condition expression; function: %s", cd.Op))
		default:
			c.set(catUnknownFunc, invalidf(c.kind, "Invalid function name; function: %s", cd.Op))
		}
	}
	for i := range cd.Operands {
		c.operand(&cd.Operands[i], false)
	}
	if err := c.leaf(cd); err != nil {
		c.set(catLeaf, err)
	}
}

// Messages of leaf checks.
const (
	msgOperandCount = "Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d"
	msgDistinct     = "The first operand must be distinct from the remaining operands for this operator or function; operator: %s, first operand: %s"
	msgNeedsPath    = "Operator or function requires a document path; operator or function: %s"
	msgOperandType  = "Incorrect operand type for operator or function; operator or function: %s, operand type: %s"
	msgBadTypeName  = "Invalid attribute type name found; type: %s, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
)

// leaf checks one comparison or function condition whose placeholders are
// resolved: operand counts, distinct operands, paths where required, and
// the types of constant operands.
func (c *checker) leaf(cd *Cond) error {
	for _, o := range cd.Operands {
		if err := c.sizeCount(o); err != nil {
			return err
		}
	}
	switch cd.Kind {
	case CondFunc:
		n, _ := condFuncArity(cd.Op)
		if len(cd.Operands) != n {
			return invalidf(c.kind, msgOperandCount, cd.Op, len(cd.Operands))
		}
		if n == 2 {
			if err := c.distinct(cd.Op, cd.Operands[0], cd.Operands[1]); err != nil {
				return err
			}
		}
		switch cd.Op {
		case "attribute_exists", "attribute_not_exists", "attribute_type":
			if cd.Operands[0].Kind != OperandPath {
				return invalidf(c.kind, msgNeedsPath, cd.Op)
			}
		}
		switch cd.Op {
		case "attribute_type":
			t := cd.Operands[1]
			if t.Kind == OperandValue && t.Value.Kind.Valid() {
				if t.Value.Kind != attr.KindS {
					return invalidf(c.kind, msgOperandType, cd.Op, t.Value.Kind)
				}
				if _, ok := kindByName(t.Value.S); !ok {
					return invalidf(c.kind, msgBadTypeName, t.Value.S)
				}
			}
		case "begins_with":
			for _, o := range cd.Operands {
				if k := constKind(o); k != 0 && k != attr.KindS && k != attr.KindB {
					return invalidf(c.kind, msgOperandType, cd.Op, k)
				}
			}
		}
	case CondCompare:
		if err := c.distinct(cd.Op, cd.Operands[0], cd.Operands[1]); err != nil {
			return err
		}
		if cd.Op != "=" && cd.Op != "<>" {
			if err := c.ordered(cd.Op, cd.Operands); err != nil {
				return err
			}
		}
	case CondBetween:
		if err := c.ordered("BETWEEN", cd.Operands); err != nil {
			return err
		}
		lo, hi := cd.Operands[1], cd.Operands[2]
		if constKind(lo) != 0 && constKind(hi) != 0 {
			if lo.Value.Kind != hi.Value.Kind {
				return invalidf(c.kind, "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s",
					shortValue(lo.Value), shortValue(hi.Value))
			}
			if cmp, ok := attr.Compare(lo.Value, hi.Value); ok && cmp > 0 {
				return invalidf(c.kind, "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s",
					shortValue(lo.Value), shortValue(hi.Value))
			}
		}
	case CondIn:
		if n := len(cd.Operands) - 1; n > MaxInOperands {
			return invalidf(c.kind, "The IN operator is provided with too many operands; number of operands: %d", n)
		}
	}
	for _, o := range cd.Operands {
		if err := c.sizeType(o); err != nil {
			return err
		}
	}
	return nil
}

// sizeCount checks the operand count of size() calls.
func (c *checker) sizeCount(o Operand) error {
	if o.Kind == OperandFunc && o.Func == "size" && len(o.Args) != 1 {
		return invalidf(c.kind, msgOperandCount, o.Func, len(o.Args))
	}
	return nil
}

// sizeType rejects size() of a constant that has no size.
func (c *checker) sizeType(o Operand) error {
	if o.Kind != OperandFunc || o.Func != "size" || len(o.Args) != 1 {
		return nil
	}
	switch k := constKind(o.Args[0]); k {
	case attr.KindN, attr.KindBOOL, attr.KindNULL:
		return invalidf(c.kind, msgOperandType, o.Func, k)
	}
	return nil
}

// distinct rejects an operator whose two operands are the same path.
func (c *checker) distinct(op string, a, b Operand) error {
	if a.Kind == OperandPath && b.Kind == OperandPath && a.Path.equal(b.Path) {
		return invalidf(c.kind, msgDistinct, op, a.Path.Display())
	}
	return nil
}

// ordered rejects constants that have no order (only S, N and B do).
func (c *checker) ordered(op string, ops []Operand) error {
	for _, o := range ops {
		switch k := constKind(o); k {
		case 0, attr.KindS, attr.KindN, attr.KindB:
		default:
			return invalidf(c.kind, msgOperandType, op, k)
		}
	}
	return nil
}

// constKind returns the kind of a resolved constant operand, or 0.
func constKind(o Operand) attr.Kind {
	if o.Kind != OperandValue || !o.Value.Kind.Valid() {
		return 0
	}
	return o.Value.Kind
}

// kindByName maps attribute_type's type names to kinds.
func kindByName(name string) (attr.Kind, bool) {
	for k := attr.KindS; k <= attr.KindBS; k++ {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

// shortValue renders a value as DynamoDB does in BETWEEN messages: {N:10}.
func shortValue(v attr.Value) string {
	var s string
	switch v.Kind {
	case attr.KindS:
		s = v.S
	case attr.KindN:
		s = v.N.String()
	case attr.KindB:
		s = base64.StdEncoding.EncodeToString(v.B)
	case attr.KindBOOL:
		s = "false"
		if v.BOOL {
			s = "true"
		}
	case attr.KindNULL:
		s = "true"
	default:
		s = "..."
	}
	return "{" + v.Kind.String() + ":" + s + "}"
}

// longTypeName is the type name DynamoDB uses in ADD and DELETE messages.
func longTypeName(k attr.Kind) string {
	switch k {
	case attr.KindS:
		return "STRING"
	case attr.KindN:
		return "NUMBER"
	case attr.KindB:
		return "BINARY"
	case attr.KindBOOL:
		return "BOOLEAN"
	case attr.KindNULL:
		return "NULL"
	case attr.KindM:
		return "MAP"
	case attr.KindL:
		return "LIST"
	case attr.KindSS:
		return "STRING SET"
	case attr.KindNS:
		return "NUMBER SET"
	case attr.KindBS:
		return "BINARY SET"
	}
	return k.String()
}

// update resolves and validates the actions of an update expression.
func (c *checker) update(actions []Action, dup ActionKind) {
	if dup != 0 {
		c.set(catSections, invalidf(c.kind, "The %q section can only be used once in an update expression;", dup.String()))
	}
	paths := make([]Path, len(actions))
	for i := range actions {
		a := &actions[i]
		c.path(a.Path)
		paths[i] = a.Path
		if a.Kind != ActionRemove {
			c.operand(&a.Value, true)
		}
	}
	c.overlaps(paths)
	for _, a := range actions {
		k := constKind(a.Value)
		switch {
		case k == 0:
		case a.Kind == ActionAdd && k != attr.KindN && !isSet(k):
			c.set(catAddDelete, invalidf(c.kind, "Incorrect operand type for operator or function; operator: ADD, operand type: %s, typeSet: ALLOWED_FOR_ADD_OPERAND", longTypeName(k)))
		case a.Kind == ActionDelete && !isSet(k):
			c.set(catAddDelete, invalidf(c.kind, "Incorrect operand type for operator or function; operator: DELETE, operand type: %s, typeSet: ALLOWED_FOR_DELETE_OPERAND", longTypeName(k)))
		}
		if a.Kind == ActionSet {
			if err := c.setValue(a.Value); err != nil {
				c.set(catLeaf, err)
			}
		}
	}
}

func isSet(k attr.Kind) bool { return k == attr.KindSS || k == attr.KindNS || k == attr.KindBS }

// setValue checks the operand tree of a SET action.
func (c *checker) setValue(o Operand) error {
	switch o.Kind {
	case OperandFunc:
		if len(o.Args) != 2 {
			return invalidf(c.kind, msgOperandCount, o.Func, len(o.Args))
		}
		if o.Func == "if_not_exists" && o.Args[0].Kind != OperandPath {
			return invalidf(c.kind, msgNeedsPath, o.Func)
		}
		for _, a := range o.Args {
			if err := c.setValue(a); err != nil {
				return err
			}
		}
		if o.Func == "list_append" {
			for _, a := range o.Args {
				if k := constKind(a); k != 0 && k != attr.KindL {
					return invalidf(c.kind, msgOperandType, o.Func, k)
				}
			}
		}
	case OperandPlus, OperandMinus:
		op := "+"
		if o.Kind == OperandMinus {
			op = "-"
		}
		for _, a := range o.Args {
			if err := c.setValue(a); err != nil {
				return err
			}
		}
		for _, a := range o.Args {
			if k := constKind(a); k != 0 && k != attr.KindN {
				return invalidf(c.kind, msgOperandType, op, k)
			}
		}
	}
	return nil
}

// overlaps rejects paths of which one contains another (overlap) or which
// disagree on whether a step is a list index or a map key (conflict).
func (c *checker) overlaps(paths []Path) {
	for j := range paths {
		for i := 0; i < j; i++ {
			switch relate(paths[i], paths[j]) {
			case pathsOverlap:
				c.set(catOverlap, invalidf(c.kind, "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", paths[i].Display(), paths[j].Display()))
			case pathsConflict:
				c.set(catConflict, invalidf(c.kind, "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", paths[i].Display(), paths[j].Display()))
			}
		}
	}
}

type pathRelation int

const (
	pathsDisjoint pathRelation = iota
	pathsOverlap
	pathsConflict
)

func relate(a, b Path) pathRelation {
	for k := 0; k < len(a) && k < len(b); k++ {
		if a[k].IsIndex != b[k].IsIndex {
			return pathsConflict
		}
		if a[k].Index != b[k].Index || a[k].Name != b[k].Name {
			return pathsDisjoint
		}
	}
	return pathsOverlap
}
