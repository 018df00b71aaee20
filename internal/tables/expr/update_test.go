package expr

import (
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

func updateItem() attr.Item {
	return attr.Item{
		"pk": sv("k"),
		"s":  sv("hello"),
		"n":  nv("10"),
		"l":  lv(sv("x"), nv("2"), mv(map[string]attr.Value{"k": sv("v")})),
		"m":  mv(map[string]attr.Value{"a": sv("1"), "b": mv(map[string]attr.Value{"c": nv("3")})}),
		"ss": ssv("x", "y"),
		"ns": nsv("1", "2"),
		"bs": bsv("a"),
		"t":  boolv(true),
	}
}

// with returns updateItem with the given attributes replaced (or, for a
// zero Value, removed).
func with(changes map[string]attr.Value) attr.Item {
	it := updateItem()
	for k, v := range changes {
		if v.Kind == 0 {
			delete(it, k)
		} else {
			it[k] = v
		}
	}
	return it
}

func TestApplyUpdate(t *testing.T) {
	tests := []struct {
		name, src string
		want      attr.Item
	}{
		{"set new", "SET z = :s", with(map[string]attr.Value{"z": sv("hello")})},
		{"set replaces", "SET s = :n", with(map[string]attr.Value{"s": nv("5")})},
		{"set from path", "SET z = m.b", with(map[string]attr.Value{"z": mv(map[string]attr.Value{"c": nv("3")})})},
		{"set evaluates against the original item", "SET s = n, n = s", with(map[string]attr.Value{"s": nv("10"), "n": sv("hello")})},
		{"plus", "SET n = n + :n", with(map[string]attr.Value{"n": nv("15")})},
		{"minus", "SET n = n - :n2", with(map[string]attr.Value{"n": nv("0")})},
		{"exact decimal", "SET z = :one - n", with(map[string]attr.Value{"z": nv("-9")})},
		{"if_not_exists present", "SET n = if_not_exists(n, :one)", updateItem()},
		{"if_not_exists absent", "SET z = if_not_exists(z, :one) + :n", with(map[string]attr.Value{"z": nv("6")})},
		{"list_append", "SET l = list_append(:l, l)", with(map[string]attr.Value{"l": lv(nv("1"), sv("x"), nv("2"), mv(map[string]attr.Value{"k": sv("v")}))})},
		{"set nested map key", "SET m.b.d = :s, m.a = :one", with(map[string]attr.Value{"m": mv(map[string]attr.Value{"a": nv("1"), "b": mv(map[string]attr.Value{"c": nv("3"), "d": sv("hello")})})})},
		{"set list element", "SET l[1] = :s", with(map[string]attr.Value{"l": lv(sv("x"), sv("hello"), mv(map[string]attr.Value{"k": sv("v")}))})},
		{"set past the end appends", "SET l[10] = :s", with(map[string]attr.Value{"l": lv(sv("x"), nv("2"), mv(map[string]attr.Value{"k": sv("v")}), sv("hello"))})},
		{"set inside list element", "SET l[2].k = :one", with(map[string]attr.Value{"l": lv(sv("x"), nv("2"), mv(map[string]attr.Value{"k": nv("1")}))})},
		{"remove", "REMOVE s, t, nope", with(map[string]attr.Value{"s": {}, "t": {}})},
		{"remove nested", "REMOVE m.b.c, m.zz", with(map[string]attr.Value{"m": mv(map[string]attr.Value{"a": sv("1"), "b": mv(map[string]attr.Value{})})})},
		{"remove list elements shifts, by original index", "REMOVE l[0], l[1]", with(map[string]attr.Value{"l": lv(mv(map[string]attr.Value{"k": sv("v")}))})},
		{"remove list element past end", "REMOVE l[5]", updateItem()},
		{"add number", "ADD n :n", with(map[string]attr.Value{"n": nv("15")})},
		{"add creates number", "ADD z :n", with(map[string]attr.Value{"z": nv("5")})},
		{"add nested creates", "ADD m.z :one", with(map[string]attr.Value{"m": mv(map[string]attr.Value{"a": sv("1"), "b": mv(map[string]attr.Value{"c": nv("3")}), "z": nv("1")})})},
		{"add to string set", "ADD ss :x", with(nil)},
		{"add members", "ADD ss :ss, ns :ns", updateItem()},
		{"add creates set", "ADD z :ns", with(map[string]attr.Value{"z": nsv("1", "2")})},
		{"delete members", "DELETE ss :x", with(map[string]attr.Value{"ss": ssv("y")})},
		{"delete all members removes", "DELETE ss :ss, bs :bs", with(map[string]attr.Value{"ss": {}, "bs": {}})},
		{"delete from absent", "DELETE z :ss", updateItem()},
		{"delete number set member", "DELETE ns :ns", with(map[string]attr.Value{"ns": {}})},
		{"all clauses", "SET a = :s REMOVE t ADD n :one DELETE ss :ss", with(map[string]attr.Value{"a": sv("hello"), "t": {}, "n": nv("11"), "ss": {}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(testNames(), withX(testValues()))
			u, err := env.ParseUpdate(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			orig := updateItem()
			got, err := ApplyUpdate(u, orig)
			if err != nil {
				t.Fatalf("ApplyUpdate: %v", err)
			}
			if !attr.Equal(mv(got), mv(tt.want)) {
				t.Errorf("ApplyUpdate(%q)\n got %v\nwant %v", tt.src, got, tt.want)
			}
			if !attr.Equal(mv(orig), mv(updateItem())) {
				t.Errorf("ApplyUpdate modified its input: %v", orig)
			}
		})
	}
}

// withX makes :x a string set for ADD (the shared :x is a string).
func withX(v map[string]attr.Value) map[string]attr.Value {
	v[":x"] = ssv("x")
	return v
}

func TestApplyUpdateNewItem(t *testing.T) {
	u, err := testEnv().ParseUpdate("SET a = :s ADD c :one, ss :ss")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ApplyUpdate(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := attr.Item{"a": sv("hello"), "c": nv("1"), "ss": ssv("x", "y")}
	if !attr.Equal(mv(got), mv(want)) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestApplyUpdateErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing operand", "SET z = nope", MsgMissingAttribute},
		{"missing in arithmetic", "SET z = nope + :one", MsgMissingAttribute},
		{"missing in list_append", "SET z = list_append(nope, :l)", MsgMissingAttribute},
		{"plus on string", "SET z = s + :one", MsgIncorrectType},
		{"minus on set", "SET z = n - ns", MsgIncorrectType},
		{"list_append on string", "SET z = list_append(s, :l)", MsgIncorrectType},
		{"add number to set", "ADD ns :one", MsgIncorrectType},
		{"add set to number", "ADD n :ns", MsgIncorrectType},
		{"add wrong set type", "ADD ss :ns", MsgIncorrectType},
		{"add to string", "ADD s :one", MsgIncorrectType},
		{"delete wrong set type", "DELETE ss :ns", MsgIncorrectType},
		{"delete from number", "DELETE n :ns", MsgIncorrectType},
		{"set under missing parent", "SET nope.a = :s", MsgInvalidPath},
		{"set index of missing list", "SET nope[1] = :s", MsgInvalidPath},
		{"set index of map", "SET m[1] = :s", MsgInvalidPath},
		{"set key of list", "SET l.a = :s", MsgInvalidPath},
		{"set key of string", "SET s.a = :s", MsgInvalidPath},
		{"remove under missing parent", "REMOVE nope.a", MsgInvalidPath},
		{"remove index of map", "REMOVE m[0]", MsgInvalidPath},
		{"add under list", "ADD l.k :one", MsgInvalidPath},
		{"delete under missing element", "DELETE l[7].k :ss", MsgInvalidPath},
		{"number overflow", "SET z = :big + :big", "Number overflow. Attempting to store a number with magnitude larger than supported range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := testValues()
			values[":big"] = nv("9.9999999999999999999999999999999999999E+125")
			u, err := NewEnv(nil, values).ParseUpdate(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ApplyUpdate(u, updateItem())
			if got := errMsg(err); got != tt.want {
				t.Errorf("ApplyUpdate(%q) error = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}
