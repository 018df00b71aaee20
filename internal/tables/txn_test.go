package tables

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

func TestTransactWriteItems(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "accounts", "")
	put(t, e, "accounts", attr.Item{"pk": sv("alice"), "bal": nv("100")})
	put(t, e, "accounts", attr.Item{"pk": sv("bob"), "bal": nv("0")})
	put(t, e, "accounts", attr.Item{"pk": sv("bank")})
	transfer := func(amount string) error {
		_, err := e.TransactWriteItems(ctx, &TransactWriteItemsInput{TransactItems: []TransactWriteItem{
			{Update: &TransactUpdate{TableName: "accounts", Key: attr.Item{"pk": sv("alice")},
				Update:    parseUpdate(t, "SET bal = bal - :a", vals{":a": nv(amount)}),
				Condition: parseCond(t, "bal >= :a", vals{":a": nv(amount)}), ReturnValuesOnConditionCheckFailure: ReturnAllOld}},
			{Update: &TransactUpdate{TableName: "accounts", Key: attr.Item{"pk": sv("bob")}, Update: parseUpdate(t, "ADD bal :a", vals{":a": nv(amount)})}},
			{Put: &TransactPut{TableName: "accounts", Item: attr.Item{"pk": sv("log-" + amount), "amount": nv(amount)}}},
			{ConditionCheck: &TransactConditionCheck{TableName: "accounts", Key: attr.Item{"pk": sv("bank")}, Condition: parseCond(t, "attribute_exists(pk)", nil)}},
		}})
		return err
	}
	if err := transfer("60"); err != nil {
		t.Fatal(err)
	}
	err := transfer("50")
	te := wantError(t, err, CodeTransactionCanceled, "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None, None, None]")
	if r := te.CancellationReasons[0]; r.Code != ReasonConditionalCheckFailed || !attr.Equal(r.Item["bal"], nv("40")) {
		t.Fatalf("reason got %+v", r)
	}
	// The cancelled transaction wrote nothing.
	for pk, want := range map[string]string{"alice": "40", "bob": "60"} {
		if got := get(t, e, "accounts", attr.Item{"pk": sv(pk)})["bal"]; !attr.Equal(got, nv(want)) {
			t.Fatalf("%s balance got %v, want %s", pk, got, want)
		}
	}
	if get(t, e, "accounts", attr.Item{"pk": sv("log-50")}) != nil {
		t.Fatal("cancelled transaction's put is visible")
	}
	// A validation error in an action that depends on the item cancels too.
	_, err = e.TransactWriteItems(ctx, &TransactWriteItemsInput{TransactItems: []TransactWriteItem{
		{Put: &TransactPut{TableName: "accounts", Item: attr.Item{"pk": sv("carol")}}},
		{Update: &TransactUpdate{TableName: "accounts", Key: attr.Item{"pk": sv("alice")}, Update: parseUpdate(t, "SET x = nope", nil)}},
	}})
	te = wantError(t, err, CodeTransactionCanceled, "")
	if te.CancellationReasons[1].Code != ReasonValidation || te.CancellationReasons[0].Code != ReasonNone {
		t.Fatalf("reasons got %+v", te.CancellationReasons)
	}
	if get(t, e, "accounts", attr.Item{"pk": sv("carol")}) != nil {
		t.Fatal("cancelled transaction's put is visible")
	}
	// Request errors.
	_, err = e.TransactWriteItems(ctx, &TransactWriteItemsInput{TransactItems: []TransactWriteItem{
		{Put: &TransactPut{TableName: "accounts", Item: attr.Item{"pk": sv("dup")}}},
		{Delete: &TransactDelete{TableName: "accounts", Key: attr.Item{"pk": sv("dup")}}},
	}})
	wantError(t, err, CodeValidation, "Transaction request cannot include multiple operations on one item")
	_, err = e.TransactWriteItems(ctx, &TransactWriteItemsInput{})
	wantError(t, err, CodeValidation, "")
	_, err = e.TransactWriteItems(ctx, &TransactWriteItemsInput{TransactItems: []TransactWriteItem{{Delete: &TransactDelete{TableName: "nope", Key: attr.Item{"pk": sv("x")}}}}})
	wantError(t, err, CodeResourceNotFound, "Requested resource not found")

	got, err := e.TransactGetItems(ctx, &TransactGetItemsInput{TransactItems: []TransactGetItem{
		{TableName: "accounts", Key: attr.Item{"pk": sv("alice")}},
		{TableName: "accounts", Key: attr.Item{"pk": sv("nobody")}},
		{TableName: "accounts", Key: attr.Item{"pk": sv("log-60")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !attr.Equal(got.Responses[0]["bal"], nv("40")) || got.Responses[1] != nil || got.Responses[2] == nil {
		t.Fatalf("TransactGetItems got %v", got.Responses)
	}
}

func TestBatchItems(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "one", "")
	createTable(t, e, "two", "N")
	var reqs []WriteRequest
	for i := range 20 {
		reqs = append(reqs, WriteRequest{PutItem: attr.Item{"pk": sv(fmt.Sprint(i))}})
	}
	_, err := e.BatchWriteItem(ctx, &BatchWriteItemInput{RequestItems: map[string][]WriteRequest{
		"one": reqs,
		"two": {{PutItem: attr.Item{"pk": sv("a"), "sk": nv("1")}}, {DeleteKey: attr.Item{"pk": sv("a"), "sk": nv("2")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []attr.Item
	for i := range 22 {
		keys = append(keys, attr.Item{"pk": sv(fmt.Sprint(i))})
	}
	out, err := e.BatchGetItem(ctx, &BatchGetItemInput{RequestItems: map[string]KeysAndAttributes{
		"one": {Keys: keys},
		"two": {Keys: []attr.Item{{"pk": sv("a"), "sk": nv("1")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Responses["one"]) != 20 || len(out.Responses["two"]) != 1 || len(out.UnprocessedKeys) != 0 {
		t.Fatalf("BatchGetItem got %d + %d items, %d unprocessed", len(out.Responses["one"]), len(out.Responses["two"]), len(out.UnprocessedKeys))
	}
	tooMany := append(reqs, reqs[:6]...)
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"write too many", func() error {
			_, err := e.BatchWriteItem(ctx, &BatchWriteItemInput{RequestItems: map[string][]WriteRequest{"one": tooMany}})
			return err
		}(), "Too many items requested for the BatchWriteItem call"},
		{"write duplicates", func() error {
			_, err := e.BatchWriteItem(ctx, &BatchWriteItemInput{RequestItems: map[string][]WriteRequest{"one": {{PutItem: attr.Item{"pk": sv("x")}}, {DeleteKey: attr.Item{"pk": sv("x")}}}}})
			return err
		}(), "Provided list of item keys contains duplicates"},
		{"get duplicates", func() error {
			_, err := e.BatchGetItem(ctx, &BatchGetItemInput{RequestItems: map[string]KeysAndAttributes{"one": {Keys: []attr.Item{{"pk": sv("x")}, {"pk": sv("x")}}}}})
			return err
		}(), "Provided list of item keys contains duplicates"},
		{"get too many", func() error {
			var many []attr.Item
			for i := range 101 {
				many = append(many, attr.Item{"pk": sv(fmt.Sprint(i))})
			}
			_, err := e.BatchGetItem(ctx, &BatchGetItemInput{RequestItems: map[string]KeysAndAttributes{"one": {Keys: many}}})
			return err
		}(), "Too many items requested for the BatchGetItem call"},
		{"write bad key", func() error {
			_, err := e.BatchWriteItem(ctx, &BatchWriteItemInput{RequestItems: map[string][]WriteRequest{"one": {{PutItem: attr.Item{"pk": sv("ok")}}, {PutItem: attr.Item{"nokey": sv("x")}}}}})
			return err
		}(), "One or more parameter values were invalid: Missing the key pk in the item"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.err, CodeValidation, tc.msg) })
	}
	if get(t, e, "one", attr.Item{"pk": sv("ok")}) != nil {
		t.Fatal("a refused batch wrote an item")
	}
}
