package expr

import (
	"sort"
	"strings"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// Env is the ExpressionAttributeNames and ExpressionAttributeValues of one
// request. Every expression of the request is parsed against the same Env,
// which records the placeholders used; CheckUnused then reports the ones no
// expression used, as DynamoDB does. An Env is not safe for concurrent use.
type Env struct {
	names      map[string]string
	values     map[string]attr.Value
	usedNames  map[string]bool
	usedValues map[string]bool
}

// NewEnv returns an Env over a request's ExpressionAttributeNames and
// ExpressionAttributeValues; either may be nil. The maps are not copied and
// must not change while the Env is in use.
func NewEnv(names map[string]string, values map[string]attr.Value) *Env {
	return &Env{
		names:      names,
		values:     values,
		usedNames:  make(map[string]bool),
		usedValues: make(map[string]bool),
	}
}

// CheckUnused returns DynamoDB's error for names or values that no
// expression parsed against e used. Call it after parsing all of a
// request's expressions.
func (e *Env) CheckUnused() error {
	if keys := unused(e.names, e.usedNames); keys != "" {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {" + keys + "}")
	}
	if keys := unused(e.values, e.usedValues); keys != "" {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {" + keys + "}")
	}
	return nil
}

func unused[V any](m map[string]V, used map[string]bool) string {
	var keys []string
	for k := range m {
		if !used[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// prepare rejects empty and oversized expressions, as DynamoDB does before
// parsing.
func prepare(kind Kind, src string) error {
	if strings.TrimSpace(src) == "" {
		return invalidf(kind, "The expression can not be empty;")
	}
	if len(src) > MaxExpressionLength {
		return invalidf(kind, "Expression size has exceeded the maximum allowed size; expression size: %d", len(src))
	}
	return nil
}

// Condition is a parsed ConditionExpression or FilterExpression.
type Condition struct {
	Kind Kind
	Root *Cond
}

// String returns the condition in canonical form (see Cond.String).
func (c *Condition) String() string { return c.Root.String() }

// ParseCondition parses a ConditionExpression against e.
func (e *Env) ParseCondition(src string) (*Condition, error) {
	return e.parseCondition(KindCondition, src)
}

// ParseFilter parses a FilterExpression against e. Filters have the
// grammar and semantics of conditions; only the messages differ.
func (e *Env) ParseFilter(src string) (*Condition, error) {
	return e.parseCondition(KindFilter, src)
}

func (e *Env) parseCondition(kind Kind, src string) (*Condition, error) {
	if err := prepare(kind, src); err != nil {
		return nil, err
	}
	p := newParser(kind, src)
	root, err := p.parseCondition()
	if err != nil {
		return nil, err
	}
	c := newChecker(e, kind, p)
	c.condition(root)
	if err := c.err(); err != nil {
		return nil, err
	}
	return &Condition{Kind: kind, Root: root}, nil
}

// Projection is a parsed ProjectionExpression: the document paths to return.
type Projection []Path

// String returns the projection as written, placeholders kept: "a, #b.c[1]".
func (pr Projection) String() string {
	parts := make([]string, len(pr))
	for i, p := range pr {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// ParseProjection parses a ProjectionExpression against e.
func (e *Env) ParseProjection(src string) (Projection, error) {
	if err := prepare(KindProjection, src); err != nil {
		return nil, err
	}
	p := newParser(KindProjection, src)
	paths, err := p.parseProjection()
	if err != nil {
		return nil, err
	}
	c := newChecker(e, KindProjection, p)
	for _, path := range paths {
		c.path(path)
	}
	c.overlaps(paths)
	if err := c.err(); err != nil {
		return nil, err
	}
	return Projection(paths), nil
}

// Update is a parsed UpdateExpression.
type Update struct {
	// Actions in canonical clause order (SET, REMOVE, ADD, DELETE), and in
	// source order within a clause. Their paths never overlap.
	Actions []Action
}

// String returns the update in canonical form: clauses in the order SET,
// REMOVE, ADD, DELETE, placeholders kept.
func (u *Update) String() string {
	var b strings.Builder
	for k := ActionSet; k <= ActionDelete; k++ {
		first := true
		for _, a := range u.Actions {
			if a.Kind != k {
				continue
			}
			switch {
			case first && b.Len() > 0:
				b.WriteString(" " + k.String() + " ")
			case first:
				b.WriteString(k.String() + " ")
			default:
				b.WriteString(", ")
			}
			first = false
			b.WriteString(a.String())
		}
	}
	return b.String()
}

// ParseUpdate parses an UpdateExpression against e.
func (e *Env) ParseUpdate(src string) (*Update, error) {
	if err := prepare(KindUpdate, src); err != nil {
		return nil, err
	}
	p := newParser(KindUpdate, src)
	actions, dup, err := p.parseUpdate()
	if err != nil {
		return nil, err
	}
	c := newChecker(e, KindUpdate, p)
	c.update(actions, dup)
	if err := c.err(); err != nil {
		return nil, err
	}
	sorted := make([]Action, 0, len(actions))
	for k := ActionSet; k <= ActionDelete; k++ {
		for _, a := range actions {
			if a.Kind == k {
				sorted = append(sorted, a)
			}
		}
	}
	return &Update{Actions: sorted}, nil
}
