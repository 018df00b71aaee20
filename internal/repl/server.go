package repl

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/store"
)

const serviceName = "meridian.peer.v1.Peer"

// Codec is the gRPC codec of the peer service; the peer server must be
// created with grpc.ForceServerCodecV2(repl.Codec()).
func Codec() rawCodec { return rawCodec{} }

// Register adds the peer service to a gRPC server.
func (r *Replicator) Register(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "Pull", Handler: r.handlePull, ServerStreams: true, ClientStreams: true},
			{StreamName: "Sync", Handler: r.handleSync, ServerStreams: true},
		},
		Metadata: "meridian/peer.v1",
	}, struct{}{})
}

// peerRegion checks that the caller presented a node certificate of the
// cluster and says which region it speaks for.
func (r *Replicator) peerRegion(ctx context.Context, claimed string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no peer information")
	}
	if r.cfg.NodeRegion != nil {
		ti, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok {
			return status.Error(codes.Unauthenticated, "peer connection is not mutual TLS")
		}
		name, err := pki.PeerName(ti.State)
		if err != nil {
			return status.Error(codes.Unauthenticated, err.Error())
		}
		region, ok := r.cfg.NodeRegion(name)
		if !ok {
			return status.Errorf(codes.PermissionDenied, "node %q is not in the topology", name)
		}
		if region != claimed {
			return status.Errorf(codes.PermissionDenied, "node %q of region %q claims to be region %q", name, region, claimed)
		}
	}
	return nil
}

func recvMsg(s grpc.ServerStream, m message) error {
	f := &frame{}
	if err := s.RecvMsg(f); err != nil {
		return err
	}
	if err := decode(f.b, m); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

func sendMsg(s grpc.ServerStream, m message) error { return s.SendMsg(&frame{b: encode(m)}) }

// handlePull serves one peer's replication stream: every record beyond the
// peer's version vector, then new records as they commit, with a heartbeat
// when idle. The peer acks what it applied on the same stream.
func (r *Replicator) handlePull(_ any, s grpc.ServerStream) error {
	ctx := s.Context()
	var req pullRequest
	if err := recvMsg(s, &req); err != nil {
		r.log.Warn("refused replication stream", "err", err)
		return err
	}
	if err := r.peerRegion(ctx, req.Region); err != nil {
		r.log.Warn("refused replication stream", "claimed_region", req.Region, "err", err)
		return err
	}
	r.noteAck(req.Region, req.VV)
	go func() {
		for {
			var a ack
			if err := recvMsg(s, &a); err != nil {
				return
			}
			r.noteAck(req.Region, a.VV)
		}
	}()
	want := map[string]bool{}
	for _, reg := range req.Regions {
		want[reg] = true
	}
	cursor := map[string]uint64{}
	for o, seq := range req.VV {
		cursor[o] = seq + 1
	}
	skip := map[string]bool{}
	heartbeat := time.NewTicker(r.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		changed := r.cfg.Store.Changed()
		mine := r.cfg.Store.VV()
		out := &batch{}
		var truncated []string
		size := 0
		origins := make([]string, 0, len(mine))
		for o := range mine {
			origins = append(origins, o)
		}
		sort.Strings(origins)
		for _, o := range origins {
			if skip[o] || (len(want) > 0 && !want[originRegion(o)]) {
				continue
			}
			from := max(cursor[o], 1)
			if from > mine[o] {
				continue
			}
			recs, err := r.cfg.Store.ReadLog(o, from, r.cfg.BatchRecords-len(out.Records), r.cfg.BatchBytes-size)
			if errors.Is(err, store.ErrTruncated) {
				skip[o] = true
				truncated = append(truncated, o)
				continue
			}
			if err != nil {
				return status.Errorf(codes.Internal, "reading change log: %v", err)
			}
			out.Records = append(out.Records, recs...)
			for _, rec := range recs {
				size += len(rec)
			}
			cursor[o] = from + uint64(len(recs))
			if len(out.Records) >= r.cfg.BatchRecords || size >= r.cfg.BatchBytes {
				break
			}
		}
		if len(out.Records) > 0 || len(truncated) > 0 {
			out.TS, out.VV, out.Truncated = r.cfg.Store.Clock().Now(), mine, truncated
			if err := sendMsg(s, out); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-heartbeat.C:
			if err := sendMsg(s, &batch{TS: r.cfg.Store.Clock().Now(), VV: mine}); err != nil {
				return err
			}
		}
	}
}

// handleSync serves anti-entropy: from one snapshot, the items of every
// bucket whose digest differs from the requester's, then the snapshot's
// version vector.
func (r *Replicator) handleSync(_ any, s grpc.ServerStream) error {
	var req syncRequest
	if err := recvMsg(s, &req); err != nil {
		return err
	}
	if err := r.peerRegion(s.Context(), req.Region); err != nil {
		return err
	}
	snap := r.cfg.Store.Snapshot()
	defer func() { _ = snap.Close() }()
	leaves, err := snap.Leaves()
	if err != nil {
		return status.Errorf(codes.Internal, "reading digests: %v", err)
	}
	root := store.RootOf(leaves)
	chunk := &syncChunk{}
	size := 0
	var differing uint64
	if !req.Force && !sameVV(snap.VV, req.VV) {
		chunk.Skipped = true
	} else if string(root[:]) != string(req.Root) {
		for b := range store.NumBuckets {
			if string(leaves[b][:]) == string(req.Leaves[b*16:(b+1)*16]) {
				continue
			}
			if err := s.Context().Err(); err != nil {
				return err
			}
			differing++
			err := snap.ScanBucket(uint16(b), func(it store.RawState) error {
				chunk.Items = append(chunk.Items, it)
				size += len(it.Key) + len(it.State)
				if size < r.cfg.BatchBytes {
					return nil
				}
				chunk.TS = r.cfg.Store.Clock().Now()
				if err := sendMsg(s, chunk); err != nil {
					return err
				}
				chunk, size = &syncChunk{}, 0
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	chunk.Done, chunk.VV, chunk.Buckets, chunk.TS = true, snap.VV, differing, r.cfg.Store.Clock().Now()
	return sendMsg(s, chunk)
}

func sameVV(a, b map[string]uint64) bool {
	for o, seq := range a {
		if b[o] != seq {
			return false
		}
	}
	for o, seq := range b {
		if a[o] != seq {
			return false
		}
	}
	return true
}

// originRegion is the region of an origin name ("us-east.1a2b3c4d").
func originRegion(origin string) string {
	if i := strings.LastIndexByte(origin, '.'); i > 0 {
		return origin[:i]
	}
	return origin
}
