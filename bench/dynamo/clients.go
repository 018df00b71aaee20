package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/meridian-platform/meridian/internal/iam"
)

// client is one of the concurrent clients: it puts and gets items and says
// how many body bytes each request sent and received.
type client interface {
	put(ctx context.Context, it item) (sent, recv int, err error)
	get(ctx context.Context, key string) (sent, recv int, err error)
}

// keyspace is the keys the put phase acknowledged: acked[i] items of client
// i, keys keyOf(i, 0…acked[i]-1). Each client writes only its own slot
// during the put phase; the get phase only reads.
type keyspace struct {
	acked []uint64
	cum   []uint64 // prefix sums of acked, built by seal
}

func newKeyspace(clients int) *keyspace { return &keyspace{acked: make([]uint64, clients)} }

// seal prepares random draws once the put phase is over.
func (k *keyspace) seal() uint64 {
	k.cum = make([]uint64, len(k.acked))
	var total uint64
	for i, n := range k.acked {
		total += n
		k.cum[i] = total
	}
	return total
}

// random is a uniformly drawn acknowledged key; seal must have found some.
func (k *keyspace) random(rng *rand.Rand) string {
	r := rng.Uint64N(k.cum[len(k.cum)-1])
	i, _ := slices.BinarySearchFunc(k.cum, r, func(c, r uint64) int {
		if c <= r {
			return -1
		}
		return 1
	})
	before := uint64(0)
	if i > 0 {
		before = k.cum[i-1]
	}
	return keyOf(i, r-before)
}

// runPutGet runs the put phase (unique keys) then, unless skipped, the get
// phase (random acknowledged keys) with one client per goroutine.
func runPutGet(ctx context.Context, put, get *phase, sh shape, clients []client) (pr, gr *phaseResult, err error) {
	keys := newKeyspace(len(clients))
	if put != nil {
		r, err := drive(ctx, *put, func(i int) opFunc {
			c := clients[i]
			return func(ctx context.Context, rng *rand.Rand) (int, int, error) {
				seq := keys.acked[i]
				sent, recv, err := c.put(ctx, sh.newItem(rng, keyOf(i, seq), seq))
				if err == nil {
					keys.acked[i] = seq + 1
				}
				return sent, recv, err
			}
		})
		if err != nil {
			return nil, nil, err
		}
		pr = &r
	}
	if get == nil {
		return pr, nil, nil
	}
	if keys.seal() == 0 {
		return pr, nil, fmt.Errorf("%s: no item was written, nothing to get", get.name)
	}
	r, err := drive(ctx, *get, func(i int) opFunc {
		c := clients[i]
		return func(ctx context.Context, rng *rand.Rand) (int, int, error) {
			return c.get(ctx, keys.random(rng))
		}
	})
	if err != nil {
		return pr, nil, err
	}
	return pr, &r, nil
}

// bareClient is a plain net/http client sending the DynamoDB bodies the SDK
// would send, over its own keep-alive HTTP/1.1 connection.
type bareClient struct {
	http *http.Client
	url  string
	sh   shape
}

func newBareClient(url string, sh shape) *bareClient {
	return &bareClient{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 30 * time.Second}, url: url, sh: sh}
}

func (c *bareClient) put(ctx context.Context, it item) (int, int, error) {
	return c.post(ctx, targetPut, c.sh.putRequest(it))
}

func (c *bareClient) get(ctx context.Context, key string) (int, int, error) {
	return c.post(ctx, targetGet, c.sh.getRequest(key))
}

func (c *bareClient) post(ctx context.Context, target string, body []byte) (int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", amzJSON)
	req.Header.Set("X-Amz-Target", target)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	return len(body), int(n), nil
}

func (c *bareClient) close() { c.http.CloseIdleConnections() }

// sdkClient is a real aws-sdk-go-v2 DynamoDB client with its default HTTP
// client (its own keep-alive connection), SigV4 and retries off.
type sdkClient struct {
	ddb   *dynamodb.Client
	doer  *countingDoer
	table string
	// checkKey: the item GetItem returns must be the one asked for (off
	// against the bare handler, which answers one fixed item).
	checkKey bool
}

func newSDKClient(endpoint, region string, key iam.AccessKey, sh shape, checkKey bool) *sdkClient {
	// The SDK's default transport settings, on a transport this program can
	// close.
	tr := awshttp.NewBuildableClient().GetTransport()
	d := &countingDoer{inner: &http.Client{Transport: tr}, transport: tr}
	return &sdkClient{
		ddb: dynamodb.New(dynamodb.Options{
			Region:       region,
			BaseEndpoint: aws.String(endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(key.ID, key.Secret, ""),
			Retryer:      aws.NopRetryer{},
			HTTPClient:   d,
		}),
		doer: d, table: sh.table, checkKey: checkKey,
	}
}

func (c *sdkClient) put(ctx context.Context, it item) (int, int, error) {
	_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.table), Item: it.sdk()})
	return c.doer.sent, c.doer.recv, err
}

func (c *sdkClient) get(ctx context.Context, key string) (int, int, error) {
	out, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(c.table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}},
	})
	if err != nil {
		return 0, 0, err
	}
	if out.Item == nil {
		return 0, 0, fmt.Errorf("GetItem %s: acknowledged item not found", key)
	}
	if c.checkKey {
		if pk, ok := out.Item["pk"].(*types.AttributeValueMemberS); !ok || pk.Value != key {
			return 0, 0, fmt.Errorf("GetItem %s: got item %v", key, out.Item["pk"])
		}
	}
	return c.doer.sent, c.doer.recv, nil
}

func (c *sdkClient) close() {
	c.doer.transport.CloseIdleConnections()
}

// countingDoer notes the body sizes of the last request it carried. Like
// its sdkClient it belongs to one goroutine.
type countingDoer struct {
	inner      *http.Client
	transport  *http.Transport
	sent, recv int
}

func (d *countingDoer) Do(req *http.Request) (*http.Response, error) {
	d.sent, d.recv = int(req.ContentLength), 0
	resp, err := d.inner.Do(req) //nolint:gosec // G704: wraps the benchmark's own client; targets come from its flags
	if err == nil {
		d.recv = int(resp.ContentLength)
	}
	return resp, err
}

// closeAll drops the clients' idle connections.
func closeAll(clients []client) {
	for _, c := range clients {
		if cl, ok := c.(interface{ close() }); ok {
			cl.close()
		}
	}
}
