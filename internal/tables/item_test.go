package tables

import (
	"context"
	"strings"
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

func TestPutGetDelete(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "items", "N")
	item := attr.Item{"pk": sv("a"), "sk": nv("1"), "v": sv("one"), "tags": ssv("x", "y")}
	put(t, e, "items", item)
	key := attr.Item{"pk": sv("a"), "sk": nv("1")}
	if got := get(t, e, "items", key); !itemsEqual(got, item) {
		t.Fatalf("GetItem got %v, want %v", got, item)
	}
	// ALL_OLD returns the replaced item.
	out, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv("a"), "sk": nv("1"), "v": sv("two")}, ReturnValues: ReturnAllOld})
	if err != nil {
		t.Fatal(err)
	}
	if !itemsEqual(out.Attributes, item) {
		t.Fatalf("ALL_OLD got %v, want %v", out.Attributes, item)
	}
	// Projection.
	proj, err := expr.NewEnv(nil, nil).ParseProjection("v")
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.GetItem(ctx, &GetItemInput{TableName: "items", Key: key, Projection: proj, ConsistentRead: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (attr.Item{"v": sv("two")}); !itemsEqual(g.Item, want) {
		t.Fatalf("projected got %v, want %v", g.Item, want)
	}
	d, err := e.DeleteItem(ctx, &DeleteItemInput{TableName: "items", Key: key, ReturnValues: ReturnAllOld})
	if err != nil {
		t.Fatal(err)
	}
	if d.Attributes["v"].S != "two" {
		t.Fatalf("DeleteItem ALL_OLD got %v", d.Attributes)
	}
	if got := get(t, e, "items", key); got != nil {
		t.Fatalf("after delete got %v, want nothing", got)
	}
	// Deleting an absent item succeeds and returns nothing.
	d, err = e.DeleteItem(ctx, &DeleteItemInput{TableName: "items", Key: key, ReturnValues: ReturnAllOld})
	if err != nil || d.Attributes != nil {
		t.Fatalf("second delete got %v, %v", d, err)
	}
}

func TestItemErrors(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "items", "N")
	big := strings.Repeat("x", attr.MaxItemSize)
	tests := []struct {
		name string
		op   func() error
		code string
		msg  string
	}{
		{"unknown table", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "nope", Item: attr.Item{"pk": sv("a")}})
			return err
		}, CodeResourceNotFound, "Requested resource not found"},
		{"missing key", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv("a")}})
			return err
		}, CodeValidation, "One or more parameter values were invalid: Missing the key sk in the item"},
		{"key type", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": nv("1"), "sk": nv("1")}})
			return err
		}, CodeValidation, "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"},
		{"empty key", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv(""), "sk": nv("1")}})
			return err
		}, CodeValidation, "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"},
		{"hash key too long", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv(strings.Repeat("k", 2049)), "sk": nv("1")}})
			return err
		}, CodeValidation, "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"},
		{"item too large", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv("a"), "sk": nv("1"), "big": sv(big)}})
			return err
		}, CodeValidation, "Item size has exceeded the maximum allowed size"},
		{"put return values", func() error {
			_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv("a"), "sk": nv("1")}, ReturnValues: ReturnAllNew})
			return err
		}, CodeValidation, "ReturnValues can only be ALL_OLD or NONE"},
		{"get key schema", func() error {
			_, err := e.GetItem(ctx, &GetItemInput{TableName: "items", Key: attr.Item{"pk": sv("a")}})
			return err
		}, CodeValidation, "The provided key element does not match the schema"},
		{"get extra attribute", func() error {
			_, err := e.GetItem(ctx, &GetItemInput{TableName: "items", Key: attr.Item{"pk": sv("a"), "sk": nv("1"), "x": sv("y")}})
			return err
		}, CodeValidation, "The provided key element does not match the schema"},
		{"update key attribute", func() error {
			_, err := e.UpdateItem(ctx, &UpdateItemInput{TableName: "items", Key: attr.Item{"pk": sv("a"), "sk": nv("1")}, Update: parseUpdate(t, "SET pk = :v", vals{":v": sv("b")})})
			return err
		}, CodeValidation, "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"},
		{"update too large", func() error {
			_, err := e.UpdateItem(ctx, &UpdateItemInput{TableName: "items", Key: attr.Item{"pk": sv("a"), "sk": nv("1")}, Update: parseUpdate(t, "SET big = :v", vals{":v": sv(big)})})
			return err
		}, CodeValidation, "Item size to update has exceeded the maximum allowed size"},
		{"bad return values on failure", func() error {
			_, err := e.DeleteItem(ctx, &DeleteItemInput{TableName: "items", Key: attr.Item{"pk": sv("a"), "sk": nv("1")}, ReturnValuesOnConditionCheckFailure: "ALL_NEW"})
			return err
		}, CodeValidation, "1 validation error detected: Value 'ALL_NEW' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.op(), tc.code, tc.msg)
		})
	}
	// None of them wrote anything.
	out, err := e.Scan(ctx, &ScanInput{TableName: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 0 {
		t.Fatalf("failed writes left %d items: %v", out.Count, out.Items)
	}
}

func TestConditions(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "items", "")
	key := attr.Item{"pk": sv("a")}
	// attribute_not_exists on an absent item passes, then fails.
	create := func() error {
		_, err := e.PutItem(ctx, &PutItemInput{TableName: "items", Item: attr.Item{"pk": sv("a"), "n": nv("1")},
			Condition: parseCond(t, "attribute_not_exists(pk)", nil), ReturnValuesOnConditionCheckFailure: ReturnAllOld})
		return err
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	ce := wantError(t, create(), CodeConditionalCheckFailed, "The conditional request failed")
	if !itemsEqual(ce.Item, attr.Item{"pk": sv("a"), "n": nv("1")}) {
		t.Fatalf("condition failure item got %v", ce.Item)
	}
	// Without ALL_OLD the error carries no item.
	_, err := e.DeleteItem(ctx, &DeleteItemInput{TableName: "items", Key: key, Condition: parseCond(t, "n > :v", vals{":v": nv("5")})})
	if ce := wantError(t, err, CodeConditionalCheckFailed, "The conditional request failed"); ce.Item != nil {
		t.Fatalf("got item %v without ALL_OLD", ce.Item)
	}
	// A passing condition on update.
	_, err = e.UpdateItem(ctx, &UpdateItemInput{TableName: "items", Key: key,
		Update:    parseUpdate(t, "SET n = n + :one", vals{":one": nv("1")}),
		Condition: parseCond(t, "n BETWEEN :lo AND :hi", vals{":lo": nv("0"), ":hi": nv("1")})})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, e, "items", key)["n"]; !attr.Equal(got, nv("2")) {
		t.Fatalf("n got %v, want 2", got)
	}
}

func TestUpdateItem(t *testing.T) {
	ctx := context.Background()
	type step struct {
		update string
		values vals
		rv     string
		want   attr.Item // returned attributes
		err    string
	}
	tests := []struct {
		name  string
		steps []step
		final attr.Item
	}{
		{"counter from nothing", []step{
			{update: "ADD n :v", values: vals{":v": nv("5")}, rv: ReturnAllNew, want: attr.Item{"pk": sv("k"), "n": nv("5")}},
			{update: "ADD n :v", values: vals{":v": nv("-2.5")}, rv: ReturnUpdatedNew, want: attr.Item{"n": nv("2.5")}},
			{update: "ADD n :v", values: vals{":v": nv("1")}, rv: ReturnUpdatedOld, want: attr.Item{"n": nv("2.5")}},
		}, attr.Item{"pk": sv("k"), "n": nv("3.5")}},
		{"set ops", []step{
			{update: "ADD s :v", values: vals{":v": ssv("a", "b")}},
			{update: "DELETE s :v", values: vals{":v": ssv("a")}, rv: ReturnAllNew, want: attr.Item{"pk": sv("k"), "s": ssv("b")}},
			{update: "ADD ns :v", values: vals{":v": nsv("1", "2")}},
		}, attr.Item{"pk": sv("k"), "s": ssv("b"), "ns": nsv("1", "2")}},
		{"deleting every member removes the attribute", []step{
			{update: "ADD s :v", values: vals{":v": ssv("a")}},
			{update: "DELETE s :v", values: vals{":v": ssv("a")}},
		}, attr.Item{"pk": sv("k")}},
		{"set then counter", []step{
			{update: "SET n = :v, m = :m", values: vals{":v": nv("10"), ":m": sv("x")}},
			{update: "ADD n :v", values: vals{":v": nv("1")}},
			{update: "SET n = n + :v REMOVE m", values: vals{":v": nv("1")}, rv: ReturnAllOld, want: attr.Item{"pk": sv("k"), "n": nv("11"), "m": sv("x")}},
		}, attr.Item{"pk": sv("k"), "n": nv("12")}},
		{"type errors", []step{
			{update: "SET s = :v", values: vals{":v": sv("str")}},
			{update: "ADD s :v", values: vals{":v": nv("1")}, err: expr.MsgIncorrectType},
			{update: "DELETE s :v", values: vals{":v": ssv("a")}, err: expr.MsgIncorrectType},
			{update: "SET x = nope", err: expr.MsgMissingAttribute},
		}, attr.Item{"pk": sv("k"), "s": sv("str")}},
		{"nested paths are whole-item writes", []step{
			{update: "SET m = :m", values: vals{":m": {Kind: attr.KindM, M: map[string]attr.Value{"c": nv("1")}}}},
			{update: "ADD m.c :v", values: vals{":v": nv("2")}, rv: ReturnUpdatedNew, want: attr.Item{"m": {Kind: attr.KindM, M: map[string]attr.Value{"c": nv("3")}}}},
		}, attr.Item{"pk": sv("k"), "m": {Kind: attr.KindM, M: map[string]attr.Value{"c": nv("3")}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, Config{})
			createTable(t, e, "items", "")
			key := attr.Item{"pk": sv("k")}
			for i, s := range tc.steps {
				out, err := e.UpdateItem(ctx, &UpdateItemInput{TableName: "items", Key: key, Update: parseUpdate(t, s.update, s.values), ReturnValues: s.rv})
				if s.err != "" {
					wantError(t, err, CodeValidation, s.err)
					continue
				}
				if err != nil {
					t.Fatalf("step %d %q: %v", i, s.update, err)
				}
				if s.want != nil && !itemsEqual(out.Attributes, s.want) {
					t.Fatalf("step %d %q returned %v, want %v", i, s.update, out.Attributes, s.want)
				}
			}
			if got := get(t, e, "items", key); !itemsEqual(got, tc.final) {
				t.Fatalf("final item got %v, want %v", got, tc.final)
			}
		})
	}
}

func TestUpdateWithoutExpressionCreatesKeyOnlyItem(t *testing.T) {
	e, _ := newEngine(t, Config{})
	createTable(t, e, "items", "S")
	key := attr.Item{"pk": sv("a"), "sk": sv("b")}
	out, err := e.UpdateItem(context.Background(), &UpdateItemInput{TableName: "items", Key: key, ReturnValues: ReturnAllNew})
	if err != nil {
		t.Fatal(err)
	}
	if !itemsEqual(out.Attributes, key) || !itemsEqual(get(t, e, "items", key), key) {
		t.Fatalf("got %v, want the key-only item", out.Attributes)
	}
}
