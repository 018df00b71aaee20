package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/meridian-platform/meridian/internal/awsapi"
	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/topology"
)

// node is one region node with the real API (awsapi.New) running in this
// process, alone in a one-region topology: its TLS material, master key and
// bootstrap credentials are created under the scratch directory as
// `meridian up` would.
type node struct {
	region   string
	endpoint string
	key      iam.AccessKey
	n        *region.Node
	cancel   context.CancelFunc
	done     chan error
}

func startNode(ctx context.Context, dir, host, regionName string, logger *slog.Logger) (*node, error) {
	t := &topology.Topology{Version: topology.Version, DataDir: dir}
	t.Regions = []topology.Region{{Name: regionName, Nodes: []topology.Node{{Name: regionName + "-1", Host: host}}}}
	t.Secrets.BootstrapCredentials = filepath.Join(dir, "credentials")
	t.SetDefaults()
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("bench topology: %w", err)
	}
	self := t.Regions[0].Nodes[0]
	if err := pki.EnsureCluster(t.TLS.Dir, []pki.NodeSpec{{Name: self.Name, IPs: []net.IP{net.ParseIP(host)}}}); err != nil {
		return nil, fmt.Errorf("bench certificates: %w", err)
	}
	key, err := iam.EnsureBootstrapCredentials(t.Secrets.BootstrapCredentials, iam.Profile)
	if err != nil {
		return nil, fmt.Errorf("bench credentials: %w", err)
	}
	rn, err := region.New(region.Config{Topology: t, Node: self.Name, Logger: logger, API: awsapi.New})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	nd := &node{region: regionName, endpoint: "http://" + self.APIAddr(), key: key, n: rn, cancel: cancel, done: make(chan error, 1)}
	go func() { nd.done <- rn.Run(runCtx) }()
	select {
	case <-rn.Ready():
		return nd, nil
	case err := <-nd.done:
		cancel()
		return nil, fmt.Errorf("starting region node: %w", err)
	case <-time.After(30 * time.Second):
		return nil, errors.Join(errors.New("region node did not start within 30s"), nd.stop())
	}
}

// stop cancels the node and waits until it has closed its store.
func (nd *node) stop() error {
	nd.cancel()
	select {
	case err := <-nd.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("region node did not stop within 30s")
	}
}

// createTable creates the benchmark table (hash key pk, on demand) with the
// SDK and waits until it is ACTIVE.
func createTable(ctx context.Context, c *sdkClient, table string) error {
	if _, err := c.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		return fmt.Errorf("CreateTable %s: %w", table, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("DescribeTable %s: %w", table, err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s still %s after 30s", table, out.Table.TableStatus)
		}
		if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			return ctx.Err()
		}
	}
}
