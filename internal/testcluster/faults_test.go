package testcluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/repl"
	"github.com/meridian-platform/meridian/internal/store"
)

// writer keeps writing unique keys and counter increments to one region
// and remembers what was acknowledged.
type writer struct {
	region  string
	mu      sync.Mutex
	acked   []string
	counted int
}

func (w *writer) run(ctx context.Context, c *Cluster) {
	for i := 0; ctx.Err() == nil; i++ {
		st := c.StoreIfRunning(w.region)
		if st == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		k := fmt.Sprintf("%s-%d", w.region, i)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := st.Apply(wctx, store.Mutation{Key: Key(k), Put: []byte(k)},
			store.Mutation{Key: Key("total"), Counters: []store.CounterDelta{{Field: "n", Delta: "1"}}})
		cancel()
		if err == nil {
			w.mu.Lock()
			w.acked = append(w.acked, k)
			w.counted++
			w.mu.Unlock()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRandomFaultScheduleConvergesAndLosesNothing runs writers in every
// region through a seeded schedule of partitions, one-way partitions,
// latency, loss and node restarts, then heals everything and checks that
// every region holds every acknowledged write and the exact counter total.
func TestRandomFaultScheduleConvergesAndLosesNothing(t *testing.T) {
	c := New(t, Options{})
	rng := rand.New(rand.NewPCG(uint64(c.opts.Seed), 2))
	regions := c.Regions()
	ctx, cancel := context.WithCancel(context.Background())
	var writers []*writer
	var wg sync.WaitGroup
	for _, r := range regions {
		w := &writer{region: r}
		writers = append(writers, w)
		wg.Go(func() { w.run(ctx, c) })
	}
	for step := range 12 {
		a, b := regions[rng.IntN(3)], regions[rng.IntN(3)]
		switch op := rng.IntN(6); {
		case a == b || op == 0:
			c.HealAll()
		case op == 1:
			c.Partition(a, b)
		case op == 2:
			c.PartitionOneWay(a, b)
		case op == 3:
			rtt := time.Duration(20+rng.IntN(200)) * time.Millisecond
			t.Logf("step %d: latency %s <-> %s %s", step, a, b, rtt)
			c.Net.SetLatency(a, b, rtt)
		case op == 4:
			t.Logf("step %d: loss %s <-> %s", step, a, b)
			c.Net.SetLoss(a, b, 0.2)
		case op == 5:
			t.Logf("step %d: restart %s", step, a)
			c.Restart(a)
		}
		time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
	}
	cancel()
	wg.Wait()
	c.HealAll()
	for _, a := range regions {
		for _, b := range regions {
			if a < b {
				c.Net.SetLatency(a, b, 0)
				c.Net.SetLoss(a, b, 0)
			}
		}
	}
	c.AwaitConverged(t, 45*time.Second)
	total := 0
	for _, w := range writers {
		total += w.counted
		for _, r := range regions {
			st := c.Store(r)
			for _, k := range w.acked {
				s, err := st.Get(Key(k))
				if err != nil || !s.Exists() || string(s.Base.Doc) != k {
					t.Fatalf("seed %d: acknowledged write %s missing in %s", c.opts.Seed, k, r)
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no write was acknowledged during the schedule")
	}
	for _, r := range regions {
		s, err := c.Store(r).Get(Key("total"))
		if err != nil {
			t.Fatal(err)
		}
		sum, _ := s.CounterSum("n")
		if sum.String() != fmt.Sprint(total) {
			t.Fatalf("seed %d: %s counts %s, want %d acknowledged increments", c.opts.Seed, r, sum, total)
		}
	}
	t.Logf("%d acknowledged writes survived the schedule", total)
}

func TestLogIsTruncatedOnceEveryRegionApplied(t *testing.T) {
	c := New(t, Options{})
	for i := range 100 {
		c.Put(t, "us-east", fmt.Sprint(i), "v")
	}
	c.AwaitConverged(t, 15*time.Second)
	origin := c.Store("us-east").Origin()
	deadline := time.Now().Add(15 * time.Second)
	for {
		first, _, err := c.Store("us-east").FirstLogSeq(origin)
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 || first > 100 {
			return // the whole applied log is gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("us-east still keeps its log from %d after every region applied it", first)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRepairsRegionBehindLogRetention(t *testing.T) {
	c := New(t, Options{LogRetentionRecords: 20})
	c.Stop("ap-south")
	for i := range 300 {
		c.Put(t, "us-east", fmt.Sprint(i), "v")
	}
	origin := c.Store("us-east").Origin()
	waitFor(t, 15*time.Second, "us-east to truncate past retention", func() bool {
		first, _, _ := c.Store("us-east").FirstLogSeq(origin)
		return first > 250
	})
	waitFor(t, 15*time.Second, "eu-west to truncate past retention", func() bool {
		first, _, _ := c.Store("eu-west").FirstLogSeq(origin)
		return first > 250
	})
	c.Start("ap-south")
	c.AwaitConverged(t, 30*time.Second)
	if got := c.Get(t, "ap-south", "0"); got != "v" {
		t.Fatalf("ap-south missing a write that only anti-entropy could bring: %q", got)
	}
}

func TestRepairsRegionWhoseDataWasWiped(t *testing.T) {
	c := New(t, Options{})
	for i := range 100 {
		c.Put(t, c.Regions()[i%3], fmt.Sprint(i), "v")
	}
	c.AwaitConverged(t, 15*time.Second)
	before := c.Store("eu-west").Origin()
	c.Stop("eu-west")
	c.Wipe("eu-west")
	c.Start("eu-west")
	if c.Store("eu-west").Origin() == before {
		t.Fatal("a wiped node came back under its old origin; its sequence numbers would collide")
	}
	c.Put(t, "eu-west", "after-wipe", "v")
	c.AwaitConverged(t, 30*time.Second)
	for i := range 100 {
		if got := c.Get(t, "eu-west", fmt.Sprint(i)); got != "v" {
			t.Fatalf("wiped eu-west did not get back key %d", i)
		}
	}
	if got := c.Get(t, "us-east", "after-wipe"); got != "v" {
		t.Fatal("write to the rebuilt eu-west did not replicate")
	}
}

func TestRefusesPeerWhoseClockRunsAhead(t *testing.T) {
	c := New(t, Options{MaxClockOffset: 500 * time.Millisecond})
	c.Stop("ap-south")
	c.SkewClock("ap-south", 3*time.Second)
	c.Start("ap-south")
	c.Put(t, "ap-south", "fast", "from the future")
	waitFor(t, 10*time.Second, "us-east to report ap-south's clock", func() bool {
		for _, p := range c.Node("us-east").Replicator().Status() {
			if p.Region == "ap-south" && p.ClockRefused {
				return true
			}
		}
		return false
	})
	if got := c.Get(t, "us-east", "fast"); got != "" {
		t.Fatalf("us-east applied a write from a clock 3s ahead: %q", got)
	}
	// Once the clock is fixed, its writes flow as soon as they are no
	// longer in the future.
	c.Stop("ap-south")
	c.SkewClock("ap-south", 0)
	c.Start("ap-south")
	c.AwaitConverged(t, 30*time.Second)
	if got := c.Get(t, "us-east", "fast"); got != "from the future" {
		t.Fatalf("after the clock was fixed us-east has %q", got)
	}
}

func TestNodeWithForeignCertificateRefusesToStart(t *testing.T) {
	c := New(t, Options{})
	c.Stop("ap-south")
	foreign, err := pki.GenerateCA("impostor", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, node, _ := c.Topo.Node("ap-south-1")
	certPEM, keyPEM, err := foreign.Issue("ap-south-1", []net.IP{net.ParseIP(node.Host)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Topo.TLS.Dir
	for name, data := range map[string][]byte{pki.NodeCertFile("ap-south-1"): certPEM, pki.NodeKeyFile("ap-south-1"): keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err = c.TryStart("ap-south")
	if err == nil || !strings.Contains(err.Error(), "not signed by the cluster CA") {
		t.Fatalf("got %v, want the node to refuse a certificate not signed by the cluster CA", err)
	}
	// The rest of the cluster keeps replicating.
	c.Put(t, "us-east", "real", "x")
	waitFor(t, 10*time.Second, "eu-west to get us-east's write", func() bool { return c.Get(t, "eu-west", "real") == "x" })
}

func TestMalformedPeerMessagesAreRefusedAndNodeKeepsServing(t *testing.T) {
	c := New(t, Options{})
	material, err := pki.LoadNode(c.Topo.TLS.Dir, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	_, target, _ := c.Topo.Node("us-east-1")
	cfg, err := pki.ClientConfig(material, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///"+target.PeerAddr(),
		grpc.WithTransportCredentials(credentials.NewTLS(cfg.Clone())),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(repl.Codec())))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	cases := []struct {
		name string
		msg  []byte
		want string
	}{
		{"garbage", []byte{0xde, 0xad, 0xbe, 0xef}, "protocol version 222"},
		{"future version", []byte{9, 1, 0}, "protocol version 9"},
		{"truncated", []byte{1, 1, 5, 'u'}, "corrupt encoding"},
		{"wrong kind", []byte{1, 3, 0}, "kind 3 where kind 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/meridian.peer.v1.Peer/Pull")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SendMsg(repl.RawFrame(tc.msg)); err != nil {
				t.Fatal(err)
			}
			err = s.RecvMsg(repl.RawFrame(nil))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want InvalidArgument mentioning %q", err, tc.want)
			}
		})
	}
	c.Put(t, "us-east", "still-serving", "yes")
	c.AwaitConverged(t, 15*time.Second)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
