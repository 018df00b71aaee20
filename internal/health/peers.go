package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Path is where the edge and region processes mount Handler on their admin
// port, and what a checker appends to a Peer's URL to fetch its verdicts.
const Path = "/health/verdicts"

// maxDocBytes bounds a peer's verdict document.
const maxDocBytes = 1 << 20

// Document is the verdict endpoint's JSON body: a checker's local verdicts
// of its http and tcp checks.
//
//	{"checker":"edge-1","version":"lx3k1c-4","verdicts":{"us-east":"healthy"}}
//
// Version changes whenever a verdict does (and when the checker restarts).
type Document struct {
	Checker  string             `json:"checker"`
	Version  string             `json:"version"`
	Verdicts map[string]Verdict `json:"verdicts"`
}

// ParseDocument decodes and checks a peer's verdict document.
func ParseDocument(data []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("decoding verdict document: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Document{}, errors.New("verdict document: trailing data after the JSON object")
	}
	if d.Checker == "" {
		return Document{}, errors.New("verdict document: no checker name")
	}
	if d.Version == "" {
		return Document{}, errors.New("verdict document: no version")
	}
	for id, v := range d.Verdicts {
		if id == "" {
			return Document{}, errors.New("verdict document: a verdict for an empty check ID")
		}
		if !v.valid() {
			return Document{}, fmt.Errorf("verdict document: check %q has verdict %q, want healthy, unhealthy or unknown", id, v)
		}
	}
	if d.Verdicts == nil {
		d.Verdicts = map[string]Verdict{}
	}
	return d, nil
}

// document is this checker's current Document. c.mu is held.
func (c *Checker) document() Document {
	d := Document{Checker: c.cfg.Name, Version: c.versionString(), Verdicts: map[string]Verdict{}}
	for _, cs := range c.checks {
		if cs.cfg.Type != Calculated {
			d.Verdicts[cs.cfg.ID] = cs.local
		}
	}
	return d
}

// Handler serves this checker's local verdicts as a Document (GET or HEAD).
//
// With ?wait=VERSION it long-polls: it answers at once if the current
// version differs from VERSION, and otherwise as soon as it changes or after
// hold (?hold=2s; default and maximum 10s), with the current document either
// way. A bad hold is answered 400.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(c.serveVerdicts)
}

func (c *Checker) serveVerdicts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	hold := MaxHold
	if s := q.Get("hold"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			http.Error(w, fmt.Sprintf("bad hold %q: want a duration such as 2s", s), http.StatusBadRequest)
			return
		}
		hold = min(d, MaxHold)
	}
	if q.Has("wait") {
		if !c.awaitChange(r.Context(), q.Get("wait"), hold) {
			return // the client went away
		}
	}
	c.mu.Lock()
	d := c.document()
	c.mu.Unlock()
	body, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("health: encoding a verdict document: %v", err)) // strings only: cannot fail
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n')) // a failed write is the client's loss
}

// awaitChange waits until the version differs from have or hold passes; it
// returns false if ctx ends first.
func (c *Checker) awaitChange(ctx context.Context, have string, hold time.Duration) bool {
	t := time.NewTimer(hold)
	defer t.Stop()
	for {
		c.mu.Lock()
		v, ch := c.versionString(), c.changed
		c.mu.Unlock()
		if v != have {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

func peerURL(base string) string {
	return strings.TrimSuffix(base, "/") + Path
}

func newPeerClient(cfg Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            cfg.Dial,
		TLSClientConfig:        cloneTLS(cfg.TLS),
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        MaxHold + 5*time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}}
}

// hold is how long a peer is asked to hold a quiet long-poll.
func (c *Checker) hold() time.Duration { return c.cfg.ExpireAfter / 3 }

// pollLoop keeps p's verdicts fresh until ctx is done: it long-polls p's
// endpoint, and after a failure tries again after hold/2.
func (c *Checker) pollLoop(ctx context.Context, client *http.Client, p *peerState) error {
	have := ""
	for {
		sent, began := have, time.Now()
		d, err := c.fetch(ctx, client, p, have)
		if ctx.Err() != nil {
			return nil
		}
		c.m.fetched(p.cfg.Name, err == nil)
		c.mu.Lock()
		if err != nil {
			p.lastErr = err.Error()
		} else {
			have = d.Version
			p.verdicts, p.version, p.refreshed, p.lastErr = d.Verdicts, d.Version, c.now(), ""
		}
		c.recompute()
		c.unlock()
		// After a failure, and after a poll that came back unchanged before
		// its hold was up (a peer that does not hold polls), wait before the
		// next one so as not to spin.
		if err == nil && (d.Version != sent || time.Since(began) >= c.hold()/2) {
			continue
		}
		t := time.NewTimer(c.hold() / 2)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// fetch asks p for its verdicts, long-polling when have is a version.
func (c *Checker) fetch(ctx context.Context, client *http.Client, p *peerState, have string) (Document, error) {
	hold := c.hold()
	ctx, cancel := context.WithTimeout(ctx, 2*hold)
	defer cancel()
	u := p.url
	if have != "" {
		u += "?" + url.Values{"wait": {have}, "hold": {hold.String()}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Document{}, fmt.Errorf("fetching verdicts of peer %s: %w", p.cfg.Name, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Document{}, fmt.Errorf("fetching verdicts of peer %s: %w", p.cfg.Name, err)
	}
	defer func() { _ = resp.Body.Close() }() // read-only; nothing to flush
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return Document{}, fmt.Errorf("reading verdicts of peer %s: %w", p.cfg.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Document{}, fmt.Errorf("fetching verdicts of peer %s: status %d", p.cfg.Name, resp.StatusCode)
	}
	if len(body) > maxDocBytes {
		return Document{}, fmt.Errorf("verdicts of peer %s: document larger than %d bytes", p.cfg.Name, maxDocBytes)
	}
	d, err := ParseDocument(body)
	if err != nil {
		return Document{}, fmt.Errorf("peer %s: %w", p.cfg.Name, err)
	}
	if d.Checker != p.cfg.Name {
		return Document{}, fmt.Errorf("peer %s at %s says it is checker %q: check the peer list", p.cfg.Name, p.url, d.Checker)
	}
	return d, nil
}
