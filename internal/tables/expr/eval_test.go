package expr

import (
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// evalItem has one attribute of every type.
func evalItem() attr.Item {
	return attr.Item{
		"s":    sv("hello"),
		"n":    nv("5"),
		"b":    bv("hi there"),
		"t":    boolv(true),
		"nul":  nullv(),
		"l":    lv(nv("1"), sv("x"), mv(map[string]attr.Value{"k": sv("v")})),
		"m":    mv(map[string]attr.Value{"a": sv("1"), "b": mv(map[string]attr.Value{"c": nv("3")})}),
		"ss":   ssv("x", "y"),
		"ns":   nsv("1", "2"),
		"bs":   bsv("a"),
		"n10":  nv("10.0"),
		"s2":   sv("he"),
		"uni":  sv("héllo"),
		"set2": ssv("y", "x"),
	}
}

func TestEvalCondition(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		// = and <> on every type; different types are unequal.
		{"s = :s", true}, {"s = :x", false}, {"s = :n", false},
		{"n = :n", true}, {"n10 = :n2", true}, {"n = :one", false},
		{"b = :b", false}, {"bs = :bs", true}, {"t = :bool", true}, {"nul = :null", true}, {"nul = :bool", false},
		{"l = :l", false}, {"l[0] = :one", true}, {"m.b.c = :n", false}, {"m.a = :one", false},
		{"ss = set2", true}, {"ss = :ss", true}, {"ns = :ns", true}, {"bs = :bs", true},
		{"m = :m", false},
		{"s <> :s", false}, {"s <> :n", true}, {"nope <> :s", true}, {"nope = :s", false},
		// Ordering: S, N, B only; mismatched or unordered types are false.
		{"n < :n2", true}, {"n <= :n", true}, {"n > :n2", false}, {"n >= :n", true},
		{"n10 > n", true}, {"s > s2", true}, {"s2 < s", true}, {"b > :b", true},
		{"s < :n", false}, {"s > :n", false}, {"ss < s", false}, {"t < s", false}, {"nope < :n", false},
		// BETWEEN and IN.
		{"n BETWEEN :one AND :n2", true}, {"n BETWEEN :n AND :n", true}, {"n10 BETWEEN :one AND :n", false},
		{"s BETWEEN :s2 AND :x", true}, {"s BETWEEN :one AND :n2", false}, {"nope BETWEEN :one AND :n2", false},
		{"s IN (:x, :s)", true}, {"s IN (:x, :n)", false}, {"n IN (:one, :n)", true}, {"nope IN (:s)", false},
		{"ss IN (:ss)", true}, {"l IN (n, s)", false},
		// Functions.
		{"attribute_exists(s)", true}, {"attribute_exists(nope)", false},
		{"attribute_exists(m.b.c)", true}, {"attribute_exists(m.b.d)", false}, {"attribute_exists(l[2].k)", true},
		{"attribute_exists(l[3])", false}, {"attribute_exists(s.x)", false}, {"attribute_exists(m[0])", false},
		{"attribute_not_exists(nope)", true}, {"attribute_not_exists(#a)", true}, {"attribute_not_exists(n)", false},
		{"attribute_type(s, :tS)", true}, {"attribute_type(n, :tN)", true}, {"attribute_type(s, :tN)", false},
		{"attribute_type(nope, :tS)", false},
		{"begins_with(s, :s2)", true}, {"begins_with(s, :x)", false}, {"begins_with(b, :b)", true},
		{"begins_with(n, :s2)", false}, {"begins_with(b, :s2)", false}, {"begins_with(nope, :s2)", false},
		{"contains(s, :s2)", true}, {"contains(s, :x)", false}, {"contains(b, :b)", true},
		{"contains(ss, :x)", true}, {"contains(ss, :s)", false}, {"contains(ns, :one)", true}, {"contains(ns, :n)", false},
		{"contains(bs, :bs)", false}, {"contains(l, :one)", true}, {"contains(l, :x)", true}, {"contains(l, :n)", false},
		{"contains(n, :n)", false}, {"contains(ss, :one)", false}, {"contains(nope, :s)", false}, {"contains(m, :s)", false},
		// size of every type that has one; N, BOOL, NULL have none.
		{"size(s) = :n", true}, {"size(uni) = :n", false}, {"size(b) > :n", true}, {"size(ss) = :s", false},
		{"size(l) < :n", true}, {"size(m) <= :one", false}, {"size(ns) BETWEEN :one AND :n", true},
		{"size(n) = :one", false}, {"size(t) = :one", false}, {"size(nul) = :one", false}, {"size(nope) <> :one", true},
		{"size(s) = n", true}, {"size(s) = :s", false},
		// Logic.
		{"s = :s AND n = :n", true}, {"s = :s AND n = :one", false}, {"s = :x OR n = :n", true},
		{"NOT s = :s", false}, {"NOT NOT s = :s", true}, {"NOT nope = :s", true},
		{"s = :x AND n = :n OR t = :bool", true}, {"s = :x AND (n = :n OR t = :bool)", false},
		{"NOT s = :x AND n = :one", false}, {"NOT (s = :x AND n = :one)", true},
	}
	item := evalItem()
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			c := mustCondition(t, tt.src)
			got, err := EvalCondition(c, item)
			if err != nil {
				t.Fatalf("EvalCondition: %v", err)
			}
			if got != tt.want {
				t.Errorf("EvalCondition(%q) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

func TestEvalConditionMissingItem(t *testing.T) {
	for src, want := range map[string]bool{
		"attribute_not_exists(pk)": true,
		"attribute_exists(pk)":     false,
		"pk = :s":                  false,
		"pk <> :s":                 true,
	} {
		t.Run(src, func(t *testing.T) {
			got, err := mustCondition(t, src).Eval(nil)
			if err != nil || got != want {
				t.Errorf("Eval(nil) = %v, %v; want %v, nil", got, err, want)
			}
		})
	}
}

func TestProject(t *testing.T) {
	tests := []struct {
		name, src string
		want      attr.Item
	}{
		{"top level", "s, n, nope", attr.Item{"s": sv("hello"), "n": nv("5")}},
		{"placeholder", "#a, s", attr.Item{"s": sv("hello")}},
		{"nested map", "m.b.c", attr.Item{"m": mv(map[string]attr.Value{"b": mv(map[string]attr.Value{"c": nv("3")})})}},
		{"siblings merge", "m.a, m.b.c", attr.Item{"m": mv(map[string]attr.Value{"a": sv("1"), "b": mv(map[string]attr.Value{"c": nv("3")})})}},
		{"list elements in index order", "l[2].k, l[0], l[7]", attr.Item{"l": lv(nv("1"), mv(map[string]attr.Value{"k": sv("v")}))}},
		{"nope nested leaves no parent", "m.zz, l[9]", attr.Item{}},
		{"type mismatch", "s.x, m[0]", attr.Item{}},
	}
	item := evalItem()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := testEnv().ParseProjection(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got := Project(p, item)
			if !attr.Equal(mv(got), mv(tt.want)) {
				t.Errorf("Project(%q) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}
