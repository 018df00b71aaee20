package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/netsim"
	"github.com/meridian-platform/meridian/internal/region"
	engine "github.com/meridian-platform/meridian/internal/s3"
	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/testcluster"
)

// cluster is a testcluster whose regions serve S3 on their API ports, with
// replication fetches crossing the simulated network.
type cluster struct {
	*testcluster.Cluster
	net     atomic.Pointer[netsim.Network]
	mu      sync.Mutex
	engines map[string]*engine.Engine
}

// api is what a region node serves in these tests: S3 over the node's store,
// authenticated with the cluster's keys, as internal/awsapi wires it.
type api struct {
	http.Handler
	e *engine.Engine
}

func (a *api) Run(ctx context.Context) error { return a.e.Run(ctx) }

func newCluster(t *testing.T, regions ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a multi-region cluster")
	}
	cl := &cluster{engines: map[string]*engine.Engine{}}
	opts := testcluster.Options{Regions: regions, API: cl.build}
	cl.Cluster = testcluster.New(t, opts)
	for _, r := range cl.Regions() {
		rr, _ := cl.Topo.Region(r)
		cl.Net.Register(r, rr.Nodes[0].APIAddr())
	}
	cl.net.Store(cl.Net)
	return cl
}

func (cl *cluster) build(ctx context.Context, env region.APIEnv) (region.API, error) {
	t := env.Topology
	if err := iam.EnsureMasterKey(t.Secrets.MasterKeyFile); err != nil {
		return nil, err
	}
	keys, err := iam.New(iam.Config{Store: env.Store, MasterKeyFile: t.Secrets.MasterKeyFile})
	if err != nil {
		return nil, err
	}
	ak, err := keys.Bootstrap(ctx, t.Secrets.BootstrapCredentials, iam.Profile)
	if err != nil {
		return nil, err
	}
	verifier, err := sigv4.New(sigv4.Config{Lookup: keys.Lookup})
	if err != nil {
		return nil, err
	}
	rr, _ := t.Region(env.Region)
	peers := map[string]string{}
	for _, ref := range t.Nodes() {
		peers[ref.Region] = "http://" + ref.Node.APIAddr()
	}
	from := env.Region
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			if n := cl.net.Load(); n != nil {
				return n.Dialer(from)(ctx, addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		ResponseHeaderTimeout: 5 * time.Second,
	}
	e, err := engine.New(engine.Config{
		Dir:          filepath.Join(t.NodeDataDir(rr.Nodes[0].Name), "s3"),
		Region:       env.Region,
		Regions:      t.RegionNames(),
		Peers:        func() map[string]string { return peers },
		Sign:         engine.SignWith(ak.ID, ak.Secret, "us-east-1"),
		Transport:    tr,
		Logger:       env.Logger,
		PollInterval: 100 * time.Millisecond,
		RetryMin:     50 * time.Millisecond,
		RetryMax:     500 * time.Millisecond,
		MinPartSize:  1 << 20,
		StallTimeout: time.Second,
	}, env.Store)
	if err != nil {
		return nil, err
	}
	env.Store.SetIndexer(e)
	h, err := New(Config{Engine: e, Verifier: verifier, Region: env.Region, Logger: env.Logger})
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	cl.engines[env.Region] = e
	cl.mu.Unlock()
	return &api{Handler: h, e: e}, nil
}

// client is an SDK client for a region's API port.
func (cl *cluster) client(t testing.TB, region string) *s3.Client {
	t.Helper()
	ak := cl.Credentials()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return s3.New(s3.Options{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: ak.ID, SecretAccessKey: ak.Secret}, nil
		}),
		BaseEndpoint: aws.String(cl.APIURL(region)),
		UsePathStyle: true,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
}

func (cl *cluster) clients(t testing.TB) map[string]*s3.Client {
	out := map[string]*s3.Client{}
	for _, r := range cl.Regions() {
		out[r] = cl.client(t, r)
	}
	return out
}

// eventually retries f until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// readAll reads an object in a region, returning its SHA-256 and status.
func readObject(ctx context.Context, c *s3.Client, bucket, key, versionID string) ([32]byte, *s3.GetObjectOutput, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return [32]byte{}, nil, err
	}
	defer func() { _ = out.Body.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return [32]byte{}, nil, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, out, nil
}

// awaitBucket waits until a bucket exists in every region.
func (cl *cluster) awaitBucket(t testing.TB, cs map[string]*s3.Client, bucket string) {
	t.Helper()
	for r, c := range cs {
		eventually(t, 20*time.Second, "bucket "+bucket+" in "+r, func() error {
			_, err := c.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
			return err
		})
	}
}

// awaitLocal waits until every running region holds the bytes of every
// version it can see (no replication backlog).
func (cl *cluster) awaitReplicated(t testing.TB, cs map[string]*s3.Client, bucket, key string, want [32]byte) {
	t.Helper()
	for r, c := range cs {
		if !cl.Running(r) {
			continue
		}
		eventually(t, 30*time.Second, fmt.Sprintf("%s/%s in %s", bucket, key, r), func() error {
			sum, _, err := readObject(context.Background(), c, bucket, key, "")
			if err != nil {
				return err
			}
			if sum != want {
				return fmt.Errorf("read %x, want %x", sum[:6], want[:6])
			}
			return nil
		})
	}
}

func status(t testing.TB, c *s3.Client, bucket, key string) string {
	t.Helper()
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "error: " + err.Error()
	}
	return string(h.ReplicationStatus)
}

func awaitStatus(t testing.TB, c *s3.Client, bucket, key, want string) {
	t.Helper()
	eventually(t, 30*time.Second, "replication status of "+key, func() error {
		if got := status(t, c, bucket, key); got != want {
			return fmt.Errorf("status %q, want %q", got, want)
		}
		return nil
	})
}

var errNotYet = errors.New("not yet")

func TestClusterWriteInOneRegionReadInEvery(t *testing.T) {
	cl := newCluster(t)
	cs := cl.clients(t)
	ctx := ctxT(t)
	mustBucket(t, cs["us-east"], "global")
	cl.awaitBucket(t, cs, "global")
	sums := map[string][32]byte{}
	for i, r := range cl.Regions() {
		data := randomBytes(uint64(i+1), 1<<20+i*777)
		key := "from-" + r
		put(t, cs[r], "global", key, data)
		sums[key] = sha256.Sum256(data)
	}
	for key, sum := range sums {
		cl.awaitReplicated(t, cs, "global", key, sum)
	}
	for i, r := range cl.Regions() {
		key := "from-" + r
		awaitStatus(t, cs[r], "global", key, engine.ReplicationCompleted)
		other := cl.Regions()[(i+1)%len(cl.Regions())]
		if got := status(t, cs[other], "global", key); got != engine.ReplicationReplica {
			t.Fatalf("%s in %s: status %q, want REPLICA", key, other, got)
		}
	}
	// Every region lists the same keys, and deletes replicate.
	for r, c := range cs {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("global")})
		if err != nil || len(out.Contents) != 3 {
			t.Fatalf("%s lists %d objects, %v", r, len(out.Contents), err)
		}
	}
	if _, err := cs["eu-west"].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("global"), Key: aws.String("from-us-east")}); err != nil {
		t.Fatal(err)
	}
	for r, c := range cs {
		eventually(t, 20*time.Second, "delete in "+r, func() error {
			_, _, err := readObject(ctx, c, "global", "from-us-east", "")
			if err == nil {
				return errNotYet
			}
			return nil
		})
	}
}

func (cl *cluster) engine(region string) *engine.Engine {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.engines[region]
}

// awaitNoBacklog waits until every running region holds the bytes of every
// version it sees.
func (cl *cluster) awaitNoBacklog(t testing.TB) {
	t.Helper()
	for _, r := range cl.Regions() {
		if !cl.Running(r) {
			continue
		}
		eventually(t, 30*time.Second, "replication backlog of "+r, func() error {
			n, err := cl.engine(r).Pending()
			if err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("%d versions pending", n)
			}
			return nil
		})
	}
}

func TestClusterPartitionThenHeal(t *testing.T) {
	cl := newCluster(t)
	cs := cl.clients(t)
	ctx := ctxT(t)
	mustBucket(t, cs["us-east"], "parted")
	cl.awaitBucket(t, cs, "parted")

	// us-east cut off from both: writes are accepted and stay PENDING.
	cl.Partition("us-east", "eu-west")
	cl.Partition("us-east", "ap-south")
	data := randomBytes(7, 3<<20)
	sum := sha256.Sum256(data)
	put(t, cs["us-east"], "parted", "isolated", data)
	time.Sleep(500 * time.Millisecond)
	if got := status(t, cs["us-east"], "parted", "isolated"); got != engine.ReplicationPending {
		t.Fatalf("status while partitioned: %q, want PENDING", got)
	}
	if _, err := cs["eu-west"].HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("parted"), Key: aws.String("isolated")}); err == nil {
		t.Fatalf("eu-west sees the object while partitioned")
	}
	cl.HealAll()
	cl.awaitReplicated(t, cs, "parted", "isolated", sum)
	awaitStatus(t, cs["us-east"], "parted", "isolated", engine.ReplicationCompleted)

	// A partial partition: eu-west cannot reach us-east, but learns of the
	// version through ap-south and copies the bytes from there.
	cl.Partition("us-east", "eu-west")
	data2 := randomBytes(8, 2<<20+3)
	sum2 := sha256.Sum256(data2)
	put(t, cs["us-east"], "parted", "relayed", data2)
	cl.awaitReplicated(t, map[string]*s3.Client{"ap-south": cs["ap-south"], "eu-west": cs["eu-west"]}, "parted", "relayed", sum2)
	cl.awaitNoBacklog(t)
	cl.HealAll()
	awaitStatus(t, cs["us-east"], "parted", "relayed", engine.ReplicationCompleted)
	cl.AwaitConverged(t, 30*time.Second)
}

func TestClusterRestartDuringReplication(t *testing.T) {
	cl := newCluster(t)
	cs := cl.clients(t)
	mustBucket(t, cs["us-east"], "restart")
	cl.awaitBucket(t, cs, "restart")
	sums := map[string][32]byte{}
	for i := range 8 {
		data := randomBytes(uint64(100+i), 2<<20+i)
		key := fmt.Sprintf("obj-%d", i)
		put(t, cs["us-east"], "restart", key, data)
		sums[key] = sha256.Sum256(data)
		if i == 3 {
			// Stop a destination while it fetches, and the origin.
			cl.Stop("eu-west")
		}
		if i == 5 {
			cl.Stop("ap-south")
		}
	}
	cl.Restart("us-east")
	cl.Start("eu-west")
	cl.Start("ap-south")
	cs = cl.clients(t)
	for key, sum := range sums {
		cl.awaitReplicated(t, cs, "restart", key, sum)
	}
	cl.awaitNoBacklog(t)
	for key := range sums {
		awaitStatus(t, cs["us-east"], "restart", key, engine.ReplicationCompleted)
	}
	cl.AwaitConverged(t, 30*time.Second)
}

func TestClusterMultipartAcrossRestart(t *testing.T) {
	cl := newCluster(t, "us-east", "eu-west")
	cs := cl.clients(t)
	ctx := ctxT(t)
	mustBucket(t, cs["us-east"], "mpr")
	cl.awaitBucket(t, cs, "mpr")
	p1, p2 := randomBytes(1, 1<<20), randomBytes(2, 1<<19)
	cr, err := cs["us-east"].CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpr"), Key: aws.String("movie")})
	if err != nil {
		t.Fatal(err)
	}
	u1, err := cs["us-east"].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpr"), Key: aws.String("movie"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p1)})
	if err != nil {
		t.Fatal(err)
	}
	cl.Restart("us-east")
	cs = cl.clients(t)
	ctx = ctxT(t)
	u2, err := cs["us-east"].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpr"), Key: aws.String("movie"), UploadId: cr.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(p2)})
	if err != nil {
		t.Fatalf("UploadPart after restart: %v", err)
	}
	if _, err := cs["us-east"].CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpr"), Key: aws.String("movie"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: u1.ETag}, {PartNumber: aws.Int32(2), ETag: u2.ETag}}}}); err != nil {
		t.Fatalf("CompleteMultipartUpload after restart: %v", err)
	}
	cl.awaitReplicated(t, cs, "mpr", "movie", sha256.Sum256(append(append([]byte{}, p1...), p2...)))
	cl.awaitNoBacklog(t)
}

func TestClusterConcurrentWritesConverge(t *testing.T) {
	cl := newCluster(t, "us-east", "eu-west")
	cs := cl.clients(t)
	ctx := ctxT(t)
	for _, b := range []string{"versioned", "plain"} {
		mustBucket(t, cs["us-east"], b)
	}
	cl.awaitBucket(t, cs, "plain")
	cl.awaitBucket(t, cs, "versioned")
	if _, err := cs["us-east"].PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("versioned"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "versioning in eu-west", func() error {
		out, err := cs["eu-west"].GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("versioned")})
		if err != nil {
			return err
		}
		if out.Status != types.BucketVersioningStatusEnabled {
			return errNotYet
		}
		return nil
	})
	cl.Partition("us-east", "eu-west")
	for _, b := range []string{"versioned", "plain"} {
		put(t, cs["us-east"], b, "k", []byte("east "+b))
		put(t, cs["eu-west"], b, "k", []byte("west "+b))
	}
	cl.HealAll()
	cl.AwaitConverged(t, 30*time.Second)
	cl.awaitNoBacklog(t)
	for _, b := range []string{"versioned", "plain"} {
		var current [32]byte
		var versions []string
		for i, r := range cl.Regions() {
			sum, out, err := readObject(ctx, cs[r], b, "k", "")
			if err != nil {
				t.Fatalf("%s/k in %s: %v", b, r, err)
			}
			lv, err := cs[r].ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b)})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, v := range lv.Versions {
				ids = append(ids, aws.ToString(v.VersionId)+"/"+aws.ToString(v.ETag))
			}
			if i == 0 {
				current, versions = sum, ids
				continue
			}
			if sum != current || fmt.Sprint(ids) != fmt.Sprint(versions) {
				t.Fatalf("%s: %s reads %x with versions %v; %s read %x with %v", b, r, sum[:6], ids, cl.Regions()[0], current[:6], versions)
			}
			_ = out
		}
		want := 1
		if b == "versioned" {
			want = 2
		}
		if len(versions) != want {
			t.Fatalf("%s keeps %d versions, want %d: %v", b, len(versions), want, versions)
		}
	}
}

func TestClusterReplicationConfiguration(t *testing.T) {
	cl := newCluster(t)
	cs := cl.clients(t)
	ctx := ctxT(t)
	mustBucket(t, cs["us-east"], "narrow")
	cl.awaitBucket(t, cs, "narrow")
	_, err := cs["us-east"].PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("narrow"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::1:role/r"), Rules: []types.ReplicationRule{{
			ID: aws.String("logs-to-eu"), Status: types.ReplicationRuleStatusEnabled, Priority: aws.Int32(1),
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("logs/")},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:eu-west::narrow")},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
		}}}})
	if err != nil {
		t.Fatalf("PutBucketReplication: %v", err)
	}
	got, err := cs["us-east"].GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("narrow")})
	if err != nil || len(got.ReplicationConfiguration.Rules) != 1 || aws.ToString(got.ReplicationConfiguration.Rules[0].ID) != "logs-to-eu" {
		t.Fatalf("GetBucketReplication: %+v %v", got, err)
	}
	_, err = cs["us-east"].PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("narrow"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("r"), Rules: []types.ReplicationRule{{
			Status: types.ReplicationRuleStatusEnabled, Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:mars::narrow")}}}}})
	wantAPIError(t, err, "InvalidRequest", "not a region of this deployment")
	// Wait until the configuration reached us-east's readers (it is local).
	put(t, cs["us-east"], "narrow", "logs/a", []byte("log line"))
	put(t, cs["us-east"], "narrow", "img/b", []byte("picture"))
	cl.awaitReplicated(t, map[string]*s3.Client{"eu-west": cs["eu-west"]}, "narrow", "logs/a", sha256.Sum256([]byte("log line")))
	awaitStatus(t, cs["us-east"], "narrow", "logs/a", engine.ReplicationCompleted)
	if got := status(t, cs["us-east"], "narrow", "img/b"); got != "" {
		t.Fatalf("img/b status %q, want none", got)
	}
	cl.AwaitConverged(t, 20*time.Second)
	for _, r := range []string{"eu-west", "ap-south"} {
		if _, _, err := readObject(ctx, cs[r], "narrow", "img/b", ""); err == nil {
			t.Fatalf("img/b is visible in %s", r)
		}
	}
	if _, _, err := readObject(ctx, cs["ap-south"], "narrow", "logs/a", ""); err == nil {
		t.Fatalf("logs/a is visible in ap-south")
	}
	// Delete markers are not replicated: eu-west keeps serving logs/a.
	if _, err := cs["us-east"].PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("narrow"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs["us-east"].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("narrow"), Key: aws.String("logs/a")}); err != nil {
		t.Fatal(err)
	}
	cl.AwaitConverged(t, 20*time.Second)
	if _, _, err := readObject(ctx, cs["eu-west"], "narrow", "logs/a", ""); err != nil {
		t.Fatalf("eu-west lost logs/a to an unreplicated delete marker: %v", err)
	}
	if _, _, err := readObject(ctx, cs["us-east"], "narrow", "logs/a", ""); err == nil {
		t.Fatalf("us-east still serves logs/a after its delete")
	}
	if _, err := cs["us-east"].DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String("narrow")}); err != nil {
		t.Fatal(err)
	}
	_, err = cs["us-east"].GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("narrow")})
	wantAPIError(t, err, "ReplicationConfigurationNotFoundError", "not found")
}
