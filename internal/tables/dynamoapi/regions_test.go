package dynamoapi

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/tables"
	"github.com/meridian-platform/meridian/internal/testcluster"
)

// TestTwoRegions writes through one region's handler and reads the item
// through another's, with the SDK, over a replicating cluster.
func TestTwoRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-region cluster")
	}
	c := testcluster.New(t, testcluster.Options{Regions: []string{"us-east", "eu-west"}})
	clients := map[string]*dynamodb.Client{}
	for _, region := range c.Regions() {
		eng, err := tables.New(tables.Config{Regions: c.Regions()}, c.Store(region))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = eng.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		v, err := sigv4.New(sigv4.Config{Lookup: func(context.Context, string) (sigv4.Credential, error) {
			return sigv4.Credential{SecretAccessKey: testSecret, Principal: "admin"}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Config{Engine: eng, Verifier: v, Region: region})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		clients[region] = (&env{URL: srv.URL}).client(t, testAKID, testSecret)
	}
	ctx := ctxT(t)
	east, west := clients["us-east"], clients["eu-west"]
	if _, err := east.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("carts"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("CreateTable in us-east: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := west.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("carts"), Item: map[string]types.AttributeValue{"id": s("c1"), "n": n("1")}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the table created in us-east never became writable in eu-west: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		got, err := east.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("carts"), Key: map[string]types.AttributeValue{"id": s("c1")}})
		if err != nil {
			t.Fatalf("GetItem in us-east: %v", err)
		}
		if got.Item != nil {
			if str(got.Item["n"]) != "1" {
				t.Fatalf("us-east: got %v", got.Item)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the item written in eu-west never reached us-east")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
