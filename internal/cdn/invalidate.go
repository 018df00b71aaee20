package cdn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// MaxInvalidationPaths is how many paths one admin API request may hold,
// as in a CloudFront invalidation batch.
const MaxInvalidationPaths = 3000

// Invalidate removes the cached objects of the distribution serving host
// whose path matches pattern, and returns how many objects (Vary variants
// counted one by one) it removed. Patterns follow CloudFront: they start
// with "/", and a "*" is allowed only as the last character, matching zero
// or more characters of the path and query ("/images/*", "/images/a*",
// "/*"). Without "*" the pattern names one path and query exactly:
// "/a.jpg" leaves "/a.jpg?v=2" cached; "/a.jpg*" removes both. Matching is
// case-sensitive, on the path as clients send it. Every host name of the
// distribution is invalidated. Fetches under way when Invalidate is called
// do not store their responses.
func (c *Cache) Invalidate(host, pattern string) (n int, err error) {
	d := c.hosts[hostName(host)]
	if d == nil {
		return 0, fmt.Errorf("no distribution serves host %q", host)
	}
	p, err := parsePattern(pattern)
	if err != nil {
		return 0, err
	}
	n = c.invalidate(d, p)
	c.log.Info("invalidated", "distribution", d.name, "path", pattern, "objects", n)
	return n, nil
}

func (c *Cache) invalidate(d *dist, p pattern) int {
	c.invalidateFetches(func(t *fetchToken) bool { return t.d == d && p.match(t.objPath) })
	n := c.store.removeMatching(func(e *entry) bool { return c.hosts[e.host] == d && p.match(e.objPath) })
	c.m.invalidated.WithLabelValues(d.name).Add(float64(n))
	return n
}

// InvalidationRequest is the body of POST /cdn/invalidations.
type InvalidationRequest struct {
	// Host is any host name of the distribution.
	Host string `json:"host"`
	// Paths are invalidation patterns (see Cache.Invalidate).
	Paths []string `json:"paths"`
}

// InvalidationResult is the answer to POST /cdn/invalidations.
type InvalidationResult struct {
	Distribution string `json:"distribution"`
	// Paths holds, per requested path in order, how many objects it
	// removed (a path matching objects an earlier path removed counts 0).
	Paths []PathResult `json:"paths"`
	// Invalidated is the total number of objects removed.
	Invalidated int `json:"invalidated"`
}

// PathResult is one path's part of an InvalidationResult.
type PathResult struct {
	Path        string `json:"path"`
	Invalidated int    `json:"invalidated"`
}

// AdminHandler serves the cache's admin API, for the edge's admin port:
//
//	POST /cdn/invalidations  {"host": "static.meridian.test", "paths": ["/images/*"]}
//	  → 200 {"distribution": "...", "paths": [{"path": "/images/*", "invalidated": 3}], "invalidated": 3}
//
// Invalidations take effect before the answer. A malformed body, an unknown
// host or an invalid path is answered 400 with {"error": "..."} and
// invalidates nothing.
func (c *Cache) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cdn/invalidations", c.serveInvalidations)
	return mux
}

func (c *Cache) serveInvalidations(w http.ResponseWriter, r *http.Request) {
	var req InvalidationRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONError(w, fmt.Errorf("reading the request body: %w", err))
		return
	}
	d := c.hosts[hostName(req.Host)]
	switch {
	case req.Host == "":
		writeJSONError(w, errors.New(`"host" is required: a host name of the distribution`))
		return
	case d == nil:
		writeJSONError(w, fmt.Errorf("no distribution serves host %q", req.Host))
		return
	case len(req.Paths) == 0:
		writeJSONError(w, errors.New(`"paths" is empty: give at least one path such as "/images/*"`))
		return
	case len(req.Paths) > MaxInvalidationPaths:
		writeJSONError(w, fmt.Errorf("%d paths in one request; the limit is %d", len(req.Paths), MaxInvalidationPaths))
		return
	}
	pats := make([]pattern, len(req.Paths))
	var errs []error
	for i, p := range req.Paths {
		var err error
		if pats[i], err = parsePattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		writeJSONError(w, err)
		return
	}
	res := InvalidationResult{Distribution: d.name, Paths: make([]PathResult, len(pats))}
	for i, p := range pats {
		n := c.invalidate(d, p)
		res.Paths[i] = PathResult{Path: req.Paths[i], Invalidated: n}
		res.Invalidated += n
	}
	c.log.Info("invalidated", "distribution", d.name, "paths", len(pats), "objects", res.Invalidated)
	writeJSON(w, http.StatusOK, res)
}

func writeJSONError(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("encoding an admin answer: %v", err)) // only plain structs are encoded
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
