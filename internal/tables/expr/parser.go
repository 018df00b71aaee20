package expr

import (
	"strconv"
	"strings"
)

// parser is a recursive-descent parser over the tokens of one expression.
// It builds the syntax tree only; names, values, functions and types are
// checked afterwards (see check.go) so that errors come out in DynamoDB's
// order: syntax errors first, then the semantic ones.
type parser struct {
	kind Kind
	src  string
	toks []token
	i    int
	// update makes SET, REMOVE, ADD and DELETE clause keywords.
	update bool
	// redundantAt is the offset of the first "((...))", or -1.
	redundantAt int
	// deepest is the longest path seen (elements), for the nesting limit.
	deepest int
}

func newParser(kind Kind, src string) *parser {
	return &parser{kind: kind, src: src, toks: lex(src), redundantAt: -1}
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// syntaxError reports the current token as DynamoDB does: the token's text
// (or <EOF>) and the source around it, from the previous token to the next.
func (p *parser) syntaxError() error {
	t := p.toks[p.i]
	start := t.pos
	if p.i > 0 {
		start = p.toks[p.i-1].pos
	}
	end := t.end
	if t.kind == tEOF {
		end = start
		if p.i > 0 {
			end = p.toks[p.i-1].end
		}
	} else if n := p.toks[p.i+1]; n.kind != tEOF {
		end = n.end
	}
	return invalidf(p.kind, "Syntax error; token: %s, near: %s", strconv.Quote(t.text), strconv.Quote(p.src[start:end]))
}

func (p *parser) expect(k tokKind) error {
	if p.peek().kind != k {
		return p.syntaxError()
	}
	p.next()
	return nil
}

// isKeyword reports whether t is the (case-insensitive) keyword kw.
func isKeyword(t token, kw string) bool {
	return t.kind == tIdent && len(t.text) == len(kw) && strings.EqualFold(t.text, kw)
}

// isReservedToken reports whether t is a keyword of the grammar, which can
// never be an attribute name or function name.
func (p *parser) isReservedToken(t token) bool {
	if t.kind != tIdent {
		return false
	}
	for _, kw := range [...]string{"AND", "OR", "NOT", "BETWEEN", "IN"} {
		if isKeyword(t, kw) {
			return true
		}
	}
	return p.update && clauseKind(t) != 0
}

// clauseKind returns the update clause t starts, or 0.
func clauseKind(t token) ActionKind {
	for k := ActionSet; k <= ActionDelete; k++ {
		if isKeyword(t, k.String()) {
			return k
		}
	}
	return 0
}

// parseCondition parses a whole condition expression.
func (p *parser) parseCondition() (*Cond, error) {
	c, _, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, p.syntaxError()
	}
	return c, nil
}

// The parse functions below return, besides the node, whether the node is
// exactly one parenthesized group, to detect redundant parentheses.

func (p *parser) parseOr() (*Cond, bool, error) {
	left, group, err := p.parseAnd()
	if err != nil {
		return nil, false, err
	}
	for isKeyword(p.peek(), "OR") {
		pos := p.next().pos
		right, _, err := p.parseAnd()
		if err != nil {
			return nil, false, err
		}
		left, group = &Cond{Kind: CondOr, Sub: []*Cond{left, right}, pos: pos}, false
	}
	return left, group, nil
}

func (p *parser) parseAnd() (*Cond, bool, error) {
	left, group, err := p.parseNot()
	if err != nil {
		return nil, false, err
	}
	for isKeyword(p.peek(), "AND") {
		pos := p.next().pos
		right, _, err := p.parseNot()
		if err != nil {
			return nil, false, err
		}
		left, group = &Cond{Kind: CondAnd, Sub: []*Cond{left, right}, pos: pos}, false
	}
	return left, group, nil
}

func (p *parser) parseNot() (*Cond, bool, error) {
	if !isKeyword(p.peek(), "NOT") {
		return p.parsePrimary()
	}
	pos := p.next().pos
	sub, _, err := p.parseNot()
	if err != nil {
		return nil, false, err
	}
	return &Cond{Kind: CondNot, Sub: []*Cond{sub}, pos: pos}, false, nil
}

// comparator returns the comparator a token spells, if it is one.
func comparator(k tokKind) (string, bool) {
	switch k {
	case tEq:
		return "=", true
	case tNe:
		return "<>", true
	case tLt:
		return "<", true
	case tLe:
		return "<=", true
	case tGt:
		return ">", true
	case tGe:
		return ">=", true
	}
	return "", false
}

func (p *parser) parsePrimary() (*Cond, bool, error) {
	if t := p.peek(); t.kind == tLParen {
		p.next()
		inner, group, err := p.parseOr()
		if err != nil {
			return nil, false, err
		}
		if err := p.expect(tRParen); err != nil {
			return nil, false, err
		}
		if group && p.redundantAt < 0 {
			p.redundantAt = t.pos
		}
		return inner, true, nil
	}
	pos := p.peek().pos
	left, err := p.parseOperand()
	if err != nil {
		return nil, false, err
	}
	t := p.peek()
	if op, ok := comparator(t.kind); ok {
		p.next()
		right, err := p.parseOperand()
		if err != nil {
			return nil, false, err
		}
		return &Cond{Kind: CondCompare, Op: op, Operands: []Operand{left, right}, pos: pos}, false, nil
	}
	switch {
	case isKeyword(t, "BETWEEN"):
		p.next()
		lo, err := p.parseOperand()
		if err != nil {
			return nil, false, err
		}
		if !isKeyword(p.peek(), "AND") {
			return nil, false, p.syntaxError()
		}
		p.next()
		hi, err := p.parseOperand()
		if err != nil {
			return nil, false, err
		}
		return &Cond{Kind: CondBetween, Operands: []Operand{left, lo, hi}, pos: pos}, false, nil
	case isKeyword(t, "IN"):
		p.next()
		if err := p.expect(tLParen); err != nil {
			return nil, false, err
		}
		list, err := p.parseOperandList()
		if err != nil {
			return nil, false, err
		}
		return &Cond{Kind: CondIn, Operands: append([]Operand{left}, list...), pos: pos}, false, nil
	}
	if left.Kind == OperandFunc {
		return &Cond{Kind: CondFunc, Op: left.Func, Operands: left.Args, pos: pos}, false, nil
	}
	return nil, false, p.syntaxError()
}

// parseOperandList parses "operand (, operand)* )" after an opening
// parenthesis.
func (p *parser) parseOperandList() ([]Operand, error) {
	var list []Operand
	for {
		o, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		list = append(list, o)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if err := p.expect(tRParen); err != nil {
		return nil, err
	}
	return list, nil
}

// parseOperand parses a path, a :value or a function call.
func (p *parser) parseOperand() (Operand, error) {
	t := p.peek()
	switch t.kind {
	case tValue:
		p.next()
		return Operand{Kind: OperandValue, Ref: t.text, pos: t.pos}, nil
	case tIdent:
		if p.isReservedToken(t) {
			return Operand{}, p.syntaxError()
		}
		if p.peekAt(1).kind == tLParen {
			p.next()
			p.next()
			args, err := p.parseOperandList()
			if err != nil {
				return Operand{}, err
			}
			return Operand{Kind: OperandFunc, Func: t.text, Args: args, pos: t.pos}, nil
		}
		fallthrough
	case tName:
		path, err := p.parsePath()
		if err != nil {
			return Operand{}, err
		}
		return Operand{Kind: OperandPath, Path: path, pos: t.pos}, nil
	}
	return Operand{}, p.syntaxError()
}

// parsePathName parses one name element: an identifier or a #placeholder.
func (p *parser) parsePathName() (PathElem, error) {
	t := p.peek()
	switch {
	case t.kind == tName:
		p.next()
		return PathElem{Ref: t.text}, nil
	case t.kind == tIdent && !p.isReservedToken(t):
		p.next()
		return PathElem{Name: t.text}, nil
	}
	return PathElem{}, p.syntaxError()
}

// parsePath parses a document path: name ('.' name | '[' digits ']')*.
func (p *parser) parsePath() (Path, error) {
	first, err := p.parsePathName()
	if err != nil {
		return nil, err
	}
	path := Path{first}
	for {
		switch p.peek().kind {
		case tDot:
			p.next()
			e, err := p.parsePathName()
			if err != nil {
				return nil, err
			}
			path = append(path, e)
		case tLBracket:
			p.next()
			t := p.peek()
			if t.kind != tNumber {
				return nil, p.syntaxError()
			}
			n, err := strconv.Atoi(t.text)
			if err != nil || n > 1<<30 {
				return nil, p.syntaxError()
			}
			p.next()
			if err := p.expect(tRBracket); err != nil {
				return nil, err
			}
			path = append(path, PathElem{Index: n, IsIndex: true})
		default:
			if len(path) > p.deepest {
				p.deepest = len(path)
			}
			return path, nil
		}
	}
}

// parseProjection parses path (, path)*.
func (p *parser) parseProjection() ([]Path, error) {
	var paths []Path
	for {
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		paths = append(paths, path)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if p.peek().kind != tEOF {
		return nil, p.syntaxError()
	}
	return paths, nil
}

// parseUpdate parses clauses "SET a = v, ... REMOVE p, ... ADD p :v, ...
// DELETE p :v, ..." in any order. It returns the actions in source order and
// the first clause keyword that is repeated (0 if none).
func (p *parser) parseUpdate() ([]Action, ActionKind, error) {
	p.update = true
	var actions []Action
	var seen [ActionDelete + 1]bool
	var dup ActionKind
	for p.peek().kind != tEOF {
		kind := clauseKind(p.peek())
		if kind == 0 {
			return nil, 0, p.syntaxError()
		}
		p.next()
		if seen[kind] && dup == 0 {
			dup = kind
		}
		seen[kind] = true
		for {
			a, err := p.parseAction(kind)
			if err != nil {
				return nil, 0, err
			}
			actions = append(actions, a)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	return actions, dup, nil
}

func (p *parser) parseAction(kind ActionKind) (Action, error) {
	path, err := p.parsePath()
	if err != nil {
		return Action{}, err
	}
	a := Action{Kind: kind, Path: path}
	switch kind {
	case ActionSet:
		if err := p.expect(tEq); err != nil {
			return Action{}, err
		}
		left, err := p.parseOperand()
		if err != nil {
			return Action{}, err
		}
		a.Value = left
		if k := p.peek().kind; k == tPlus || k == tMinus {
			p.next()
			right, err := p.parseOperand()
			if err != nil {
				return Action{}, err
			}
			op := OperandPlus
			if k == tMinus {
				op = OperandMinus
			}
			a.Value = Operand{Kind: op, Args: []Operand{left, right}, pos: left.pos}
		}
	case ActionAdd, ActionDelete:
		t := p.peek()
		if t.kind != tValue {
			return Action{}, p.syntaxError()
		}
		p.next()
		a.Value = Operand{Kind: OperandValue, Ref: t.text, pos: t.pos}
	}
	// An action ends at a comma, a clause keyword or the end.
	if t := p.peek(); t.kind != tComma && t.kind != tEOF && clauseKind(t) == 0 {
		return Action{}, p.syntaxError()
	}
	return a, nil
}
