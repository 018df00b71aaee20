package main_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/iam"
)

// dynamoClients returns an SDK client per region, configured the way the
// summary of `up` tells a user to: the credentials file and profile it
// wrote, and the region's API endpoint.
func dynamoClients(t *testing.T, u *upProc) map[string]*dynamodb.Client {
	t.Helper()
	out := map[string]*dynamodb.Client{}
	for _, n := range u.endpoints().Nodes {
		cfg, err := config.LoadDefaultConfig(context.Background(),
			config.WithSharedCredentialsFiles([]string{filepath.Join(u.dir, deploy.CredentialsFile)}),
			config.WithSharedConfigProfile(iam.Profile),
			config.WithRegion(n.Region),
			config.WithRetryMaxAttempts(1))
		if err != nil {
			t.Fatal(err)
		}
		out[n.Region] = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(n.API) })
	}
	return out
}

// eventually retries fn until it succeeds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ordersTable is the table TestGlobalTablesWithTheSDK creates; not one of
// the reference shop's, which `up` runs in every region.
const ordersTable = "sdk-test-orders"

func TestGlobalTablesWithTheSDK(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none")
	clients := dynamoClients(t, u)
	regions := []string{"us-east", "eu-west", "ap-south"}
	ctx := context.Background()

	_, err := clients["us-east"].CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(ordersTable),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable in us-east: %v", err)
	}
	for _, r := range regions {
		eventually(t, 20*time.Second, "table visible in "+r, func() error {
			d, err := clients[r].DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(ordersTable)})
			if err != nil {
				return err
			}
			if len(d.Table.Replicas) != len(regions) {
				return fmt.Errorf("replicas %v", d.Table.Replicas)
			}
			return nil
		})
	}

	t.Run("write in one region, read in every other", func(t *testing.T) {
		_, err := clients["eu-west"].PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(ordersTable), Item: map[string]types.AttributeValue{
			"id": &types.AttributeValueMemberS{Value: "o-1"}, "total": &types.AttributeValueMemberN{Value: "42.50"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regions {
			eventually(t, 20*time.Second, "o-1 readable in "+r, func() error {
				out, err := clients[r].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(ordersTable), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o-1"}}})
				if err != nil {
					return err
				}
				if n, ok := out.Item["total"].(*types.AttributeValueMemberN); !ok || n.Value != "42.5" {
					return fmt.Errorf("item %v", out.Item)
				}
				return nil
			})
		}
	})

	t.Run("concurrent increments from three regions total exactly", func(t *testing.T) {
		const per = 40
		var wg sync.WaitGroup
		for _, r := range regions {
			wg.Go(func() {
				for range per {
					_, err := clients[r].UpdateItem(ctx, &dynamodb.UpdateItemInput{
						TableName:                 aws.String(ordersTable),
						Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "stock"}},
						UpdateExpression:          aws.String("ADD n :one"),
						ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
					})
					if err != nil {
						t.Errorf("ADD in %s: %v", r, err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, r := range regions {
			eventually(t, 20*time.Second, "exact total in "+r, func() error {
				out, err := clients[r].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(ordersTable), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "stock"}}})
				if err != nil {
					return err
				}
				if n, ok := out.Item["n"].(*types.AttributeValueMemberN); !ok || n.Value != strconv.Itoa(per*len(regions)) {
					return fmt.Errorf("n = %v, want %d", out.Item["n"], per*len(regions))
				}
				return nil
			})
		}
	})

	t.Run("a killed region catches up and nothing acknowledged is lost", func(t *testing.T) {
		const victim = "ap-south"
		var pid int
		for _, n := range u.endpoints().Nodes {
			if n.Region == victim {
				pid = n.PID
			}
		}
		var mu sync.Mutex
		var acked []string
		write := func(r string, i int) {
			id := fmt.Sprintf("%s-%d", r, i)
			_, err := clients[r].PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(ordersTable),
				Item: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}})
			if err == nil {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}
		for i := range 30 {
			for _, r := range regions {
				write(r, i)
			}
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for i := 30; i < 80; i++ {
			write("us-east", i)
			write("eu-west", i)
		}
		// The supervisor restarts the killed node; then every region holds
		// every acknowledged write.
		for _, r := range regions {
			for _, id := range acked {
				eventually(t, 30*time.Second, id+" in "+r, func() error {
					out, err := clients[r].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(ordersTable),
						Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}})
					if err != nil {
						return err
					}
					if out.Item == nil {
						return errors.New("missing")
					}
					return nil
				})
			}
		}
		t.Logf("%d acknowledged writes present in every region after kill -9 of %s", len(acked), victim)
	})
}
