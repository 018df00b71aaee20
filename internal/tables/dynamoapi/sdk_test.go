package dynamoapi

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func str(av types.AttributeValue) string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case nil:
		return "<absent>"
	}
	return fmt.Sprintf("%T", av)
}

// createOrders makes table "orders" (pk S, sk N) with a GSI on status.
func createOrders(t *testing.T, c *dynamodb.Client) *dynamodb.CreateTableOutput {
	t.Helper()
	out, err := c.CreateTable(ctxT(t), &dynamodb.CreateTableInput{
		TableName: aws.String("orders"),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("status"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("by-status"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("status"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return out
}

func TestControlPlane(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client(t, testAKID, testSecret)
	ctx := ctxT(t)
	out := createOrders(t, c)
	d := out.TableDescription
	if aws.ToString(d.TableName) != "orders" || d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("CreateTable: got %+v", d)
	}
	if time.Since(aws.ToTime(d.CreationDateTime)) > time.Minute {
		t.Errorf("CreationDateTime %v is not now", d.CreationDateTime)
	}
	if len(d.GlobalSecondaryIndexes) != 1 || aws.ToString(d.GlobalSecondaryIndexes[0].IndexName) != "by-status" {
		t.Errorf("GSIs: got %+v", d.GlobalSecondaryIndexes)
	}

	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("orders"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("creating an existing table: got %v, want ResourceInUseException", err)
	}

	desc, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	var regions []string
	for _, r := range desc.Table.Replicas {
		regions = append(regions, aws.ToString(r.RegionName))
	}
	if fmt.Sprint(regions) != "[us-east eu-west ap-south]" || aws.ToString(desc.Table.GlobalTableVersion) == "" {
		t.Errorf("Replicas: got %v (version %q), want every region", regions, aws.ToString(desc.Table.GlobalTableVersion))
	}
	_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nosuch")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("DescribeTable of a missing table: got %v, want ResourceNotFoundException", err)
	}

	for _, name := range []string{"t-b", "t-a", "t-c"} {
		if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			ProvisionedThroughput: &types.ProvisionedThroughput{
				ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5),
			},
		}); err != nil {
			t.Fatalf("CreateTable %s: %v", name, err)
		}
	}
	var names []string
	pages := dynamodb.NewListTablesPaginator(c, &dynamodb.ListTablesInput{Limit: aws.Int32(2)})
	npages := 0
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListTables: %v", err)
		}
		npages++
		names = append(names, p.TableNames...)
	}
	if fmt.Sprint(names) != "[orders t-a t-b t-c]" || npages != 2 {
		t.Errorf("ListTables: got %v in %d pages, want [orders t-a t-b t-c] in 2", names, npages)
	}

	if _, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName: aws.String("orders"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{
			Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("by-status")},
		}},
	}); err != nil {
		t.Fatalf("UpdateTable: %v", err)
	}
	desc, _ = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if len(desc.Table.GlobalSecondaryIndexes) != 0 {
		t.Errorf("after deleting the GSI: got %+v", desc.Table.GlobalSecondaryIndexes)
	}

	ttl, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String("orders"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{Enabled: aws.Bool(true), AttributeName: aws.String("expires")},
	})
	if err != nil || !aws.ToBool(ttl.TimeToLiveSpecification.Enabled) {
		t.Fatalf("UpdateTimeToLive: %+v, %v", ttl, err)
	}
	dttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("orders")})
	if err != nil || dttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled ||
		aws.ToString(dttl.TimeToLiveDescription.AttributeName) != "expires" {
		t.Fatalf("DescribeTimeToLive: %+v, %v", dttl.TimeToLiveDescription, err)
	}

	del, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t-a")})
	if err != nil || del.TableDescription.TableStatus != types.TableStatusDeleting {
		t.Fatalf("DeleteTable: %+v, %v", del, err)
	}
	_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t-a")})
	if !errors.As(err, &nf) {
		t.Fatalf("DescribeTable after DeleteTable: got %v, want ResourceNotFoundException", err)
	}
}

func TestItems(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client(t, testAKID, testSecret)
	ctx := ctxT(t)
	createOrders(t, c)
	tbl := aws.String("orders")
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": s(pk), "sk": n(sk)}
	}

	for i := 1; i <= 5; i++ {
		item := key("alice", fmt.Sprint(i))
		item["total"] = n(fmt.Sprint(i * 10))
		item["status"] = s(map[bool]string{true: "open", false: "shipped"}[i%2 == 1])
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item}); err != nil {
			t.Fatalf("PutItem: %v", err)
		}
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: tbl, Key: key("alice", "2"), ProjectionExpression: aws.String("#t"),
		ExpressionAttributeNames: map[string]string{"#t": "total"}, ConsistentRead: aws.Bool(true),
	})
	if err != nil || len(got.Item) != 1 || str(got.Item["total"]) != "20" {
		t.Fatalf("GetItem with projection: %v, %v", got.Item, err)
	}
	missing, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("bob", "1")})
	if err != nil || missing.Item != nil {
		t.Fatalf("GetItem of a missing item: %v, %v", missing.Item, err)
	}

	// Conditional put that fails, returning the old item.
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: tbl, Item: key("alice", "1"), ConditionExpression: aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || str(ccf.Item["total"]) != "10" {
		t.Fatalf("conditional put: got %v (item %v), want ConditionalCheckFailedException with the old item", err, ccf)
	}
	wantAPIError(t, err, "ConditionalCheckFailedException", "The conditional request failed")

	up, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: tbl, Key: key("alice", "1"),
		UpdateExpression:          aws.String("SET #t = #t + :d, tags = list_append(if_not_exists(tags, :empty), :tag) ADD visits :one"),
		ConditionExpression:       aws.String("#t BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  map[string]string{"#t": "total"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": n("5"), ":empty": &types.AttributeValueMemberL{}, ":tag": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x")}}, ":one": n("1"), ":lo": n("0"), ":hi": n("100")},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		t.Fatalf("UpdateItem: %v", err)
	}
	if str(up.Attributes["total"]) != "15" || str(up.Attributes["visits"]) != "1" {
		t.Fatalf("UpdateItem UPDATED_NEW: got %v", up.Attributes)
	}

	q, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: tbl, KeyConditionExpression: aws.String("pk = :p AND sk >= :s"),
		FilterExpression:          aws.String("#st = :open"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("alice"), ":s": n("2"), ":open": s("open")},
		ScanIndexForward:          aws.Bool(false),
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	var sks []string
	for _, it := range q.Items {
		sks = append(sks, str(it["sk"]))
	}
	if fmt.Sprint(sks) != "[5 3]" || q.Count != 2 || q.ScannedCount != 4 {
		t.Fatalf("Query: got sk %v count %d scanned %d, want [5 3] 2 4", sks, q.Count, q.ScannedCount)
	}
	// Paginate one item at a time.
	pager := dynamodb.NewQueryPaginator(c, &dynamodb.QueryInput{
		TableName: tbl, KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("alice")}, Limit: aws.Int32(2),
	})
	total := 0
	for pager.HasMorePages() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("Query page: %v", err)
		}
		total += len(p.Items)
	}
	if total != 5 {
		t.Fatalf("paginated Query: got %d items, want 5", total)
	}
	cnt, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: tbl, KeyConditionExpression: aws.String("pk = :p"), Select: types.SelectCount,
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("alice")},
	})
	if err != nil || cnt.Count != 5 || cnt.Items != nil {
		t.Fatalf("Query COUNT: count %d items %v, %v", cnt.Count, cnt.Items, err)
	}
	none, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: tbl, KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("nobody")},
	})
	if err != nil || none.Items == nil || len(none.Items) != 0 {
		t.Fatalf("Query matching nothing: items %#v, %v; want an empty list", none.Items, err)
	}

	// Parallel scan: the segments together see every item once.
	seen := 0
	for seg := int32(0); seg < 3; seg++ {
		sc, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl, Segment: aws.Int32(seg), TotalSegments: aws.Int32(3)})
		if err != nil {
			t.Fatalf("Scan segment %d: %v", seg, err)
		}
		seen += len(sc.Items)
	}
	if seen != 5 {
		t.Fatalf("parallel Scan: got %d items, want 5", seen)
	}

	del, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: key("alice", "5"), ReturnValues: types.ReturnValueAllOld})
	if err != nil || str(del.Attributes["total"]) != "50" {
		t.Fatalf("DeleteItem ALL_OLD: %v, %v", del, err)
	}

	// Batches.
	bw, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"orders": {
			{PutRequest: &types.PutRequest{Item: key("bob", "1")}},
			{DeleteRequest: &types.DeleteRequest{Key: key("alice", "4")}},
		},
	}})
	if err != nil || len(bw.UnprocessedItems) != 0 {
		t.Fatalf("BatchWriteItem: %v, %v", bw, err)
	}
	bg, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		"orders": {Keys: []map[string]types.AttributeValue{key("bob", "1"), key("alice", "4"), key("alice", "1")}},
	}})
	if err != nil || len(bg.Responses["orders"]) != 2 || len(bg.UnprocessedKeys) != 0 {
		t.Fatalf("BatchGetItem: %v, %v", bg, err)
	}

	// Transactions.
	_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: tbl, Item: key("carol", "1")}},
		{ConditionCheck: &types.ConditionCheck{TableName: tbl, Key: key("bob", "1"), ConditionExpression: aws.String("attribute_exists(pk)")}},
		{Update: &types.Update{TableName: tbl, Key: key("alice", "1"), UpdateExpression: aws.String("ADD visits :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}}},
	}})
	if err != nil {
		t.Fatalf("TransactWriteItems: %v", err)
	}
	_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: tbl, Item: key("dave", "1")}},
		{ConditionCheck: &types.ConditionCheck{TableName: tbl, Key: key("nobody", "1"), ConditionExpression: aws.String("attribute_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 ||
		aws.ToString(tce.CancellationReasons[0].Code) != "None" || aws.ToString(tce.CancellationReasons[1].Code) != "ConditionalCheckFailed" {
		t.Fatalf("cancelled transaction: got %v, want TransactionCanceledException [None, ConditionalCheckFailed]", err)
	}
	wantAPIError(t, err, "TransactionCanceledException", "[None, ConditionalCheckFailed]")
	tg, err := c.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: tbl, Key: key("carol", "1")}},
		{Get: &types.Get{TableName: tbl, Key: key("dave", "1")}},
		{Get: &types.Get{TableName: tbl, Key: key("alice", "1"), ProjectionExpression: aws.String("visits")}},
	}})
	if err != nil || len(tg.Responses) != 3 || tg.Responses[0].Item == nil || tg.Responses[1].Item != nil || str(tg.Responses[2].Item["visits"]) != "2" {
		t.Fatalf("TransactGetItems: %+v, %v (dave must be absent: the cancelled transaction wrote nothing)", tg, err)
	}
}

func TestErrorPaths(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client(t, testAKID, testSecret)
	createOrders(t, c)
	tbl := aws.String("orders")
	key := map[string]types.AttributeValue{"pk": s("a"), "sk": n("1")}
	tests := []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"missing table", func() error {
			_, err := c.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String("nosuch"), Key: key})
			return err
		}, "ResourceNotFoundException", "Requested resource not found"},
		{"short table name", func() error {
			_, err := c.DescribeTable(ctxT(t), &dynamodb.DescribeTableInput{TableName: aws.String("ab")})
			return err
		}, "ValidationException", "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"},
		{"wrong key type", func() error {
			_, err := c.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: tbl, Key: map[string]types.AttributeValue{"pk": s("a"), "sk": s("1")}})
			return err
		}, "ValidationException", "The provided key element does not match the schema"},
		{"unused value", func() error {
			_, err := c.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: tbl, Item: key, ConditionExpression: aws.String("attribute_not_exists(pk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":x": n("1")}})
			return err
		}, "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"},
		{"bad expression", func() error {
			_, err := c.UpdateItem(ctxT(t), &dynamodb.UpdateItemInput{TableName: tbl, Key: key, UpdateExpression: aws.String("SET")})
			return err
		}, "ValidationException", "Invalid UpdateExpression: Syntax error"},
		{"legacy parameter", func() error {
			_, err := c.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: tbl, Key: key, AttributesToGet: []string{"pk"}})
			return err
		}, "ValidationException", "AttributesToGet is not supported by Meridian; use ProjectionExpression instead"},
		{"query without key condition", func() error {
			_, err := c.Query(ctxT(t), &dynamodb.QueryInput{TableName: tbl})
			return err
		}, "ValidationException", "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."},
		{"limit zero", func() error {
			_, err := c.Scan(ctxT(t), &dynamodb.ScanInput{TableName: tbl, Limit: aws.Int32(0)})
			return err
		}, "ValidationException", "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"segment without total", func() error {
			_, err := c.Scan(ctxT(t), &dynamodb.ScanInput{TableName: tbl, Segment: aws.Int32(0)})
			return err
		}, "ValidationException", "The TotalSegments parameter is required"},
		{"empty set", func() error {
			_, err := c.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{
				"pk": s("a"), "sk": n("1"), "ss": &types.AttributeValueMemberSS{Value: []string{}}}})
			return err
		}, "ValidationException", "An string set  may not be empty"},
		{"oversized item", func() error {
			big := make([]byte, 401*1024)
			for i := range big {
				big[i] = 'x'
			}
			_, err := c.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{
				"pk": s("a"), "sk": n("1"), "blob": s(string(big))}})
			return err
		}, "ValidationException", "Item size has exceeded the maximum allowed size"},
		{"bad number", func() error {
			_, err := c.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{"pk": s("a"), "sk": n("one")}})
			return err
		}, "ValidationException", "The parameter cannot be converted to a numeric value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, tc.call(), tc.code, tc.msg)
		})
	}
	// None of the refused writes left anything behind.
	got, err := c.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: tbl, Key: key})
	if err != nil || got.Item != nil {
		t.Fatalf("after refused writes: got item %v, %v; want none", got.Item, err)
	}
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name   string
		akid   string
		secret string
		skew   time.Duration
		code   string
		msg    string
	}{
		{"wrong secret", testAKID, "not-the-secret", 0, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"unknown key", "AKIAUNKNOWN000000000", testSecret, 0, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"clock skew", testAKID, testSecret, 20 * time.Minute, "InvalidSignatureException", "Signature expired"},
		{"missing auth", "", "", 0, "MissingAuthenticationTokenException", "Request is missing Authentication Token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := envOptions{}
			if tc.skew != 0 {
				opts.sigNow = func() time.Time { return time.Now().Add(tc.skew) }
			}
			e := newEnv(t, opts)
			c := e.client(t, tc.akid, tc.secret)
			if tc.akid == "" {
				c = dynamodb.New(dynamodb.Options{Region: "us-east", BaseEndpoint: aws.String(e.URL), Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
			}
			_, err := c.ListTables(ctxT(t), &dynamodb.ListTablesInput{})
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}
}
