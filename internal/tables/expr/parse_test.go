package expr

import (
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"sort"
	"strings"
	"testing"
)

func TestParseConditionCanonical(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"compare", "a = :s", "a = :s"},
		{"all comparators", "a<>:s and b<:n AND c<=:n and d>:n and e>=:n", "((((a <> :s AND b < :n) AND c <= :n) AND d > :n) AND e >= :n)"},
		{"keywords any case", "a = :s oR b = :s aNd NoT c = :s", "(a = :s OR (b = :s AND NOT c = :s))"},
		{"AND binds tighter than OR", "a = :s OR b = :s AND c = :s", "(a = :s OR (b = :s AND c = :s))"},
		{"parentheses override", "(a = :s OR b = :s) AND c = :s", "((a = :s OR b = :s) AND c = :s)"},
		{"NOT binds tighter than AND", "NOT a = :s AND b = :s", "(NOT a = :s AND b = :s)"},
		{"NOT of group", "NOT (a = :s AND b = :s)", "NOT (a = :s AND b = :s)"},
		{"NOT NOT", "NOT NOT a = :s", "NOT NOT a = :s"},
		{"between", "a BETWEEN :n AND :n2 AND b = :s", "(a BETWEEN :n AND :n2 AND b = :s)"},
		{"in", "a IN (:s, :x,:s2)", "a IN (:s, :x, :s2)"},
		{"functions", "attribute_exists (a) AND attribute_not_exists(b.c) OR begins_with(a, :s2)", "((attribute_exists(a) AND attribute_not_exists(b.c)) OR begins_with(a, :s2))"},
		{"attribute_type and contains", "attribute_type(a, :tS) AND contains(l, :n)", "(attribute_type(a, :tS) AND contains(l, :n))"},
		{"size operand", "size(a) > :n", "size(a) > :n"},
		{"size both sides", "size(a) = size(b)", "size(a) = size(b)"},
		{"paths", "a.b[2].c = #a.#dot[10][0]", "a.b[2].c = #a.#dot[10][0]"},
		{"path against path", "a < b", "a < b"},
		{"whitespace", " \ta\n=\r:s ", "a = :s"},
		{"one pair of parentheses per level", "((a = :s) AND (b = :s))", "(a = :s AND b = :s)"},
		{"underscore and digits in names", "a_1 = :s", "a_1 = :s"},
		{"reserved word via placeholder", "#st = :s", "#st = :s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := testEnv().ParseCondition(tt.src)
			if err != nil {
				t.Fatalf("ParseCondition(%q): %v", tt.src, err)
			}
			if got := c.String(); got != tt.want {
				t.Errorf("ParseCondition(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestParseConditionResolves(t *testing.T) {
	c := mustCondition(t, "#a.#dot[1] = :n")
	p := c.Root.Operands[0].Path
	if got, want := p.Display(), "[a, a.b, [1]]"; got != want {
		t.Errorf("path = %s, want %s", got, want)
	}
	if got := c.Root.Operands[1].Value; got.Kind.String() != "N" || got.N.String() != "5" {
		t.Errorf("value = %+v, want N 5", got)
	}
}

func TestParseErrors(t *testing.T) {
	inList := make([]string, 101)
	for i := range inList {
		inList[i] = ":s"
	}
	deep := "a" + strings.Repeat(".b", 32)
	tests := []struct {
		name string
		kind Kind
		src  string
		want string
	}{
		{"empty", KindCondition, "  ", "Invalid ConditionExpression: The expression can not be empty;"},
		{"too long", KindFilter, "a = :s" + strings.Repeat(" ", 4096), "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: 4102"},
		{"bare path", KindCondition, "foo", `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "foo"`},
		{"unclosed function", KindCondition, "attribute_not_exists(", `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "("`},
		{"empty call", KindCondition, "a > now()", `Invalid ConditionExpression: Syntax error; token: ")", near: "()"`},
		{"double equals", KindCondition, "a == :s", `Invalid ConditionExpression: Syntax error; token: "=", near: "== :s"`},
		{"leading underscore", KindKeyCondition, "p = :s AND __t = :s", `Invalid KeyConditionExpression: Syntax error; token: "_", near: "AND __"`},
		{"bang", KindCondition, "a != :s", `Invalid ConditionExpression: Syntax error; token: "!", near: "a !="`},
		{"dangling AND", KindCondition, "a = :s AND", `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "AND"`},
		{"unclosed paren", KindCondition, "(a = :s", `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: ":s"`},
		{"extra paren", KindCondition, "a = :s)", `Invalid ConditionExpression: Syntax error; token: ")", near: ":s)"`},
		{"string literal", KindCondition, `a = "x"`, `Invalid ConditionExpression: Syntax error; token: "\"", near: "= \"x"`},
		{"keyword as name", KindCondition, "and = :s", `Invalid ConditionExpression: Syntax error; token: "and", near: "and ="`},
		{"index on value", KindCondition, "a[x] = :s", `Invalid ConditionExpression: Syntax error; token: "x", near: "[x]"`},
		{"BETWEEN without AND", KindCondition, "a BETWEEN :n OR :n2", `Invalid ConditionExpression: Syntax error; token: "OR", near: ":n OR :n2"`},
		{"redundant parens", KindCondition, "((a = :s))", "Invalid ConditionExpression: The expression has redundant parentheses;"},
		{"redundant parens inner", KindCondition, "((c = :s) AND ((a = :s)))", "Invalid ConditionExpression: The expression has redundant parentheses;"},
		{"unknown function", KindCondition, "foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"},
		{"function names are case-sensitive", KindCondition, "Begins_With(a, :s)", "Invalid ConditionExpression: Invalid function name; function: Begins_With"},
		{"size as condition", KindCondition, "size(a)", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"},
		{"boolean function as operand", KindCondition, "attribute_exists(a) = :bool", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"},
		{"update function in condition", KindCondition, "if_not_exists(a, :s) = :s", "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists"},
		{"reserved word", KindCondition, "status = :s", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"},
		{"reserved nested", KindFilter, "a.Name = :s", "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: Name"},
		{"undefined name", KindCondition, "#x = :s", "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"},
		{"undefined value", KindCondition, "a = :zz", "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :zz"},
		{"operand count", KindCondition, "attribute_exists(a, b)", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"},
		{"size operand count", KindCondition, "size(a, b) = :n", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"},
		{"same operands", KindCondition, "a.b = a.b", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a, b]"},
		{"same operands in contains", KindCondition, "contains(#a, a)", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: contains, first operand: [a]"},
		{"exists needs a path", KindCondition, "attribute_exists(:s)", "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"},
		{"attribute_type of a number", KindCondition, "attribute_type(a, :n)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"},
		{"attribute_type bad name", KindCondition, "attribute_type(a, :tBad)", "Invalid ConditionExpression: Invalid attribute type name found; type: XX, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"},
		{"begins_with number", KindKeyCondition, "p = :s AND begins_with(c, :n)", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"},
		{"ordering a BOOL", KindCondition, "a < :bool", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"},
		{"ordering a list", KindCondition, "a >= :l", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: >=, operand type: L"},
		{"BETWEEN a set", KindCondition, "a BETWEEN :ss AND :ss", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: SS"},
		{"BETWEEN types differ", KindCondition, "a BETWEEN :n AND :s", "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {S:hello}"},
		{"BETWEEN reversed", KindCondition, "a BETWEEN :n2 AND :n", "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:10}, upper bound operand: AttributeValue: {N:5}"},
		{"size of a number", KindCondition, "size(:n) = :n", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N"},
		{"IN too many", KindCondition, "a IN (" + strings.Join(inList, ",") + ")", "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"},
		{"path too deep", KindProjection, deep, "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33"},
		{"projection overlap", KindProjection, "a.b, a", "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a]"},
		{"projection conflict", KindProjection, "a.b, a[1]", "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"},
		{"projection reserved", KindProjection, "a, comment", "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: comment"},
		{"projection value", KindProjection, "a, :s", `Invalid ProjectionExpression: Syntax error; token: ":s", near: ", :s"`},
		{"update syntax", KindUpdate, "whatever", `Invalid UpdateExpression: Syntax error; token: "whatever", near: "whatever"`},
		{"update set without value", KindUpdate, "set a", `Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "a"`},
		{"update keyword as value", KindUpdate, "set a=set", `Invalid UpdateExpression: Syntax error; token: "set", near: "=set"`},
		{"update remove with value", KindUpdate, "remove a = b", `Invalid UpdateExpression: Syntax error; token: "=", near: "a = b"`},
		{"update add path", KindUpdate, "add a b", `Invalid UpdateExpression: Syntax error; token: "b", near: "a b"`},
		{"update placeholder target", KindUpdate, "set :s = b", `Invalid UpdateExpression: Syntax error; token: ":s", near: "set :s ="`},
		{"update multiply", KindUpdate, "set a = b * c", `Invalid UpdateExpression: Syntax error; token: "*", near: "b * c"`},
		{"update literal", KindUpdate, "set a[1] = 1", `Invalid UpdateExpression: Syntax error; token: "1", near: "= 1"`},
		{"update chained arithmetic", KindUpdate, "set a = b + c + d", `Invalid UpdateExpression: Syntax error; token: "+", near: "c + d"`},
		{"update empty", KindUpdate, "", "Invalid UpdateExpression: The expression can not be empty;"},
		{"update duplicate SET", KindUpdate, "set a = :s set c = :s", `Invalid UpdateExpression: The "SET" section can only be used once in an update expression;`},
		{"update duplicate REMOVE", KindUpdate, "remove #a set b = :s remove e", `Invalid UpdateExpression: The "REMOVE" section can only be used once in an update expression;`},
		{"update reserved before sections", KindUpdate, " set #c = :s set abOrt = :s ", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: abOrt"},
		{"update unknown function first", KindUpdate, "set #zz = if_not_exist(:s) set c = d", "Invalid UpdateExpression: Invalid function name; function: if_not_exist"},
		{"update condition function", KindUpdate, "set a = size(b)", "Invalid UpdateExpression: The function is not allowed in an update expression; function: size"},
		{"update undefined name", KindUpdate, "SET #zz = if_not_exists(:zz)", "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #zz"},
		{"update undefined value", KindUpdate, "SET #a = if_not_exists(:zz)", "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :zz"},
		{"update overlap", KindUpdate, "set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [c, [1], a], path two: [c]"},
		{"update overlap same", KindUpdate, "set a = :s remove a", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"},
		{"update overlap nested", KindUpdate, "set a = :s, a.b = :s", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"},
		{"update conflict", KindUpdate, "set #c[3].#idx = a, #c.#idx[3] = if_not_exists(a, :s)", "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3], [3]]"},
		{"update ADD string", KindUpdate, "set b = list_append(:s, a), c = if_not_exists(a) add a.b :s", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"},
		{"update ADD list", KindUpdate, "add a :l", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: LIST, typeSet: ALLOWED_FOR_ADD_OPERAND"},
		{"update ADD map", KindUpdate, "add a :m", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: MAP, typeSet: ALLOWED_FOR_ADD_OPERAND"},
		{"update DELETE number", KindUpdate, "delete a :n", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND"},
		{"update DELETE bool", KindUpdate, "delete a :bool", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: BOOLEAN, typeSet: ALLOWED_FOR_DELETE_OPERAND"},
		{"update if_not_exists count", KindUpdate, "set a = if_not_exists(c)", "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1"},
		{"update list_append count", KindUpdate, "set a = list_append(c)", "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"},
		{"update if_not_exists path", KindUpdate, "set a = if_not_exists(:s, c)", "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"},
		{"update nested if_not_exists path", KindUpdate, "set a = if_not_exists(if_not_exists(a, b), c)", "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"},
		{"update list_append string", KindUpdate, "set a = list_append(:s, a)", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: S"},
		{"update list_append map", KindUpdate, "set a = list_append(a, :m)", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: M"},
		{"update plus string", KindUpdate, "set a = a + :s", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"},
		{"update minus set", KindUpdate, "set a = :ns - a", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: -, operand type: NS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv()
			var err error
			switch tt.kind {
			case KindCondition:
				_, err = env.ParseCondition(tt.src)
			case KindFilter:
				_, err = env.ParseFilter(tt.src)
			case KindKeyCondition:
				_, err = env.ParseKeyCondition(tt.src, KeySchema{Partition: "p", Sort: "c"})
			case KindProjection:
				_, err = env.ParseProjection(tt.src)
			case KindUpdate:
				_, err = env.ParseUpdate(tt.src)
			}
			if got := errMsg(err); got != tt.want {
				t.Errorf("parsing %s %q:\n got %s\nwant %s", tt.kind, tt.src, got, tt.want)
			}
		})
	}
}

func TestCheckUnused(t *testing.T) {
	tests := []struct {
		name   string
		names  map[string]string
		values []string
		exprs  func(e *Env) error
		want   string
	}{
		{
			name:  "all used across expressions",
			names: map[string]string{"#a": "a", "#b": "b"}, values: []string{":s", ":n"},
			exprs: func(e *Env) error {
				if _, err := e.ParseCondition("#a = :s"); err != nil {
					return err
				}
				_, err := e.ParseUpdate("SET #b = :n")
				return err
			},
		},
		{
			name:  "unused names",
			names: map[string]string{"#a": "a", "#b": "b", "#c": "c"}, values: []string{":s"},
			exprs: func(e *Env) error { _, err := e.ParseCondition("#b = :s"); return err },
			want:  "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #c}",
		},
		{
			name:   "unused values",
			values: []string{":s", ":n", ":x"},
			exprs:  func(e *Env) error { _, err := e.ParseProjection("a"); return err },
			want:   "Value provided in ExpressionAttributeValues unused in expressions: keys: {:n, :s, :x}",
		},
		{
			name:   "used by a key condition and a filter",
			values: []string{":s", ":n"},
			exprs: func(e *Env) error {
				if _, err := e.ParseKeyCondition("p = :s", KeySchema{Partition: "p"}); err != nil {
					return err
				}
				_, err := e.ParseFilter("x > :n")
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := testValues()
			values := make(map[string]attr.Value, len(tt.values))
			for _, k := range tt.values {
				values[k] = all[k]
			}
			env := NewEnv(tt.names, values)
			if err := tt.exprs(env); err != nil {
				t.Fatalf("parsing: %v", err)
			}
			if got := errMsg(env.CheckUnused()); got != tt.want {
				t.Errorf("CheckUnused() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReservedWords(t *testing.T) {
	words := reservedWords()
	if len(words) != reservedWordCount {
		t.Fatalf("got %d reserved words, want %d", len(words), reservedWordCount)
	}
	if !sort.StringsAreSorted(words) {
		t.Errorf("reserved word list is not sorted")
	}
	for _, w := range words {
		if !IsReserved(w) || !IsReserved(strings.ToLower(w)) {
			t.Errorf("IsReserved(%q) = false, want true", w)
		}
	}
	for _, w := range []string{"a", "pk", "sk", "price", "statuses", "attribute_exists", "sizes", ""} {
		if IsReserved(w) {
			t.Errorf("IsReserved(%q) = true, want false", w)
		}
	}
}

func TestParseUpdateActions(t *testing.T) {
	u, err := testEnv().ParseUpdate("remove x, y[2] add n :one, s :ss SET a = :s, b.c = b.c + :n, l = list_append(l, :l), d = if_not_exists(d, :n) - :one delete t :bs")
	if err != nil {
		t.Fatal(err)
	}
	want := "SET a = :s, b.c = b.c + :n, l = list_append(l, :l), d = if_not_exists(d, :n) - :one REMOVE x, y[2] ADD n :one, s :ss DELETE t :bs"
	if got := u.String(); got != want {
		t.Errorf("String() =\n %s\nwant\n %s", got, want)
	}
	type summary struct {
		kind               ActionKind
		path               string
		top, counter, sets bool
	}
	var got []summary
	for _, a := range u.Actions {
		got = append(got, summary{a.Kind, a.Path.Display(), a.IsTopLevel(), a.IsCounter(), a.IsSetOp()})
	}
	wantActions := []summary{
		{ActionSet, "[a]", true, false, false},
		{ActionSet, "[b, c]", false, false, false},
		{ActionSet, "[l]", true, false, false},
		{ActionSet, "[d]", true, false, false},
		{ActionRemove, "[x]", true, false, false},
		{ActionRemove, "[y, [2]]", false, false, false},
		{ActionAdd, "[n]", true, true, false},
		{ActionAdd, "[s]", true, false, true},
		{ActionDelete, "[t]", true, false, true},
	}
	if len(got) != len(wantActions) {
		t.Fatalf("got %d actions, want %d", len(got), len(wantActions))
	}
	for i := range got {
		if got[i] != wantActions[i] {
			t.Errorf("action %d = %+v, want %+v", i, got[i], wantActions[i])
		}
	}
}
