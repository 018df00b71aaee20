// Package awsapi is what a region node serves on its AWS-compatible API
// port: access keys kept encrypted in the replicated store (with the
// bootstrap administrator key stored on first start), SigV4 authentication,
// and the DynamoDB protocol over the global tables engine. S3 and Secrets
// Manager join it here.
//
// The CLI hands New to the region node; nothing else imports it.
package awsapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/s3"
	"github.com/meridian-platform/meridian/internal/s3/s3api"
	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/tables"
	"github.com/meridian-platform/meridian/internal/tables/dynamoapi"
)

// Server is the API port of one region node.
type Server struct {
	http.Handler
	engine  *tables.Engine
	objects *s3.Engine
}

var _ region.API = (*Server)(nil)

// New builds the API of a region node. It must run before the node
// replicates anything: the tables engine indexes every write.
func New(ctx context.Context, env region.APIEnv) (region.API, error) {
	t := env.Topology
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	engine, err := tables.New(tables.Config{Region: env.Region, Regions: t.RegionNames(), Logger: log}, env.Store)
	if err != nil {
		return nil, err
	}
	if err := iam.EnsureMasterKey(t.Secrets.MasterKeyFile); err != nil {
		return nil, err
	}
	keys, err := iam.New(iam.Config{Store: env.Store, MasterKeyFile: t.Secrets.MasterKeyFile, Logger: log})
	if err != nil {
		return nil, err
	}
	var sign func(*http.Request) error // S3 replication's peer fetches
	if path := t.Secrets.BootstrapCredentials; path != "" {
		ak, err := keys.Bootstrap(ctx, path, iam.Profile)
		if err != nil {
			return nil, fmt.Errorf("storing the bootstrap access key from %s: %w", path, err)
		}
		sign = s3.SignWith(ak.ID, ak.Secret, "us-east-1")
		log.Info("bootstrap access key ready", "component", "awsapi", "access_key_id", ak.ID, "principal", ak.Principal)
	}
	verifier, err := sigv4.New(sigv4.Config{Lookup: keys.Lookup})
	if err != nil {
		return nil, err
	}
	h, err := dynamoapi.New(dynamoapi.Config{Engine: engine, Verifier: verifier, Region: env.Region, Logger: log})
	if err != nil {
		return nil, err
	}
	// S3: object bytes under the node's data directory, metadata in the
	// store; requests that are not DynamoDB's go to it.
	peers := map[string]string{}
	for _, ref := range t.Nodes() {
		if peers[ref.Region] == "" {
			peers[ref.Region] = "http://" + ref.Node.APIAddr()
		}
	}
	node := env.Node
	if node == "" {
		r, _ := t.Region(env.Region)
		node = r.Nodes[0].Name
	}
	var transport http.RoundTripper
	if env.Dial != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = env.Dial // byte fetches cross the same WAN as replication
		tr.MaxIdleConnsPerHost = s3.IdleConnsPerPeer
		transport = tr
	}
	objects, err := s3.New(s3.Config{Dir: filepath.Join(t.NodeDataDir(node), "s3"), Region: env.Region, Regions: t.RegionNames(),
		Peers: func() map[string]string { return peers }, Sign: sign, Transport: transport,
		Logger: log, Registerer: env.Registerer}, env.Store)
	if err != nil {
		return nil, err
	}
	env.Store.SetIndexer(s3.Indexers{engine, objects})
	s3h, err := s3api.New(s3api.Config{Engine: objects, Verifier: verifier, Region: env.Region, Logger: log})
	if err != nil {
		return nil, err
	}
	mux := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.Header.Get("X-Amz-Target"), dynamoapi.TargetPrefix) {
			h.ServeHTTP(w, req)
			return
		}
		s3h.ServeHTTP(w, req)
	})
	return &Server{Handler: mux, engine: engine, objects: objects}, nil
}

// Run runs the engines' background work (TTL expiry, index builds, S3
// replication).
func (s *Server) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.engine.Run(ctx) })
	g.Go(func() error { return s.objects.Run(ctx) })
	return g.Wait()
}
