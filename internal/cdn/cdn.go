// Package cdn is Meridian's edge cache (CloudFront's part): an http.Handler
// that answers requests for configured distributions, chosen by Host, from
// an in-memory cache in front of ordered origins (S3 buckets, regional load
// balancers), failing over from an origin that cannot be reached or answers
// 5xx to the next.
//
// Caching follows RFC 9111 for a shared cache:
//
//   - Only GET and HEAD are served from the cache. A HEAD miss is fetched
//     from the origin as a GET so that the object is stored. Other methods
//     are answered 405 unless the distribution sets AllowWrites; then they
//     go to the first origin (no failover: they may not be idempotent) and,
//     when they succeed (status below 400), invalidate every variant of
//     their URL.
//   - Paths with "." or ".." segments are answered 400, so that no request
//     climbs out of an origin's path prefix.
//   - The cache key is the host name (lowercased, port dropped), the path
//     as sent, the query with its parameters sorted by name, and the values
//     of the request headers named by the stored response's Vary.
//   - Freshness: s-maxage, else max-age, else Expires minus Date, clamped
//     to the distribution's [MinTTL, MaxTTL]; without any of them the
//     distribution's DefaultTTL (24h), or 10s for errors (404, 405, 410,
//     414, 501). Age is the origin's Age header plus the time since the
//     response arrived; the origin's Date is not trusted for it.
//   - Stored: 200, 203, 204, 300, 301, 308, 404, 405, 410, 414 and 501
//     responses, and any other status from 200 to 499 but 206 and 304 with
//     explicit freshness. Not stored: no-store, private, Vary: *,
//     Set-Cookie, 5xx (but 501), and responses to requests bearing
//     Authorization unless public, s-maxage or must-revalidate allow it
//     (RFC 9111 §3.5). no-cache responses are stored and revalidated before
//     every use.
//   - A stale entry is revalidated with If-None-Match / If-Modified-Since
//     from its ETag / Last-Modified; a 304 refreshes it. Within its
//     stale-while-revalidate window it is served at once while one
//     background request refreshes it. Within its stale-if-error window it
//     is served when every origin fails or answers 5xx. must-revalidate,
//     proxy-revalidate, s-maxage and no-cache forbid serving stale.
//   - The client's Cache-Control and Pragma are ignored, as CloudFront does,
//     so clients cannot force origin fetches.
//   - Client conditionals (If-None-Match, If-Modified-Since, If-Range) and
//     Range requests on a 200 are answered from the entry: 304, 206 with
//     Content-Range, 416 when unsatisfiable.
//   - Concurrent misses for one key collapse into one origin fetch whose
//     response the waiting requests share when it may be shared; they fetch
//     on their own otherwise.
//   - A body up to MaxObjectBytes is read whole before its first byte goes
//     to the client (and to the requests collapsed onto the fetch), which
//     lets a body that breaks off fail over to the next origin. Bodies above
//     MaxObjectBytes are streamed through uncached; a Range or conditional
//     request for one is passed to the origin as sent.
//
// Every response for a distribution carries X-Cache with one of four
// values: Hit (a fresh entry, or a request that waited for another's fetch
// of the object), Miss (anything else: fetched from an origin, including
// responses that cannot be cached and methods other than GET and HEAD, and
// the errors the cache answers itself — 400 for unsafe paths, 405 for
// methods a distribution does not allow, 502/504 when no origin answers),
// Stale (served stale under stale-while-revalidate or stale-if-error), and
// RefreshHit (a stale entry the origin confirmed with 304). The metrics
// tell the kinds of Miss apart.
//
// Imported by the edge process; it imports no other Meridian package.
package cdn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// X-Cache values.
const (
	Hit        = "Hit"
	Miss       = "Miss"
	Stale      = "Stale"
	RefreshHit = "RefreshHit"
)

// Cache is the edge cache. It is an http.Handler for client traffic; its
// methods are safe for concurrent use. Close stops its background
// refreshes.
type Cache struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	hosts  map[string]*dist
	dists  []*dist
	store  *store
	client *http.Client
	tr     *http.Transport

	base   context.Context // cancelled by Close; background refreshes run under it
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu       sync.Mutex
	flights  map[string]*flight
	fetching map[*fetchToken]struct{} // origin fetches under way that may store
	closed   bool
}

var _ http.Handler = (*Cache)(nil)

type dist struct {
	Distribution
	name    string
	origins []*origin
	byName  map[string]*origin
}

type origin struct {
	Origin
	name string
	base string // URL without a trailing slash
}

// flight is one origin fetch that concurrent requests for a key wait on.
type flight struct {
	key     string
	done    chan struct{}
	once    sync.Once
	waiters int // under Cache.mu

	// Set before done is closed: the entry waiters may serve (nil: fetch
	// on your own) and the X-Cache they answer with.
	e      *entry
	xcache string
}

// New builds an edge cache from cfg.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cdn config: %w", err)
	}
	cfg.setDefaults()
	c := &Cache{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "cdn"),
		m:        newMetrics(cfg.Registerer),
		hosts:    map[string]*dist{},
		flights:  map[string]*flight{},
		fetching: map[*fetchToken]struct{}{},
	}
	c.base, c.cancel = context.WithCancel(context.Background())
	c.store = newStore(cfg.MaxBytes,
		func(n int) { c.m.evictions.Add(float64(n)) },
		func(b int64, n int) { c.m.bytes.Set(float64(b)); c.m.objects.Set(float64(n)) })
	dial := cfg.Dial
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
			defer cancel()
			return dial(ctx, network, addr)
		},
		ResponseHeaderTimeout: cfg.OriginTimeout,
		DisableCompression:    true, // pass Accept-Encoding and encoded bodies through untouched
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
	}
	c.client = &http.Client{Transport: c.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, dc := range cfg.Distributions {
		d := &dist{Distribution: dc, name: dc.label(), byName: map[string]*origin{}}
		for _, oc := range dc.Origins {
			o := &origin{Origin: oc, name: oc.name(), base: strings.TrimSuffix(oc.URL, "/")}
			d.origins = append(d.origins, o)
			d.byName[o.name] = o
		}
		for _, h := range dc.Hosts {
			c.hosts[hostName(h)] = d
		}
		c.dists = append(c.dists, d)
		c.log.Info("distribution configured", "distribution", d.name, "hosts", dc.Hosts, "origins", len(d.origins))
	}
	return c, nil
}

// Close stops background refreshes, waits for them to end and closes idle
// origin connections. Requests being served are not interrupted.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.bg.Wait()
	c.tr.CloseIdleConnections()
	return nil
}

// Usage returns the bytes and the number of objects (Vary variants
// included) in the cache.
func (c *Cache) Usage() (size int64, objects int) { return c.store.usage() }

// ServeHTTP answers a client request for one of the distributions.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostName(r.Host)
	d := c.hosts[host]
	if d == nil {
		http.Error(w, "no distribution serves host "+strconv.Quote(host), http.StatusNotFound)
		return
	}
	if !safePath(r.URL.Path) {
		c.m.requests.WithLabelValues(d.name, "rejected").Inc()
		w.Header().Set("X-Cache", Miss)
		http.Error(w, "the request path must start with / and have no . or .. segments", http.StatusBadRequest)
		return
	}
	objPath := objectPath(r.URL)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !d.AllowWrites {
			c.m.requests.WithLabelValues(d.name, "rejected").Inc()
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("X-Cache", Miss)
			http.Error(w, "this distribution allows only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		c.pass(w, r, d, host, objPath)
		return
	}
	pk := primaryKey(host, objPath)
	key := variantKey(pk, c.store.varyNames(pk), r.Header)
	now := c.cfg.Now()
	e := c.store.get(key)
	if e != nil && e.fresh(now) {
		c.writeEntry(w, r, d, e, Hit, "hit")
		return
	}
	if e != nil && e.staleWhileRevalidate(now) {
		c.refreshInBackground(d, r, host, objPath, e)
		c.writeEntry(w, r, d, e, Stale, "stale")
		return
	}
	f, leader := c.join(key)
	if !leader {
		select {
		case <-f.done:
		case <-r.Context().Done():
			return
		}
		if f.e != nil && f.e.matches(r.Header) {
			c.writeEntry(w, r, d, f.e, f.xcache, resultLabel(f.xcache))
			return
		}
		// The response could not be shared (uncacheable, too large, a
		// different variant, an error): fetch for this request alone.
		f = nil
	} else if e2 := c.store.get(key); e2 != nil && e2 != e && e2.fresh(now) {
		// A fetch that ended between the lookup and join stored it.
		f.e, f.xcache = e2, Hit
		c.finish(f)
		c.writeEntry(w, r, d, e2, Hit, "hit")
		return
	}
	c.fetchAndServe(w, r, d, host, objPath, e, f)
}

// fetched is the outcome of fetching an object for the cache.
type fetched struct {
	e      *entry         // the response, buffered (stored or not)
	stored bool           // e was stored
	xcache string         // Miss or RefreshHit
	res    *http.Response // set instead of e for a body too large to buffer, or a 5xx
	prefix []byte         // the part of res's body already read
	err    error          // no origin answered
}

// fetch gets an object for r from the distribution's origins, revalidating
// old when it is set, and stores what may be stored. The caller closes
// f.res.Body when it is set.
func (c *Cache) fetch(ctx context.Context, d *dist, r *http.Request, host, objPath string, old *entry) fetched {
	tok := c.startFetch(d, host, objPath)
	defer c.endFetch(tok)
	origins := d.order()
	var (
		res      *http.Response
		body     []byte
		err      error
		readErrs []error
	)
	// An origin that fails while sending the body is left for the next:
	// nothing has reached the client yet.
	for len(origins) > 0 {
		var used int
		res, used, err = c.fetchGET(ctx, d, origins, r, old, false)
		if err != nil {
			return fetched{err: errors.Join(append(readErrs, err)...)}
		}
		if res.StatusCode >= 500 {
			return fetched{res: res}
		}
		if res.StatusCode == http.StatusNotModified || res.ContentLength > c.cfg.MaxObjectBytes {
			break
		}
		body, err = io.ReadAll(io.LimitReader(res.Body, c.cfg.MaxObjectBytes+1))
		if err == nil {
			break
		}
		_ = res.Body.Close()
		c.m.originErrors.WithLabelValues(d.name, origins[used].name, "body").Inc()
		readErrs = append(readErrs, fmt.Errorf("origin %s: reading the response: %w", origins[used].name, err))
		origins = origins[used+1:]
	}
	if len(origins) == 0 {
		return fetched{err: errors.Join(readErrs...)}
	}
	now := c.cfg.Now()
	pk := primaryKey(host, objPath)
	if res.StatusCode == http.StatusNotModified && old != nil {
		drain(res)
		h := old.header.Clone()
		for k, vs := range cleanHeader(res.Header) {
			if k != "Content-Length" {
				h[k] = vs
			}
		}
		p := responsePolicy(&d.Distribution, r.Header, old.status, h, now)
		e := newEntry(variantKey(pk, p.varyNames, r.Header), pk, host, objPath, old.status, h, old.body, now, p)
		if !p.store {
			c.store.delete(old)
			return fetched{e: e, xcache: RefreshHit}
		}
		return fetched{e: e, stored: c.put(e, tok), xcache: RefreshHit}
	}
	p := responsePolicy(&d.Distribution, r.Header, res.StatusCode, res.Header, now)
	if res.ContentLength > c.cfg.MaxObjectBytes {
		return fetched{res: res}
	}
	if int64(len(body)) > c.cfg.MaxObjectBytes {
		return fetched{res: res, prefix: body}
	}
	_ = res.Body.Close()
	e := newEntry(variantKey(pk, p.varyNames, r.Header), pk, host, objPath, res.StatusCode, cleanHeader(res.Header), body, now, p)
	if !p.store && old != nil {
		c.store.delete(old)
	}
	return fetched{e: e, stored: p.store && c.put(e, tok), xcache: Miss}
}

// fetchToken stands for an origin fetch under way, so that an invalidation
// of its object while it runs stops it from storing what it fetched.
type fetchToken struct {
	d           *dist
	primary     string
	objPath     string
	invalidated bool // under Cache.mu
}

func (c *Cache) startFetch(d *dist, host, objPath string) *fetchToken {
	t := &fetchToken{d: d, primary: primaryKey(host, objPath), objPath: objPath}
	c.mu.Lock()
	c.fetching[t] = struct{}{}
	c.mu.Unlock()
	return t
}

func (c *Cache) endFetch(t *fetchToken) {
	c.mu.Lock()
	delete(c.fetching, t)
	c.mu.Unlock()
}

// put stores e unless its object was invalidated since the fetch began.
// Holding c.mu orders it with invalidations, which mark fetches under c.mu
// before removing entries.
func (c *Cache) put(e *entry, t *fetchToken) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.invalidated {
		return false
	}
	return c.store.put(e)
}

// invalidateFetches marks the fetches under way that match.
func (c *Cache) invalidateFetches(match func(*fetchToken) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.fetching {
		if match(t) {
			t.invalidated = true
		}
	}
}

// fetchAndServe fetches an object for r (revalidating old), publishes the
// outcome to the requests waiting on f (when set) and answers r.
func (c *Cache) fetchAndServe(w http.ResponseWriter, r *http.Request, d *dist, host, objPath string, old *entry, f *flight) {
	// The fetch outlives the client that started it so that the requests
	// collapsed onto it are not failed by that client leaving.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	published := false
	publish := func(e *entry, xcache string) {
		if f != nil && !published {
			published = true
			f.e, f.xcache = e, xcache
			c.finish(f)
		}
	}
	defer publish(nil, "")

	res := c.fetch(ctx, d, r, host, objPath, old)
	now := c.cfg.Now()
	if res.err != nil || (res.res != nil && res.res.StatusCode >= 500) {
		if old != nil && old.staleIfError(now) {
			if res.res != nil {
				drain(res.res)
			}
			publish(old, Stale)
			c.writeEntry(w, r, d, old, Stale, "stale")
			return
		}
		publish(nil, "")
		if res.err != nil {
			c.writeError(w, d, res.err)
			return
		}
	}
	if res.res != nil {
		publish(nil, "")
		if res.res.StatusCode < 500 && hasAny(r.Header, "Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since") {
			// Too large to cache: let the origin answer the client's
			// range or conditional itself rather than send the whole
			// object.
			_ = res.res.Body.Close()
			again, _, err := c.fetchGET(ctx, d, d.order(), r, nil, true) //nolint:bodyclose // writeStream below closes it
			if err != nil {
				c.writeError(w, d, err)
				return
			}
			res.res, res.prefix = again, nil
		}
		c.writeStream(w, r, d, res.res, res.prefix)
		return
	}
	result := "pass"
	if res.stored {
		result = resultLabel(res.xcache)
		if res.xcache == RefreshHit {
			publish(res.e, RefreshHit)
		} else {
			publish(res.e, Hit)
		}
	}
	c.writeEntry(w, r, d, res.e, res.xcache, result)
}

// refreshInBackground revalidates a stale entry served under
// stale-while-revalidate, unless a fetch for it is already running. The
// goroutine ends when the fetch does (bounded by the origin timeouts) or
// when Close cancels it.
func (c *Cache) refreshInBackground(d *dist, r *http.Request, host, objPath string, old *entry) {
	f, leader := c.join(old.key)
	if !leader {
		return
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.bg.Add(1)
	}
	c.mu.Unlock()
	if closed {
		c.finish(f)
		return
	}
	br := r.Clone(c.base)
	go func() {
		defer c.bg.Done()
		var e *entry
		xcache := ""
		defer func() {
			f.e, f.xcache = e, xcache
			c.finish(f)
		}()
		res := c.fetch(c.base, d, br, host, objPath, old)
		if res.res != nil {
			drain(res.res)
		}
		if res.stored {
			e, xcache = res.e, Hit
		}
	}()
}

// join registers a fetch for key, or joins the one already running.
func (c *Cache) join(key string) (f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[key]; f != nil {
		f.waiters++
		return f, false
	}
	f = &flight{key: key, done: make(chan struct{})}
	c.flights[key] = f
	return f, true
}

// finish ends a flight, waking its waiters. It may be called more than
// once.
func (c *Cache) finish(f *flight) {
	f.once.Do(func() {
		c.mu.Lock()
		if c.flights[f.key] == f {
			delete(c.flights, f.key)
		}
		c.mu.Unlock()
		close(f.done)
	})
}

// fetchGET sends r as a GET to origins in order until one answers below
// 500 (or the last one answers at all), and returns its response and its
// index in origins. The client's Range and conditional headers are dropped
// (the cache wants the whole object) unless asIs is set; old's validators
// make it conditional.
func (c *Cache) fetchGET(ctx context.Context, d *dist, origins []*origin, r *http.Request, old *entry, asIs bool) (*http.Response, int, error) {
	var errs []error
	for i, o := range origins {
		req, err := c.originRequest(ctx, o, http.MethodGet, r, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !asIs {
			for _, k := range []string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
				req.Header.Del(k)
			}
		}
		if old != nil {
			if v := old.header.Get("ETag"); v != "" {
				req.Header.Set("If-None-Match", v)
			}
			if v := old.header.Get("Last-Modified"); v != "" {
				req.Header.Set("If-Modified-Since", v)
			}
		}
		res, err := c.send(d, o, req)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if res.StatusCode >= 500 {
			c.m.originErrors.WithLabelValues(d.name, o.name, "status").Inc()
			if i < len(origins)-1 {
				drain(res)
				errs = append(errs, fmt.Errorf("origin %s answered %s", o.name, res.Status))
				continue
			}
		}
		return res, i, nil
	}
	return nil, len(origins), errors.Join(errs...)
}

// send signs and sends an origin request, recording its latency.
func (c *Cache) send(d *dist, o *origin, req *http.Request) (*http.Response, error) {
	if o.Sign != nil {
		if err := o.Sign(req); err != nil {
			return nil, fmt.Errorf("signing the request to origin %s: %w", o.name, err)
		}
	}
	ctx, cancel := context.WithCancel(req.Context())
	req = req.WithContext(ctx)
	start := c.cfg.Now()
	res, err := c.client.Do(req) //nolint:gosec // G704: the target is an origin from the operator's distribution config
	if err != nil {
		cancel()
		c.m.originErrors.WithLabelValues(d.name, o.name, "connect").Inc()
		return nil, fmt.Errorf("origin %s: %w", o.name, err)
	}
	c.m.fetchLatency.WithLabelValues(d.name, o.name).Observe(c.cfg.Now().Sub(start).Seconds())
	timer := time.AfterFunc(c.cfg.OriginTimeout, cancel)
	timer.Stop()
	res.Body = &idleBody{ReadCloser: res.Body, idle: c.cfg.OriginTimeout, cancel: cancel, timer: timer}
	return res, nil
}

// idleBody fails a response body whose origin sends nothing for longer than
// idle while it is being read (CloudFront's origin response timeout applies
// to the body too), by cancelling its request. Time spent writing to a
// slow client between reads does not count. Closing it releases the
// request's context.
type idleBody struct {
	io.ReadCloser
	idle   time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	b.cancel()
	return b.ReadCloser.Close()
}

// originRequest builds the request to send to origin o for client request
// r: the origin's base URL followed by r's path and query, r's headers
// without hop-by-hop fields plus X-Forwarded-For.
func (c *Cache) originRequest(ctx context.Context, o *origin, method string, r *http.Request, body io.Reader) (*http.Request, error) {
	target := o.base + r.URL.EscapedPath()
	if r.URL.EscapedPath() == "" {
		target += "/"
	}
	if r.URL.RawQuery != "" && !o.DropQuery {
		target += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body) //nolint:gosec // G704: the target is an origin from the operator's distribution config
	if err != nil {
		return nil, fmt.Errorf("origin %s: building request: %w", o.name, err)
	}
	req.Header = cleanHeader(r.Header)
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := req.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		req.Header.Set("X-Forwarded-For", ip)
	}
	if o.ForwardHost {
		req.Host = r.Host
	}
	return req, nil
}

// pass sends a request with an unsafe method to the first origin and
// streams its response back; a success invalidates the URL.
func (c *Cache) pass(w http.ResponseWriter, r *http.Request, d *dist, host, objPath string) {
	o := d.order()[0]
	req, err := c.originRequest(r.Context(), o, r.Method, r, r.Body)
	if err != nil {
		c.writeError(w, d, err)
		return
	}
	req.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		req.Body = http.NoBody
	}
	res, err := c.send(d, o, req)
	if err != nil {
		c.writeError(w, d, err)
		return
	}
	if res.StatusCode < 400 {
		pk := primaryKey(host, objPath)
		c.invalidateFetches(func(t *fetchToken) bool { return t.primary == pk })
		if n := c.store.removePrimary(pk); n > 0 {
			c.m.invalidated.WithLabelValues(d.name).Add(float64(n))
		}
	}
	c.writeStream(w, r, d, res, nil)
}

// writeEntry answers r from e.
func (c *Cache) writeEntry(w http.ResponseWriter, r *http.Request, d *dist, e *entry, xcache, result string) {
	c.m.requests.WithLabelValues(d.name, result).Inc()
	h := w.Header()
	for k, vs := range e.header {
		h[k] = slices.Clone(vs)
	}
	h.Del("Content-Length")
	if age := e.age(c.cfg.Now()); xcache != Miss || age > 0 {
		h.Set("Age", strconv.FormatInt(int64(age/time.Second), 10))
	}
	h.Set("X-Cache", xcache)
	if e.status == http.StatusOK && !hasAny(r.Header, "Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range") {
		// A plain hit, the common case: headers and body in one write,
		// where ServeContent would take two and parse the validators.
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.Itoa(len(e.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(e.body) // the client left; nothing to do
		}
		return
	}
	if e.status == http.StatusOK {
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = nil // do not let ServeContent sniff one
		}
		var mod time.Time
		if t, err := http.ParseTime(e.header.Get("Last-Modified")); err == nil {
			mod = t
		}
		http.ServeContent(w, r, "", mod, bytes.NewReader(e.body))
		return
	}
	if e.status != http.StatusNoContent && e.status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(e.body)))
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body) // the client left; nothing to do
	}
}

// writeStream answers r with an origin response that is not cached:
// prefix (already read) then the rest of the body.
func (c *Cache) writeStream(w http.ResponseWriter, r *http.Request, d *dist, res *http.Response, prefix []byte) {
	defer res.Body.Close()
	result := "pass"
	if res.StatusCode >= 500 {
		result = "error"
	}
	c.m.requests.WithLabelValues(d.name, result).Inc()
	h := w.Header()
	for k, vs := range cleanHeader(res.Header) {
		h[k] = vs
	}
	h.Del("Content-Length")
	if res.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
	}
	h.Set("X-Cache", Miss)
	w.WriteHeader(res.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(prefix); err != nil {
		return
	}
	_, _ = io.Copy(w, res.Body) // an error means one side left; nothing to do
}

// writeError answers a request no origin answered: 504 when they timed
// out, 502 otherwise.
func (c *Cache) writeError(w http.ResponseWriter, d *dist, err error) {
	c.m.requests.WithLabelValues(d.name, "error").Inc()
	w.Header().Set("X-Cache", Miss)
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		http.Error(w, "no origin answered in time", http.StatusGatewayTimeout)
		return
	}
	http.Error(w, "no origin could be reached", http.StatusBadGateway)
}

// hasAny reports whether h has any of the fields.
func hasAny(h http.Header, fields ...string) bool {
	for _, f := range fields {
		if h.Get(f) != "" {
			return true
		}
	}
	return false
}

// safePath reports whether a request's (decoded) path is one the cache
// forwards: it starts with "/" and has no "." or ".." segment, which could
// climb out of an origin's path prefix (another bucket) with the edge's
// credentials.
func safePath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// resultLabel is the metrics label for an X-Cache value.
func resultLabel(xcache string) string {
	if xcache == RefreshHit {
		return "refresh_hit"
	}
	return strings.ToLower(xcache)
}

// order returns the origins to try, in order.
func (d *dist) order() []*origin {
	if d.Order == nil {
		return d.origins
	}
	var out []*origin
	for _, n := range d.Order() {
		if o := d.byName[n]; o != nil && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return d.origins
	}
	return out
}

// cleanHeader copies h without hop-by-hop fields (RFC 9110 §7.6.1: those
// named by Connection and the usual ones) and without Age, which the cache
// computes itself.
func cleanHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out.Del(f)
			}
		}
	}
	for _, k := range [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		out.Del(k)
	}
	out.Del("Age")
	return out
}

// drain reads a little of a response body so the connection can be
// reused, and closes it.
func drain(res *http.Response) {
	_, _ = io.CopyN(io.Discard, res.Body, 64<<10)
	_ = res.Body.Close()
}
