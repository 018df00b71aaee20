package tables

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

func sv(s string) attr.Value { return attr.Value{Kind: attr.KindS, S: s} }
func nv(s string) attr.Value { return attr.Value{Kind: attr.KindN, N: attr.MustParseNumber(s)} }
func ssv(ss ...string) attr.Value {
	return attr.Value{Kind: attr.KindSS, SS: ss}
}
func nsv(ns ...string) attr.Value {
	v := attr.Value{Kind: attr.KindNS}
	for _, n := range ns {
		v.NS = append(v.NS, attr.MustParseNumber(n))
	}
	return v
}

// vals builds ExpressionAttributeValues from name/value pairs.
type vals map[string]attr.Value

// newEngine opens a store in a temporary directory and builds an engine on
// it.
func newEngine(t testing.TB, cfg Config) (*Engine, *store.Store) {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir(), Region: "us-east"})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e, err := New(cfg, st)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, st
}

// runEngine runs e.Run until the test ends.
func runEngine(t testing.TB, e *Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// createTable creates table name with partition key pk (S) and, when
// sortType is not "", sort key sk of that type, plus the given GSIs.
func createTable(t testing.TB, e *Engine, name string, sortType string, gsis ...SecondaryIndex) {
	t.Helper()
	in := &CreateTableInput{
		TableName:            name,
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}},
		KeySchema:            []KeySchemaElement{{AttributeName: "pk", KeyType: KeyTypeHash}},
		BillingMode:          BillingPayPerRequest,
	}
	if sortType != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, AttributeDefinition{AttributeName: "sk", AttributeType: sortType})
		in.KeySchema = append(in.KeySchema, KeySchemaElement{AttributeName: "sk", KeyType: KeyTypeRange})
	}
	for _, g := range gsis {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, g)
		for _, k := range g.KeySchema {
			if k.AttributeName != "pk" && k.AttributeName != "sk" {
				in.AttributeDefinitions = append(in.AttributeDefinitions, AttributeDefinition{AttributeName: k.AttributeName, AttributeType: "S"})
			}
		}
	}
	if _, err := e.CreateTable(context.Background(), in); err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func gsi(name, hash, rng string) SecondaryIndex {
	return SecondaryIndex{IndexName: name, KeySchema: schemaOf(hash, rng), Projection: Projection{ProjectionType: ProjectionAll}}
}

func parseCond(t testing.TB, src string, v vals) *expr.Condition {
	t.Helper()
	c, err := expr.NewEnv(nil, v).ParseCondition(src)
	if err != nil {
		t.Fatalf("ParseCondition(%q): %v", src, err)
	}
	return c
}

func parseUpdate(t testing.TB, src string, v vals) *expr.Update {
	t.Helper()
	u, err := expr.NewEnv(nil, v).ParseUpdate(src)
	if err != nil {
		t.Fatalf("ParseUpdate(%q): %v", src, err)
	}
	return u
}

func parseKC(t testing.TB, e *Engine, table, index, src string, v vals) *expr.KeyCondition {
	t.Helper()
	ks, err := e.KeySchema(table, index)
	if err != nil {
		t.Fatalf("KeySchema: %v", err)
	}
	kc, err := expr.NewEnv(nil, v).ParseKeyCondition(src, ks)
	if err != nil {
		t.Fatalf("ParseKeyCondition(%q): %v", src, err)
	}
	return kc
}

// wantError checks that err is an *Error with the code and message.
func wantError(t testing.TB, err error, code, msg string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want %s %q", err, code, msg)
	}
	if e.Code != code || (msg != "" && e.Message != msg) {
		t.Fatalf("got %s %q, want %s %q", e.Code, e.Message, code, msg)
	}
	return e
}

func put(t testing.TB, e *Engine, table string, item attr.Item) {
	t.Helper()
	if _, err := e.PutItem(context.Background(), &PutItemInput{TableName: table, Item: item}); err != nil {
		t.Fatalf("PutItem %v: %v", item, err)
	}
}

func get(t testing.TB, e *Engine, table string, key attr.Item) attr.Item {
	t.Helper()
	out, err := e.GetItem(context.Background(), &GetItemInput{TableName: table, Key: key})
	if err != nil {
		t.Fatalf("GetItem %v: %v", key, err)
	}
	return out.Item
}

func itemsEqual(a, b attr.Item) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return attr.Equal(attr.Value{Kind: attr.KindM, M: a}, attr.Value{Kind: attr.KindM, M: b})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
