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

	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/tables"
	"github.com/meridian-platform/meridian/internal/tables/dynamoapi"
)

// Server is the API port of one region node.
type Server struct {
	http.Handler
	engine *tables.Engine
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
	if path := t.Secrets.BootstrapCredentials; path != "" {
		ak, err := keys.Bootstrap(ctx, path, iam.Profile)
		if err != nil {
			return nil, fmt.Errorf("storing the bootstrap access key from %s: %w", path, err)
		}
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
	return &Server{Handler: h, engine: engine}, nil
}

// Run runs the engines' background work (TTL expiry, index builds).
func (s *Server) Run(ctx context.Context) error { return s.engine.Run(ctx) }
