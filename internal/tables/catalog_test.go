package tables

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

func TestCreateTableErrors(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "exists", "")
	pk := []KeySchemaElement{{AttributeName: "pk", KeyType: KeyTypeHash}}
	pkDef := []AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}}
	tests := []struct {
		name string
		in   CreateTableInput
		code string
		msg  string
	}{
		{"exists", CreateTableInput{TableName: "exists", KeySchema: pk, AttributeDefinitions: pkDef, BillingMode: BillingPayPerRequest},
			CodeResourceInUse, "Table already exists: exists"},
		{"short name", CreateTableInput{TableName: "ab", KeySchema: pk, AttributeDefinitions: pkDef, BillingMode: BillingPayPerRequest},
			CodeValidation, "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"},
		{"undefined key", CreateTableInput{TableName: "tab1", KeySchema: pk, BillingMode: BillingPayPerRequest},
			CodeValidation, "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [pk], AttributeDefinitions: []"},
		{"unused definition", CreateTableInput{TableName: "tab1", KeySchema: pk, BillingMode: BillingPayPerRequest,
			AttributeDefinitions: append(pkDef, AttributeDefinition{AttributeName: "x", AttributeType: "N"})},
			CodeValidation, "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"},
		{"bad type", CreateTableInput{TableName: "tab1", KeySchema: pk, BillingMode: BillingPayPerRequest,
			AttributeDefinitions: []AttributeDefinition{{AttributeName: "pk", AttributeType: "BOOL"}}},
			CodeValidation, "1 validation error detected: Value 'BOOL' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"},
		{"range first", CreateTableInput{TableName: "tab1", KeySchema: []KeySchemaElement{{AttributeName: "pk", KeyType: KeyTypeRange}}, AttributeDefinitions: pkDef, BillingMode: BillingPayPerRequest},
			CodeValidation, "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"},
		{"no throughput", CreateTableInput{TableName: "tab1", KeySchema: pk, AttributeDefinitions: pkDef},
			CodeValidation, "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"},
		{"duplicate index", CreateTableInput{TableName: "tab1", KeySchema: pk, BillingMode: BillingPayPerRequest,
			AttributeDefinitions:   append(pkDef, AttributeDefinition{AttributeName: "g", AttributeType: "S"}),
			GlobalSecondaryIndexes: []SecondaryIndex{gsi("idx", "g", ""), gsi("idx", "g", "")}},
			CodeValidation, "One or more parameter values were invalid: Duplicate index name: idx"},
		{"lsi without table range", CreateTableInput{TableName: "tab1", KeySchema: pk, BillingMode: BillingPayPerRequest,
			AttributeDefinitions:  append(pkDef, AttributeDefinition{AttributeName: "l", AttributeType: "S"}),
			LocalSecondaryIndexes: []SecondaryIndex{gsi("lsi", "pk", "l")}},
			CodeValidation, "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"},
		{"include without attributes", CreateTableInput{TableName: "tab1", KeySchema: pk, BillingMode: BillingPayPerRequest,
			AttributeDefinitions:   append(pkDef, AttributeDefinition{AttributeName: "g", AttributeType: "S"}),
			GlobalSecondaryIndexes: []SecondaryIndex{{IndexName: "idx", KeySchema: schemaOf("g", ""), Projection: Projection{ProjectionType: ProjectionInclude}}}},
			CodeValidation, "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CreateTable(ctx, &tc.in)
			wantError(t, err, tc.code, tc.msg)
		})
	}
}

func TestDescribeListDelete(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e, _ := newEngine(t, Config{Region: "us-east", Regions: []string{"us-east", "eu-west", "ap-south"}, Now: func() time.Time { return created }})
	ctx := context.Background()
	for i := range 5 {
		createTable(t, e, fmt.Sprintf("table-%d", i), "")
	}
	d, err := e.DescribeTable(ctx, &DescribeTableInput{TableName: "table-3"})
	if err != nil {
		t.Fatal(err)
	}
	td := d.Table
	if td.TableStatus != StatusActive || td.TableArn != "arn:aws:dynamodb:us-east:000000000000:table/table-3" || !td.CreationDateTime.Equal(created) || len(td.TableID) != 32 {
		t.Fatalf("description got %+v", td)
	}
	if len(td.Replicas) != 3 || td.Replicas[1] != (ReplicaDescription{RegionName: "eu-west", ReplicaStatus: StatusActive}) {
		t.Fatalf("replicas got %+v", td.Replicas)
	}
	// ListTables pages through every name once, in order.
	var names []string
	start := ""
	for {
		out, err := e.ListTables(ctx, &ListTablesInput{ExclusiveStartTableName: start, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, out.TableNames...)
		if out.LastEvaluatedTableName == "" {
			break
		}
		start = out.LastEvaluatedTableName
	}
	if got, want := fmt.Sprint(names), "[table-0 table-1 table-2 table-3 table-4]"; got != want {
		t.Fatalf("ListTables got %s, want %s", got, want)
	}
	// DeleteTable: gone, items unreachable, and the name can be reused
	// with a new id and no old items.
	put(t, e, "table-3", attr.Item{"pk": sv("a")})
	del, err := e.DeleteTable(ctx, &DeleteTableInput{TableName: "table-3"})
	if err != nil || del.TableDescription.TableStatus != StatusDeleting {
		t.Fatalf("DeleteTable got %+v, %v", del, err)
	}
	_, err = e.DescribeTable(ctx, &DescribeTableInput{TableName: "table-3"})
	wantError(t, err, CodeResourceNotFound, "Requested resource not found: Table: table-3 not found")
	_, err = e.DeleteTable(ctx, &DeleteTableInput{TableName: "table-3"})
	wantError(t, err, CodeResourceNotFound, "Requested resource not found: Table: table-3 not found")
	_, err = e.GetItem(ctx, &GetItemInput{TableName: "table-3", Key: attr.Item{"pk": sv("a")}})
	wantError(t, err, CodeResourceNotFound, "Requested resource not found")
	createTable(t, e, "table-3", "")
	if got := get(t, e, "table-3", attr.Item{"pk": sv("a")}); got != nil {
		t.Fatalf("recreated table shows an old item: %v", got)
	}
}

func TestCatalogSurvivesRestart(t *testing.T) {
	e, st := newEngine(t, Config{})
	createTable(t, e, "persist", "S", gsi("by-g", "g", ""))
	put(t, e, "persist", attr.Item{"pk": sv("a"), "sk": sv("b"), "g": sv("x")})
	e2, err := New(Config{}, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, e2, "persist", attr.Item{"pk": sv("a"), "sk": sv("b")}); got["g"].S != "x" {
		t.Fatalf("after reload got %v", got)
	}
}

func TestUpdateTableGSILifecycle(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "orders", "S")
	for i := range 50 {
		put(t, e, "orders", attr.Item{"pk": sv(fmt.Sprint("c", i%5)), "sk": sv(fmt.Sprint("o", i)), "ostatus": sv([]string{"new", "paid"}[i%2])})
	}
	out, err := e.UpdateTable(ctx, &UpdateTableInput{
		TableName:                   "orders",
		AttributeDefinitions:        []AttributeDefinition{{AttributeName: "ostatus", AttributeType: "S"}},
		GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{Create: &SecondaryIndex{IndexName: "by-status", KeySchema: schemaOf("ostatus", "sk"), Projection: Projection{ProjectionType: ProjectionKeysOnly}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := out.TableDescription.GlobalSecondaryIndexes; len(g) != 1 || g[0].IndexStatus != StatusCreating {
		t.Fatalf("new GSI got %+v, want CREATING", g)
	}
	_, err = e.Query(ctx, &QueryInput{TableName: "orders", IndexName: "by-status", KeyCondition: parseKC(t, e, "orders", "by-status", "ostatus = :s", vals{":s": sv("new")})})
	if err == nil {
		// The backfill may not have started; with no Run it cannot finish.
		t.Fatal("query of a backfilling index succeeded")
	}
	runEngine(t, e)
	eventually(t, 5*time.Second, "GSI ACTIVE", func() bool {
		d, err := e.DescribeTable(ctx, &DescribeTableInput{TableName: "orders"})
		return err == nil && d.Table.GlobalSecondaryIndexes[0].IndexStatus == StatusActive
	})
	put(t, e, "orders", attr.Item{"pk": sv("c9"), "sk": sv("o99"), "ostatus": sv("new")})
	q, err := e.Query(ctx, &QueryInput{TableName: "orders", IndexName: "by-status", KeyCondition: parseKC(t, e, "orders", "by-status", "ostatus = :s", vals{":s": sv("new")})})
	if err != nil {
		t.Fatal(err)
	}
	if q.Count != 26 {
		t.Fatalf("backfilled GSI query got %d items, want 26", q.Count)
	}
	if _, ok := q.Items[0]["ostatus"]; !ok || len(q.Items[0]) != 3 {
		t.Fatalf("KEYS_ONLY item got %v, want pk, sk and status", q.Items[0])
	}
	// Delete it.
	_, err = e.UpdateTable(ctx, &UpdateTableInput{TableName: "orders", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{Delete: &DeleteGlobalSecondaryIndex{IndexName: "by-status"}}}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := e.DescribeTable(ctx, &DescribeTableInput{TableName: "orders"})
	if len(d.Table.GlobalSecondaryIndexes) != 0 || len(d.Table.AttributeDefinitions) != 2 {
		t.Fatalf("after delete got %+v", d.Table)
	}
	_, err = e.UpdateTable(ctx, &UpdateTableInput{TableName: "orders", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{Delete: &DeleteGlobalSecondaryIndex{IndexName: "by-status"}}}})
	wantError(t, err, CodeResourceNotFound, "Requested resource not found: Index: by-status not found")
}

func TestTimeToLive(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	e, _ := newEngine(t, Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	createTable(t, e, "sessions", "")
	d, err := e.DescribeTimeToLive(ctx, &DescribeTimeToLiveInput{TableName: "sessions"})
	if err != nil || d.TimeToLiveDescription.TimeToLiveStatus != TTLDisabled {
		t.Fatalf("DescribeTimeToLive got %+v, %v", d, err)
	}
	_, err = e.UpdateTimeToLive(ctx, &UpdateTimeToLiveInput{TableName: "sessions", TimeToLiveSpecification: TimeToLiveSpecification{AttributeName: "exp"}})
	wantError(t, err, CodeValidation, "TimeToLive is already disabled")
	if _, err := e.UpdateTimeToLive(ctx, &UpdateTimeToLiveInput{TableName: "sessions", TimeToLiveSpecification: TimeToLiveSpecification{Enabled: true, AttributeName: "exp"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.UpdateTimeToLive(ctx, &UpdateTimeToLiveInput{TableName: "sessions", TimeToLiveSpecification: TimeToLiveSpecification{Enabled: true, AttributeName: "exp"}})
	wantError(t, err, CodeValidation, "TimeToLive is already enabled")
	items := map[string]attr.Value{
		"past":      nv("1699999999"),
		"now":       nv("1700000000"),
		"future":    nv("1700000001"),
		"ancient":   nv("1000"),
		"string":    sv("1"),
		"fractions": nv("1699999999.5"),
	}
	for name, v := range items {
		put(t, e, "sessions", attr.Item{"pk": sv(name), "exp": v})
	}
	put(t, e, "sessions", attr.Item{"pk": sv("none")})
	n, err := e.expire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("expired %d items, want 3", n)
	}
	for _, name := range []string{"future", "ancient", "string", "none"} {
		if get(t, e, "sessions", attr.Item{"pk": sv(name)}) == nil {
			t.Errorf("item %s expired, should not have", name)
		}
	}
	for _, name := range []string{"past", "now", "fractions"} {
		if get(t, e, "sessions", attr.Item{"pk": sv(name)}) != nil {
			t.Errorf("item %s did not expire", name)
		}
	}
}
