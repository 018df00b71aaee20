package expr

import (
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

func TestParseKeyCondition(t *testing.T) {
	schema := KeySchema{Partition: "p", Sort: "c"}
	tests := []struct {
		name, src string
		sortOp    SortOp // 0: no sort condition
		values    int
	}{
		{"partition only", "p = :s", 0, 0},
		{"equal", "p = :s AND c = :n", SortEQ, 1},
		{"less", "p = :s and c < :n", SortLT, 1},
		{"less or equal", "p = :s AND c <= :n", SortLE, 1},
		{"greater", "c > :n AND p = :s", SortGT, 1},
		{"greater or equal", "p = :s AND c >= :n", SortGE, 1},
		{"reversed operands mirror the operator", ":s = p AND :n < c", SortGT, 1},
		{"reversed greater or equal", ":s = p AND :n >= c", SortLE, 1},
		{"between", "p = :s AND c BETWEEN :n AND :n2", SortBetween, 2},
		{"begins_with", "p = :s AND begins_with(c, :s2)", SortBeginsWith, 1},
		{"placeholders and parentheses", "((#k = :s) AND (c = :n))", SortEQ, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(map[string]string{"#k": "p"}, testValues())
			k, err := env.ParseKeyCondition(tt.src, schema)
			if err != nil {
				t.Fatal(err)
			}
			if !attr.Equal(k.Partition, sv("hello")) {
				t.Errorf("partition value = %v, want hello", k.Partition)
			}
			switch {
			case tt.sortOp == 0 && k.Sort != nil:
				t.Errorf("sort condition = %+v, want none", k.Sort)
			case tt.sortOp != 0 && k.Sort == nil:
				t.Errorf("no sort condition, want %s", tt.sortOp)
			case tt.sortOp != 0 && (k.Sort.Op != tt.sortOp || len(k.Sort.Values) != tt.values):
				t.Errorf("sort condition = %s with %d values, want %s with %d", k.Sort.Op, len(k.Sort.Values), tt.sortOp, tt.values)
			}
		})
	}
}

func TestParseKeyConditionErrors(t *testing.T) {
	tests := []struct {
		name, src string
		schema    KeySchema
		want      string
	}{
		{"OR", "c = :n OR p = :s", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"},
		{"NOT", "NOT c = :n AND p = :s", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: NOT"},
		{"not equal", "p = :s AND c <> :n", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: <>"},
		{"IN", "p = :s AND c IN (:n)", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: IN"},
		{"other function", "p = :s AND attribute_exists(c)", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: attribute_exists"},
		{"unknown function", "p = :s AND dog(c, :n)", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: Invalid function name; function: dog"},
		{"same key twice", "p = :s AND p = :s", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"},
		{"three conditions", "p = :s AND c < :n AND a < :n", KeySchema{"p", "c"}, "Conditions can be of length 1 or 2 only"},
		{"no partition key", "c = :n", KeySchema{"p", "c"}, "Query condition missed key schema element: p"},
		{"non-key attribute", "p = :s AND a < :n", KeySchema{"p", "c"}, "Query condition missed key schema element: c"},
		{"non-key attribute without sort key", "p = :s AND a < :n", KeySchema{"p", ""}, "Query key condition not supported"},
		{"partition range", "p < :s", KeySchema{"p", "c"}, "Query key condition not supported"},
		{"partition begins_with", "begins_with(p, :s)", KeySchema{"p", "c"}, "Query key condition not supported"},
		{"two paths", "p = c", KeySchema{"p", "c"}, "Query key condition not supported"},
		{"two values", ":s = :n", KeySchema{"p", "c"}, "Query key condition not supported"},
		{"nested", "p = :s AND c.d < :n", KeySchema{"p", "c"}, "Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes"},
		{"bare value", ":s", KeySchema{"p", "c"}, `Invalid KeyConditionExpression: Syntax error; token: "<EOF>", near: ":s"`},
		{"reserved", "status = :s", KeySchema{"status", ""}, "Invalid KeyConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"},
		{"empty", "", KeySchema{"p", ""}, "Invalid KeyConditionExpression: The expression can not be empty;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testEnv().ParseKeyCondition(tt.src, tt.schema)
			if got := errMsg(err); got != tt.want {
				t.Errorf("ParseKeyCondition(%q):\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

func TestKeyConditionMatch(t *testing.T) {
	k, err := testEnv().ParseKeyCondition("p = :s AND c BETWEEN :n AND :n2", KeySchema{Partition: "p", Sort: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		item attr.Item
		want bool
	}{
		{attr.Item{"p": sv("hello"), "c": nv("7")}, true},
		{attr.Item{"p": sv("hello"), "c": nv("11")}, false},
		{attr.Item{"p": sv("other"), "c": nv("7")}, false},
	} {
		if got := k.Match(tt.item); got != tt.want {
			t.Errorf("Match(%v) = %v, want %v", tt.item, got, tt.want)
		}
	}
}
