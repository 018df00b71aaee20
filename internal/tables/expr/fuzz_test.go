package expr

import (
	"reflect"
	"testing"
)

// The fuzzers check that no input makes a parser panic, that evaluating
// whatever parses does not panic, and that a parsed expression printed in
// canonical form parses back to the same tree.

var conditionSeeds = []string{
	"a = :s", "a <> :s AND b < :n OR NOT c >= :n2", "(a = :s OR b = :s) AND c = :s",
	"a BETWEEN :n AND :n2", "a IN (:s, :x, :s2)", "attribute_exists(a.b[1]) AND attribute_not_exists(#a)",
	"attribute_type(a, :tS)", "begins_with(#dot, :s2)", "contains(l, :n)", "size(a) > :n",
	"NOT NOT (a = :s)", "((a = :s))", "a == :s", "foo(a)", "status = :s", "#zz = :s", "a = :zz",
	"a.b[2].c = #a.#dot[10][0]", "size(a, b) = :n", "a < :bool", "((c = :s) AND (p = :s))", "a = \"x\"",
	"attribute_exists(", "_x = :s", "a = :s)", "NOT", "é = :s",
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range conditionSeeds {
		f.Add(s)
	}
	item := evalItem()
	f.Fuzz(func(t *testing.T, src string) {
		c, err := testEnv().ParseCondition(src)
		if err != nil {
			return
		}
		if _, err := EvalCondition(c, item); err != nil {
			t.Fatalf("EvalCondition(%q): %v", src, err)
		}
		printed := c.String()
		again, err := testEnv().ParseCondition(printed)
		if err != nil {
			t.Fatalf("ParseCondition(%q) ok, but its canonical form %q fails: %v", src, printed, err)
		}
		if got := again.String(); got != printed {
			t.Fatalf("canonical form of %q is %q, which prints back as %q", src, printed, got)
		}
		stripCond(c.Root)
		stripCond(again.Root)
		if !reflect.DeepEqual(c.Root, again.Root) {
			t.Fatalf("%q and its canonical form %q parse to different trees", src, printed)
		}
	})
}

func FuzzParseKeyCondition(f *testing.F) {
	for _, s := range []string{
		"p = :s", "p = :s AND c BETWEEN :n AND :n2", ":s = p AND :n < c", "p = :s AND begins_with(c, :s2)",
		"p = :s OR c = :n", "c = :n", "p = :s AND c.d < :n", "p = :s AND p = :s",
	} {
		f.Add(s)
	}
	schema := KeySchema{Partition: "p", Sort: "c"}
	f.Fuzz(func(t *testing.T, src string) {
		k, err := testEnv().ParseKeyCondition(src, schema)
		if err != nil {
			return
		}
		if k.Sort != nil && len(k.Sort.Values) == 0 {
			t.Fatalf("ParseKeyCondition(%q): sort condition without values", src)
		}
		k.Match(evalItem())
		printed := k.String()
		again, err := testEnv().ParseKeyCondition(printed, schema)
		if err != nil {
			t.Fatalf("ParseKeyCondition(%q) ok, but its canonical form %q fails: %v", src, printed, err)
		}
		stripCond(k.Cond.Root)
		stripCond(again.Cond.Root)
		if !reflect.DeepEqual(k, again) {
			t.Fatalf("%q and its canonical form %q parse differently", src, printed)
		}
	})
}

func FuzzParseProjection(f *testing.F) {
	for _, s := range []string{"a", "a, b.c, #a[1]", "a.b, a", "a.b, a[1]", "l[2].k, l[0]", "comment", "a,", "a[99999999999]"} {
		f.Add(s)
	}
	item := evalItem()
	f.Fuzz(func(t *testing.T, src string) {
		p, err := testEnv().ParseProjection(src)
		if err != nil {
			return
		}
		Project(p, item)
		printed := p.String()
		again, err := testEnv().ParseProjection(printed)
		if err != nil {
			t.Fatalf("ParseProjection(%q) ok, but its canonical form %q fails: %v", src, printed, err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("%q and its canonical form %q parse to different paths", src, printed)
		}
	})
}

func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{
		"SET a = :s", "set a = b + :n, c = if_not_exists(c, :one) - :n REMOVE d, e[1] ADD f :ns DELETE g :ss",
		"SET l = list_append(l, :l)", "REMOVE l[0], l[1]", "ADD n :one", "set a = :s set b = :s",
		"set a = :s, a.b = :s", "set a = size(b)", "set a = b * c", "SET l[10] = :s", "remove m.b.c",
		"delete a :n", "add a :l", "set #c[3].#idx = a, #c.#idx[3] = a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		u, err := testEnv().ParseUpdate(src)
		if err != nil {
			return
		}
		if _, err := ApplyUpdate(u, updateItem()); err != nil && errMsg(err) == "" {
			t.Fatalf("ApplyUpdate(%q): error without message", src)
		}
		if _, err := ApplyUpdate(u, nil); err != nil && errMsg(err) == "" {
			t.Fatalf("ApplyUpdate(%q, nil): error without message", src)
		}
		printed := u.String()
		again, err := testEnv().ParseUpdate(printed)
		if err != nil {
			t.Fatalf("ParseUpdate(%q) ok, but its canonical form %q fails: %v", src, printed, err)
		}
		for i := range u.Actions {
			stripOperand(&u.Actions[i].Value)
		}
		for i := range again.Actions {
			stripOperand(&again.Actions[i].Value)
		}
		if !reflect.DeepEqual(u, again) {
			t.Fatalf("%q and its canonical form %q parse to different actions", src, printed)
		}
	})
}

// stripCond and stripOperand zero the source offsets, which differ between
// an expression and its canonical form.
func stripCond(c *Cond) {
	c.pos = 0
	for i := range c.Operands {
		stripOperand(&c.Operands[i])
	}
	for _, s := range c.Sub {
		stripCond(s)
	}
}

func stripOperand(o *Operand) {
	o.pos = 0
	for i := range o.Args {
		stripOperand(&o.Args[i])
	}
}
