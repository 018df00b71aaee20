package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/store"
)

// Config configures an Engine. Dir and Region are required; the zero value
// of every other field means its default.
type Config struct {
	// Dir holds object bytes, temporary bodies and multipart parts; it must
	// be on one filesystem (files are renamed into place). A node's data
	// directory plus "/s3" is the natural choice.
	Dir string
	// Region is the region this node serves.
	Region string
	// Regions are every region of the deployment: where versions replicate
	// when a bucket has no replication configuration (default: Region only).
	Regions []string
	// Peers returns, per region, the base URL of a node's API port there
	// ("http://127.0.1.2:4566"). Replication fetches object bytes from them.
	// Nil disables fetching: versions written elsewhere stay PENDING.
	Peers func() map[string]string
	// Sign signs a replication fetch (SigV4, service s3) with the cluster's
	// service credentials; SignWith builds one from an access key.
	Sign func(*http.Request) error
	// Transport carries replication fetches and proxied reads (default: a
	// clone of http.DefaultTransport). Tests route it through a simulated
	// network.
	Transport http.RoundTripper
	// Logger (default: discard).
	Logger *slog.Logger
	// Registerer receives replication metrics (default: none).
	Registerer prometheus.Registerer
	// Now is the clock for retry backoff and metrics (default time.Now).
	Now func() time.Time
	// MaxObjectSize bounds one PutObject or CopyObject (default 5 GiB, as S3).
	MaxObjectSize int64
	// MaxPartSize and MinPartSize bound multipart parts (defaults 5 GiB and
	// 5 MiB; only the last part may be smaller than MinPartSize).
	MaxPartSize int64
	MinPartSize int64
	// FetchConcurrency is how many versions replicate into this node at once
	// (default 4).
	FetchConcurrency int
	// RetryMin and RetryMax bound the backoff between fetch attempts of one
	// version (defaults 200ms and 30s).
	RetryMin, RetryMax time.Duration
	// PollInterval is how often the queues are scanned when nothing changes
	// (default 1s).
	PollInterval time.Duration
	// StallTimeout abandons a peer fetch or proxied read that receives
	// nothing for this long, so an unreachable region is skipped for another
	// (default 10s).
	StallTimeout time.Duration
	// MaxCorruptFetches is how many fetches of a version may fail its
	// checksum before the version is marked FAILED here (default 5).
	MaxCorruptFetches int
}

// IdleConnsPerPeer is how many idle connections a replication transport
// should keep per peer: more than FetchConcurrency's default, so
// concurrent fetches and proxied reads reuse connections instead of
// dialing (net/http keeps 2 by default).
const IdleConnsPerPeer = 16

// Defaults.
const (
	DefaultMaxObjectSize = 5 << 30
	DefaultMaxPartSize   = 5 << 30
	DefaultMinPartSize   = 5 << 20
	MaxKeyLength         = 1024
	MaxParts             = 10000
	MaxUserMetadata      = 2 << 10
)

// Validate says what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("s3: config: Dir (where object bytes are kept) is empty"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("s3: config: Region is empty"))
	}
	if len(c.Regions) > 0 && !slices.Contains(c.Regions, c.Region) {
		errs = append(errs, fmt.Errorf("s3: config: region %q is not among Regions %v", c.Region, c.Regions))
	}
	for name, v := range map[string]int64{"MaxObjectSize": c.MaxObjectSize, "MaxPartSize": c.MaxPartSize, "MinPartSize": c.MinPartSize,
		"FetchConcurrency": int64(c.FetchConcurrency), "RetryMin": int64(c.RetryMin), "RetryMax": int64(c.RetryMax),
		"PollInterval": int64(c.PollInterval), "StallTimeout": int64(c.StallTimeout), "MaxCorruptFetches": int64(c.MaxCorruptFetches)} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("s3: config: %s %d is negative", name, v))
		}
	}
	return errors.Join(errs...)
}

// Engine is one region node's object store. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	st    *store.Store
	log   *slog.Logger
	files files
	m     *metrics
	http  *http.Client

	mu       sync.Mutex
	inflight map[string]time.Time // version id → its Modified, while fetched
	retries  map[string]*retry
	kick     chan struct{}
	locks    uploadLocks
	buffers  sync.Pool // of *[copyBuffer]byte

	// The collector's queue. dead lists the ids the indexer marked as
	// garbage since the collector last looked, so it need not scan the
	// index (whose deleted entries it would step over one by one); rescan
	// says the index may hold garbage entries dead does not (at start-up,
	// after an overflow or a failure).
	// Replication's queue: the versions the indexer marked pending, so
	// that the pass after each batch need not scan the index (stepping
	// over the deleted entries of every version fetched since the last
	// flush). A full scan every PollInterval finds what the queue misses
	// and drops the hints of entries two scans in a row did not find.
	versions *versionMemo

	hintMu sync.Mutex
	hints  map[string]hint
	scans  uint64 // full scans started

	gcMu   sync.Mutex
	dead   []string
	rescan bool
}

// hint is a version queued for replication: its object and the full scan
// that last saw its entry (or was the latest when it was queued).
type hint struct {
	ref  store.Key
	seen uint64
}

// maxDead bounds the collector's in-memory queue; beyond it, it scans.
const maxDead = 10000

var _ store.Indexer = (*Engine)(nil)

// New opens the engine over st. It removes interrupted uploads' temporary
// files and the files of versions whose metadata never committed. The
// caller installs the Engine as (part of) the store's Indexer before the
// store takes replicated writes (see Indexers).
func New(cfg Config, st *store.Store) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("s3: no store")
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = []string{cfg.Region}
	}
	cfg.Regions = slices.Clone(cfg.Regions)
	slices.Sort(cfg.Regions)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	setDefault(&cfg.MaxObjectSize, DefaultMaxObjectSize)
	setDefault(&cfg.MaxPartSize, DefaultMaxPartSize)
	setDefault(&cfg.MinPartSize, DefaultMinPartSize)
	setDefault(&cfg.FetchConcurrency, 4)
	setDefault(&cfg.RetryMin, 200*time.Millisecond)
	setDefault(&cfg.RetryMax, 30*time.Second)
	setDefault(&cfg.PollInterval, time.Second)
	setDefault(&cfg.MaxCorruptFetches, 5)
	setDefault(&cfg.StallTimeout, 10*time.Second)
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.MaxIdleConnsPerHost = IdleConnsPerPeer
		cfg.Transport = t
	}
	e := &Engine{
		cfg:      cfg,
		st:       st,
		log:      cfg.Logger.With("component", "s3", "region", cfg.Region),
		files:    newFiles(cfg.Dir),
		versions: &versionMemo{},
		m:        newMetrics(cfg.Registerer),
		http:     &http.Client{Transport: cfg.Transport},
		inflight: map[string]time.Time{},
		retries:  map[string]*retry{},
		kick:     make(chan struct{}, 1),
		rescan:   true,
	}
	if cfg.Peers != nil && cfg.Sign == nil {
		e.log.Warn("replication fetches are not signed, so peers will refuse them; give the engine the cluster's service credentials (Sign)")
	}
	if err := e.files.init(); err != nil {
		return nil, err
	}
	if err := e.recover(); err != nil {
		return nil, err
	}
	return e, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Region is the region the engine serves.
func (e *Engine) Region() string { return e.cfg.Region }

// recover finishes or undoes what a crash interrupted. Every file under
// tmp/ is temporary but the staged bytes of a committed version,
// tmp/<id>.v with a live version <id>, which are moved into place: their
// metadata committed after their bytes and name were durable, and the
// move need not be. The others (bodies being received, files kept for
// reuse, bytes whose metadata never committed, and the body-* and free-*
// files of earlier layouts) are deleted.
func (e *Engine) recover() error {
	dir := e.files.tmpDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %q: %w", dir, err)
	}
	removed := 0
	for _, ent := range ents {
		name := ent.Name()
		path := filepath.Join(dir, name)
		id, staged := strings.CutSuffix(name, stagedSuffix)
		if staged && e.committed(id) {
			if err := e.files.promote(id); err != nil {
				return fmt.Errorf("moving committed object bytes %s into place: %w", id, err)
			}
			e.log.Info("moved the bytes of a committed version into place", "id", id)
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("removing an interrupted upload: %w", err)
		}
		removed++
	}
	if removed > 0 {
		e.log.Info("removed temporary files: interrupted uploads and files kept for reuse", "files", removed)
	}
	return nil
}

// committed reports whether a live version with internal id exists.
func (e *Engine) committed(id string) bool {
	ref, err := e.st.GetIndex(versionKey(id))
	if err != nil || ref == nil {
		return false
	}
	k, ok := parseRef(ref)
	if !ok {
		return false
	}
	st, err := e.st.Get(k)
	if err != nil {
		return false
	}
	_, live := allVersions(e.versions, st)
	return live[id]
}

// Indexers runs several store indexers in turn; the store has one slot, the
// table and object engines both need it.
type Indexers []store.Indexer

// Index implements store.Indexer.
func (ix Indexers) Index(k store.Key, old, cur *store.State, w store.IndexWriter) {
	for _, i := range ix {
		if i != nil {
			i.Index(k, old, cur, w)
		}
	}
}

// Bucket describes a bucket.
type Bucket struct {
	Name        string
	ID          string
	Created     time.Time
	Region      string
	Versioning  string // "", "Enabled" or "Suspended"
	Replication *ReplicationConfig
}

// ValidBucketName reports why name is not a valid bucket name ("" when it is).
func ValidBucketName(name string) string {
	if len(name) < 3 || len(name) > 63 {
		return "Bucket names must be between 3 and 63 characters long."
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return "Bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-)."
		}
	}
	isAlnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return "Bucket names must begin and end with a letter or number."
	}
	if strings.Contains(name, "..") {
		return "Bucket names must not contain two adjacent periods."
	}
	if net.ParseIP(name) != nil {
		return "Bucket names must not be formatted as an IP address."
	}
	if strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-") || strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3") {
		return "Bucket names must not start with xn-- or sthree- nor end with -s3alias or --ol-s3."
	}
	return ""
}

func checkBucketName(name string) error {
	if msg := ValidBucketName(name); msg != "" {
		return &Error{Code: CodeInvalidBucketName, Message: "The specified bucket is not valid. " + msg, Bucket: name}
	}
	return nil
}

// bucketFrom decodes a bucket from the states of its three records (nil
// when it does not exist).
func bucketFrom(name string, main, ver, repl *store.State) *Bucket {
	if !main.Exists() {
		return nil
	}
	var d bucketDoc
	if err := json.Unmarshal(main.Base.Doc, &d); err != nil || d.ID == "" {
		return nil
	}
	b := &Bucket{Name: name, ID: d.ID, Created: time.Unix(0, d.Created).UTC(), Region: d.Region}
	if ver.Exists() {
		var v versioningDoc
		if json.Unmarshal(ver.Base.Doc, &v) == nil && v.ID == d.ID {
			b.Versioning = v.Status
		}
	}
	if repl.Exists() {
		var r replicationDoc
		if json.Unmarshal(repl.Base.Doc, &r) == nil && r.ID == d.ID {
			b.Replication = r.Config
		}
	}
	return b
}

func bucketKeys(name string) []store.Key {
	return []store.Key{bucketKey(name), versioningKey(name), replicationKey(name)}
}

// Bucket returns the named bucket or a NoSuchBucket error.
func (e *Engine) Bucket(name string) (*Bucket, error) {
	if msg := ValidBucketName(name); msg != "" {
		return nil, noSuchBucket(name)
	}
	var states [3]*store.State
	for i, k := range bucketKeys(name) {
		st, err := e.st.Get(k)
		if err != nil {
			return nil, err
		}
		states[i] = st
	}
	b := bucketFrom(name, states[0], states[1], states[2])
	if b == nil {
		return nil, noSuchBucket(name)
	}
	return b, nil
}

// bucketID returns the id of the named bucket, or a NoSuchBucket error,
// reading only the bucket's main record. It serves the writes that commit
// through commitVersion, which read all three of the bucket's records in
// the commit and refuse it if the bucket is gone or was recreated, so the
// versioning and replication settings they act on are the commit's own;
// and the reads that need nothing but the id.
func (e *Engine) bucketID(name string) (string, error) {
	if msg := ValidBucketName(name); msg != "" {
		return "", noSuchBucket(name)
	}
	st, err := e.st.Get(bucketKey(name))
	if err != nil {
		return "", err
	}
	b := bucketFrom(name, st, nil, nil)
	if b == nil {
		return "", noSuchBucket(name)
	}
	return b.ID, nil
}

// CreateBucket creates a bucket, in every region.
func (e *Engine) CreateBucket(ctx context.Context, name string) error {
	if err := checkBucketName(name); err != nil {
		return err
	}
	doc, _ := json.Marshal(bucketDoc{ID: newID(16), Created: e.st.Clock().Now().WallNanos, Region: e.cfg.Region})
	_, err := e.st.Update(ctx, []store.Key{bucketKey(name)}, func(states []*store.State) ([]store.Mutation, error) {
		if states[0].Exists() {
			return nil, &Error{Code: CodeBucketAlreadyOwnedByYou, Message: "Your previous request to create the named bucket succeeded and you already own it.", Bucket: name}
		}
		return []store.Mutation{{Key: bucketKey(name), Put: doc}}, nil
	})
	return err
}

// ListBuckets lists every bucket, by name.
func (e *Engine) ListBuckets() ([]*Bucket, error) {
	var names []string
	err := e.st.ScanSpace(bucketSpace, 0, 0, nil, func(k store.Key, st *store.State) bool {
		if len(k.Range) == 0 && st.Exists() {
			names = append(names, string(k.Hash))
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]*Bucket, 0, len(names))
	for _, n := range names {
		b, err := e.Bucket(n)
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// DeleteBucket deletes an empty bucket (no versions and no delete markers
// in this region's view) in every region.
func (e *Engine) DeleteBucket(ctx context.Context, name string) error {
	b, err := e.Bucket(name)
	if err != nil {
		return err
	}
	empty := true
	if err := e.scanListing(b.ID, "", func(string, []byte) bool { empty = false; return false }); err != nil {
		return err
	}
	if !empty {
		return &Error{Code: CodeBucketNotEmpty, Message: "The bucket you tried to delete is not empty. You must delete all versions in the bucket.", Bucket: name}
	}
	if ups, err := e.uploadsOf(b.ID); err == nil {
		for _, u := range ups {
			_ = e.removeUpload(u.ID)
		}
	}
	_, err = e.st.Update(ctx, []store.Key{bucketKey(name)}, func(states []*store.State) ([]store.Mutation, error) {
		if cur := bucketFrom(name, states[0], nil, nil); cur == nil || cur.ID != b.ID {
			return nil, noSuchBucket(name)
		}
		return []store.Mutation{{Key: bucketKey(name), Delete: true}}, nil
	})
	return err
}

// PutBucketVersioning sets a bucket's versioning to Enabled or Suspended.
func (e *Engine) PutBucketVersioning(ctx context.Context, name, status string) error {
	if status != "Enabled" && status != "Suspended" {
		return errorf(CodeMalformedXML, "The versioning Status must be Enabled or Suspended, not %q.", status)
	}
	b, err := e.Bucket(name)
	if err != nil {
		return err
	}
	doc, _ := json.Marshal(versioningDoc{ID: b.ID, Status: status})
	_, err = e.st.Apply(ctx, store.Mutation{Key: versioningKey(name), Put: doc})
	return err
}

// PutBucketReplication replaces a bucket's replication configuration; it
// applies to versions written from then on.
func (e *Engine) PutBucketReplication(ctx context.Context, name string, c *ReplicationConfig) error {
	b, err := e.Bucket(name)
	if err != nil {
		return err
	}
	if err := c.validate(name, e.cfg.Regions); err != nil {
		return err
	}
	doc, _ := json.Marshal(replicationDoc{ID: b.ID, Config: c})
	_, err = e.st.Apply(ctx, store.Mutation{Key: replicationKey(name), Put: doc})
	return err
}

// DeleteBucketReplication removes a bucket's replication configuration, so
// new versions replicate to every region again.
func (e *Engine) DeleteBucketReplication(ctx context.Context, name string) error {
	if _, err := e.Bucket(name); err != nil {
		return err
	}
	_, err := e.st.Apply(ctx, store.Mutation{Key: replicationKey(name), Delete: true})
	return err
}
