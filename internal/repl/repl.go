// Package repl replicates a region's store to and from its peers over the
// peer port: pull streams keyed by version vectors (a region asks each peer
// for every record beyond what it has applied, and the peer streams new
// records as they commit), anti-entropy by Merkle digests that repairs any
// divergence the log cannot (a region that fell behind log retention, or lost
// its log), log truncation once every region has applied a record or it is
// past retention, and per-peer lag. Transport is gRPC over mutual TLS with a
// versioned binary encoding of its own.
//
// Imported by the region node; it imports the store.
package repl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meridian-platform/meridian/internal/hlc"
	"github.com/meridian-platform/meridian/internal/store"
)

// Peer is another region's node.
type Peer struct {
	Region string
	// Node is the node name its certificate carries.
	Node string
	// Addr is its peer port, host:port.
	Addr string
}

// Config configures a Replicator. Zero values mean the defaults.
type Config struct {
	Store *store.Store
	// Region is this node's region.
	Region string
	Peers  []Peer
	// Credentials returns the transport credentials for dialing a peer
	// (mutual TLS in production). Nil means plaintext, for tests only.
	Credentials func(p Peer) (credentials.TransportCredentials, error)
	// NodeRegion maps a verified peer certificate's node name to its region;
	// streams from unknown nodes or nodes claiming another region are refused.
	// Nil disables the check (plaintext tests).
	NodeRegion func(node string) (string, bool)
	// Dial opens peer connections (default: TCP). The test harness and
	// `up --wan` inject simulated links here.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// BatchRecords and BatchBytes bound one streamed batch (512, 1 MiB).
	BatchRecords int
	BatchBytes   int
	// Heartbeat is the idle stream heartbeat; a stream silent for three
	// heartbeats is considered dead (1s).
	Heartbeat time.Duration
	// AntiEntropyInterval is how often digests are compared with each peer (10s).
	AntiEntropyInterval time.Duration
	// RetentionRecords and Retention bound the change log per origin even when
	// some peer has not applied it (1,000,000 records, 24h).
	RetentionRecords uint64
	Retention        time.Duration
	// TruncateInterval is how often the log is truncated (1s: records
	// deleted while still in the memtable never reach a compaction).
	TruncateInterval time.Duration
	Logger           *slog.Logger
	Registerer       prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.BatchRecords == 0 {
		c.BatchRecords = 512
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.AntiEntropyInterval == 0 {
		c.AntiEntropyInterval = 10 * time.Second
	}
	if c.RetentionRecords == 0 {
		c.RetentionRecords = 1_000_000
	}
	if c.Retention == 0 {
		c.Retention = 24 * time.Hour
	}
	if c.TruncateInterval == 0 {
		c.TruncateInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports what is wrong with the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("replication: no store"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("replication: region is empty"))
	}
	seen := map[string]bool{c.Region: true}
	for _, p := range c.Peers {
		if seen[p.Region] {
			errs = append(errs, fmt.Errorf("replication: region %q listed twice or as a peer of itself", p.Region))
		}
		seen[p.Region] = true
		if p.Addr == "" {
			errs = append(errs, fmt.Errorf("replication: peer %q has no address", p.Region))
		}
	}
	if c.BatchRecords < 0 || c.BatchBytes < 0 || c.Heartbeat < 0 || c.AntiEntropyInterval < 0 || c.Retention < 0 || c.TruncateInterval < 0 {
		errs = append(errs, errors.New("replication: negative batch size or interval"))
	}
	return errors.Join(errs...)
}

// PeerStatus is what this node knows of replication from one peer region.
type PeerStatus struct {
	Region       string    `json:"region"`
	Connected    bool      `json:"connected"`
	LagSeconds   float64   `json:"lag_seconds"`
	LagRecords   uint64    `json:"lag_records"`
	LastContact  time.Time `json:"last_contact,omitzero"`
	ClockRefused bool      `json:"clock_refused,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
}

type peerState struct {
	Peer
	conn *grpc.ClientConn

	mu            sync.Mutex
	connected     bool
	lastContact   time.Time
	downSince     time.Time
	clockRefused  bool
	lastErr       string
	lastApplied   hlc.Timestamp
	behindSince   time.Time
	lagSeconds    float64
	lagRecords    uint64
	syncRequested chan struct{}
}

// Replicator runs replication for one node.
type Replicator struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	peers []*peerState

	mu    sync.Mutex
	acks  map[string]map[string]uint64 // peer region → its applied vector
	heads map[string]uint64            // highest sequence heard of, per origin
}

// New builds a Replicator; Run starts it.
func New(cfg Config) (*Replicator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replicator{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "repl"),
		m:     newMetrics(cfg.Registerer),
		acks:  map[string]map[string]uint64{},
		heads: map[string]uint64{},
	}
	now := time.Now()
	for _, p := range cfg.Peers {
		r.peers = append(r.peers, &peerState{Peer: p, downSince: now, syncRequested: make(chan struct{}, 1)})
	}
	return r, nil
}

// Run replicates until ctx is cancelled: one pull loop and one anti-entropy
// loop per peer, and the truncation and lag loops.
func (r *Replicator) Run(ctx context.Context) error {
	for _, p := range r.peers {
		opts := []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})),
			// Redial a recovered peer within seconds, not gRPC's default of
			// up to two minutes.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
				MinConnectTimeout: 2 * time.Second,
			}),
		}
		if r.cfg.Dial != nil {
			opts = append(opts, grpc.WithContextDialer(r.cfg.Dial))
		}
		if r.cfg.Credentials != nil {
			creds, err := r.cfg.Credentials(p.Peer)
			if err != nil {
				return fmt.Errorf("credentials for peer %s: %w", p.Region, err)
			}
			opts = append(opts, grpc.WithTransportCredentials(creds))
		} else {
			opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
		}
		conn, err := grpc.NewClient("passthrough:///"+p.Addr, opts...)
		if err != nil {
			return fmt.Errorf("peer %s at %s: %w", p.Region, p.Addr, err)
		}
		p.conn = conn
	}
	defer func() {
		for _, p := range r.peers {
			if p.conn != nil {
				_ = p.conn.Close()
			}
		}
	}()
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range r.peers {
		g.Go(func() error { r.pullLoop(ctx, p); return nil })
		g.Go(func() error { r.syncLoop(ctx, p); return nil })
	}
	g.Go(func() error { r.truncateLoop(ctx); return nil })
	g.Go(func() error { r.lagLoop(ctx); return nil })
	<-ctx.Done()
	_ = g.Wait()
	return nil
}

// Status reports every peer, sorted by region.
func (r *Replicator) Status() []PeerStatus {
	out := make([]PeerStatus, 0, len(r.peers))
	for _, p := range r.peers {
		p.mu.Lock()
		st := PeerStatus{
			Region:       p.Region,
			Connected:    p.connected,
			LagSeconds:   p.lagSeconds,
			LagRecords:   p.lagRecords,
			LastContact:  p.lastContact,
			ClockRefused: p.clockRefused,
			LastError:    p.lastErr,
		}
		p.mu.Unlock()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Region < out[j].Region })
	return out
}

// SyncNow asks every peer loop to run anti-entropy at once.
func (r *Replicator) SyncNow() {
	for _, p := range r.peers {
		select {
		case p.syncRequested <- struct{}{}:
		default:
		}
	}
}

func (r *Replicator) noteAck(region string, vv map[string]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks[region] = vv
	r.noteHeadsLocked(vv)
}

func (r *Replicator) noteHeadsLocked(vv map[string]uint64) {
	for o, seq := range vv {
		if seq > r.heads[o] {
			r.heads[o] = seq
		}
	}
}

// directHealthy reports whether this node hears from p directly: connected,
// or down for less than two heartbeats.
func (p *peerState) directHealthy(now time.Time, hb time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.connected {
		return now.Sub(p.lastContact) < 3*hb
	}
	return now.Sub(p.downSince) < 2*hb
}

// wantedRegions is what to pull from p: its own region's records, and those
// of every region this node cannot currently hear from directly.
func (r *Replicator) wantedRegions(p *peerState) []string {
	now := time.Now()
	want := []string{p.Region}
	for _, q := range r.peers {
		if q != p && !q.directHealthy(now, r.cfg.Heartbeat) {
			want = append(want, q.Region)
		}
	}
	sort.Strings(want)
	return want
}

func (p *peerState) setDown(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.connected {
		p.downSince = time.Now()
	}
	p.connected = false
	if err != nil {
		p.lastErr = err.Error()
	}
}

var errResubscribe = errors.New("pulling from a new set of regions")

func (r *Replicator) pullLoop(ctx context.Context, p *peerState) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := r.pull(ctx, p)
		p.setDown(err)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errResubscribe) {
			continue
		}
		r.log.Debug("replication stream ended", "peer", p.Region, "err", err)
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// pull runs one replication stream from p until it fails or the set of
// regions to pull changes.
func (r *Replicator) pull(ctx context.Context, p *peerState) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/"+serviceName+"/Pull")
	if err != nil {
		return err
	}
	want := r.wantedRegions(p)
	if err := stream.SendMsg(&frame{b: encode(&pullRequest{Region: r.cfg.Region, VV: r.cfg.Store.VV(), Regions: want})}); err != nil {
		return err
	}
	lastRecv := make(chan time.Time, 1)
	lastRecv <- time.Now()
	// The watchdog acks what was applied, ends a stream that has gone
	// silent (a black-holed link), and resubscribes when the regions to
	// pull change.
	watchErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(r.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			last := <-lastRecv
			lastRecv <- last
			if time.Since(last) > 3*r.cfg.Heartbeat {
				watchErr <- fmt.Errorf("no message from %s for %s", p.Region, time.Since(last).Round(time.Millisecond))
				cancel()
				return
			}
			if !slices.Equal(want, r.wantedRegions(p)) {
				watchErr <- errResubscribe
				cancel()
				return
			}
			if err := stream.SendMsg(&frame{b: encode(&ack{VV: r.cfg.Store.VV()})}); err != nil {
				return
			}
		}
	}()
	// The receiver decodes and checks batches as they arrive; this loop
	// applies everything that has queued up since its last commit in one
	// go, so a burst costs one commit, not one per message.
	in := make(chan *batch, 64)
	recvErr := make(chan error, 1)
	go func() {
		for {
			b, err := r.receive(stream, p, want, lastRecv)
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case in <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var first *batch
		select {
		case first = <-in:
		case <-ctx.Done():
			select {
			case werr := <-watchErr:
				return werr
			default:
			}
			return ctx.Err()
		case err := <-recvErr:
			select {
			case werr := <-watchErr:
				return werr
			default:
			}
			return err
		}
		records := first.Records
		truncated := first.Truncated
	drain:
		for len(records) < maxApplyRecords && len(truncated) == 0 {
			select {
			case b := <-in:
				records = append(records, b.Records...)
				truncated = b.Truncated
			default:
				break drain
			}
		}
		if len(records) > 0 {
			if err := r.applyBatch(ctx, p, records); err != nil {
				return err
			}
		}
		if len(truncated) > 0 {
			r.log.Warn("peer no longer has records this node needs; repairing by anti-entropy",
				"peer", p.Region, "origins", truncated)
			if err := r.sync(ctx, p); err != nil {
				return err
			}
			return errResubscribe
		}
	}
}

// maxApplyRecords bounds the records applied in one commit.
const maxApplyRecords = 4096

// receive reads and checks one batch: its encoding, and the sender's clock.
func (r *Replicator) receive(stream grpc.ClientStream, p *peerState, want []string, lastRecv chan time.Time) (*batch, error) {
	f := &frame{}
	if err := stream.RecvMsg(f); err != nil {
		return nil, err
	}
	now := time.Now()
	<-lastRecv
	lastRecv <- now
	var b batch
	if err := decode(f.b, &b); err != nil {
		r.log.Error("malformed replication message; reconnecting", "peer", p.Region, "err", err)
		r.m.malformed.WithLabelValues(p.Region).Inc()
		return nil, err
	}
	if err := r.cfg.Store.Clock().Update(b.TS); err != nil {
		p.mu.Lock()
		first := !p.clockRefused
		p.clockRefused = true
		p.mu.Unlock()
		if first {
			r.log.Error("refusing peer whose clock runs ahead", "peer", p.Region, "err", err)
		}
		r.m.clockRefusals.WithLabelValues(p.Region).Inc()
		return nil, fmt.Errorf("refusing %s: %w", p.Region, err)
	}
	p.mu.Lock()
	if !p.connected || p.clockRefused {
		r.log.Info("replicating from peer", "peer", p.Region, "regions", want)
	}
	p.connected, p.clockRefused, p.lastContact, p.lastErr = true, false, now, ""
	p.mu.Unlock()
	r.mu.Lock()
	r.noteHeadsLocked(b.VV)
	r.mu.Unlock()
	return &b, nil
}

func (r *Replicator) applyBatch(ctx context.Context, p *peerState, raw [][]byte) error {
	recs := make([]*store.Record, 0, len(raw))
	for _, b := range raw {
		rec, err := store.UnmarshalRecord(b)
		if err != nil {
			r.log.Error("corrupt change record from peer; reconnecting", "peer", p.Region, "err", err)
			r.m.malformed.WithLabelValues(p.Region).Inc()
			return err
		}
		recs = append(recs, rec)
	}
	if _, err := r.cfg.Store.ApplyRemote(ctx, recs); err != nil {
		var gap *store.GapError
		if errors.As(err, &gap) {
			r.log.Warn("gap in replicated log; repairing by anti-entropy", "peer", p.Region, "err", err)
			r.requestSync(p)
		}
		return fmt.Errorf("applying records from %s: %w", p.Region, err)
	}
	now := time.Now()
	r.m.received.WithLabelValues(p.Region).Add(float64(len(recs)))
	// Records come in runs of one origin: look its metric and latest
	// timestamp up once a run.
	var (
		origin string
		delay  prometheus.Observer
		latest = map[string]hlc.Timestamp{}
	)
	for _, rec := range recs {
		region := originRegion(rec.Origin)
		if rec.Origin != origin || delay == nil {
			origin, delay = rec.Origin, r.m.applyDelay.WithLabelValues(region)
		}
		delay.Observe(now.Sub(rec.TS.Time()).Seconds())
		if l := latest[region]; l.Less(rec.TS) {
			latest[region] = rec.TS
		}
	}
	for _, q := range r.peers {
		if ts, ok := latest[q.Region]; ok {
			q.mu.Lock()
			if q.lastApplied.Less(ts) {
				q.lastApplied = ts
			}
			q.mu.Unlock()
		}
	}
	return nil
}

func (r *Replicator) requestSync(p *peerState) {
	select {
	case p.syncRequested <- struct{}{}:
	default:
	}
}

// maxSkippedSyncs is how many anti-entropy rounds may be skipped because
// writes were in flight before one compares regardless.
const maxSkippedSyncs = 5

func (r *Replicator) syncLoop(ctx context.Context, p *peerState) {
	t := time.NewTicker(r.cfg.AntiEntropyInterval)
	defer t.Stop()
	skipped := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.syncRequested:
		}
		p.mu.Lock()
		refused := p.clockRefused
		p.mu.Unlock()
		if refused {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*r.cfg.AntiEntropyInterval+30*time.Second)
		force := skipped >= maxSkippedSyncs
		done, err := r.syncOnce(sctx, p, force)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Debug("anti-entropy failed", "peer", p.Region, "err", err)
		case done:
			skipped = 0
		default:
			skipped++
		}
	}
}

// sync runs anti-entropy with p now, whatever is in flight.
func (r *Replicator) sync(ctx context.Context, p *peerState) error {
	_, err := r.syncOnce(ctx, p, true)
	return err
}

// syncOnce compares digests with p and merges every item of the buckets that
// differ, from one snapshot of p, then takes p's version vector at that
// snapshot as applied. Unless force is set, p compares only if it has
// applied exactly what this node has; done is false when it did not.
func (r *Replicator) syncOnce(ctx context.Context, p *peerState, force bool) (done bool, err error) {
	start := time.Now()
	leaves := r.cfg.Store.Leaves()
	root := store.RootOf(&leaves)
	flat := make([]byte, 0, store.NumBuckets*16)
	for i := range leaves {
		flat = append(flat, leaves[i][:]...)
	}
	stream, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/"+serviceName+"/Sync")
	if err != nil {
		return false, err
	}
	req := &syncRequest{Region: r.cfg.Region, Root: root[:], Leaves: flat, VV: r.cfg.Store.VV(), Force: force}
	if err := stream.SendMsg(&frame{b: encode(req)}); err != nil {
		return false, err
	}
	if err := stream.CloseSend(); err != nil {
		return false, err
	}
	repaired := 0
	for {
		f := &frame{}
		if err := stream.RecvMsg(f); err != nil {
			r.m.syncs.WithLabelValues(p.Region, "error").Inc()
			return false, err
		}
		var c syncChunk
		if err := decode(f.b, &c); err != nil {
			r.m.syncs.WithLabelValues(p.Region, "error").Inc()
			return false, err
		}
		if err := r.cfg.Store.Clock().Update(c.TS); err != nil {
			r.m.clockRefusals.WithLabelValues(p.Region).Inc()
			r.m.syncs.WithLabelValues(p.Region, "error").Inc()
			return false, fmt.Errorf("refusing repair from %s: %w", p.Region, err)
		}
		n, err := r.cfg.Store.MergeStates(ctx, c.Items)
		if err != nil {
			r.m.syncs.WithLabelValues(p.Region, "error").Inc()
			return false, fmt.Errorf("merging repair from %s: %w", p.Region, err)
		}
		repaired += n
		if c.Done && c.Skipped {
			r.m.syncs.WithLabelValues(p.Region, "skipped").Inc()
			return false, nil
		}
		if c.Done {
			if err := r.cfg.Store.AdvanceVV(ctx, c.VV); err != nil {
				return false, err
			}
			r.m.syncs.WithLabelValues(p.Region, "ok").Inc()
			r.m.repaired.WithLabelValues(p.Region).Add(float64(repaired))
			if repaired > 0 {
				r.log.Info("anti-entropy repaired items", "peer", p.Region, "items", repaired,
					"buckets", c.Buckets, "took", time.Since(start).Round(time.Millisecond))
			}
			return true, nil
		}
	}
}

// truncateLoop drops log records every region has applied, and records past
// retention even if some region has not (it will be repaired by
// anti-entropy).
func (r *Replicator) truncateLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.TruncateInterval)
	defer t.Stop()
	done := map[string]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		vv := r.cfg.Store.VV()
		r.mu.Lock()
		acks := make([]map[string]uint64, 0, len(r.peers))
		for _, p := range r.peers {
			if a, ok := r.acks[p.Region]; ok {
				acks = append(acks, a)
			}
		}
		allAcked := len(acks) == len(r.peers)
		r.mu.Unlock()
		for o, applied := range vv {
			var cut uint64
			if allAcked {
				cut = applied
				for _, a := range acks {
					cut = min(cut, a[o])
				}
			}
			if applied > r.cfg.RetentionRecords {
				cut = max(cut, applied-r.cfg.RetentionRecords)
			}
			if old, err := r.cfg.Store.LogSeqBefore(o, time.Now().Add(-r.cfg.Retention)); err == nil {
				cut = max(cut, old)
			}
			cut = min(cut, applied)
			if cut > done[o] {
				if err := r.cfg.Store.TruncateLog(o, cut); err != nil {
					r.log.Error("truncating change log", "origin", o, "err", err)
					continue
				}
				done[o] = cut
			}
		}
	}
}

// lagLoop computes per-peer lag: records heard of but not applied, and for
// how long the oldest of them has waited.
func (r *Replicator) lagLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.updateLag(time.Now())
	}
}

func (r *Replicator) updateLag(now time.Time) {
	vv := r.cfg.Store.VV()
	r.mu.Lock()
	behind := map[string]uint64{}
	for o, head := range r.heads {
		if head > vv[o] {
			behind[originRegion(o)] += head - vv[o]
		}
	}
	r.mu.Unlock()
	for _, p := range r.peers {
		p.mu.Lock()
		p.lagRecords = behind[p.Region]
		if p.lagRecords == 0 {
			p.behindSince = time.Time{}
			p.lagSeconds = 0
		} else {
			if p.behindSince.IsZero() {
				p.behindSince = now
			}
			since := p.behindSince
			if last := p.lastApplied.Time(); !p.lastApplied.IsZero() && last.After(since) {
				since = last
			}
			p.lagSeconds = max(0, now.Sub(since).Seconds())
		}
		r.m.lagRecords.WithLabelValues(p.Region).Set(float64(p.lagRecords))
		r.m.lagSeconds.WithLabelValues(p.Region).Set(p.lagSeconds)
		connected := 0.0
		if p.connected {
			connected = 1
		}
		r.m.connected.WithLabelValues(p.Region).Set(connected)
		p.mu.Unlock()
	}
}
