package region

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-platform/meridian/internal/compute"
	"github.com/meridian-platform/meridian/internal/health"
	"github.com/meridian-platform/meridian/internal/repl"
	"github.com/meridian-platform/meridian/internal/store"
)

// Status is what /admin/status reports.
type Status struct {
	Region  string            `json:"region"`
	Node    string            `json:"node"`
	Origin  string            `json:"origin"`
	Healthy bool              `json:"healthy"`
	Error   string            `json:"error,omitempty"`
	Digest  string            `json:"digest"`
	Applied map[string]uint64 `json:"applied"`
	Peers   []repl.PeerStatus `json:"peers"`
	// Groups are the node's instance groups and their instances; empty
	// when the region declares none.
	Groups []compute.GroupStatus `json:"groups"`
}

// maxKVBody bounds an admin KV document.
const maxKVBody = 400 << 10

func (n *Node) adminHandler(st *store.Store, rep *repl.Replicator, sup *compute.Supervisor) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := st.Probe(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	// Deep health, what edges and other regions probe (DESIGN §4): storage
	// writable and, where the region runs instance groups, at least one
	// healthy instance in every group.
	mux.HandleFunc("GET /healthz/deep", func(w http.ResponseWriter, _ *http.Request) {
		h := deepHealth(st, sup)
		code := http.StatusOK
		if !h.Healthy {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/status", func(w http.ResponseWriter, _ *http.Request) {
		root := st.Root()
		s := Status{
			Region: n.region, Node: n.self.Name, Origin: st.Origin(), Healthy: true,
			Digest: hex.EncodeToString(root[:]), Applied: st.VV(), Peers: rep.Status(),
			Groups: []compute.GroupStatus{},
		}
		if sup != nil {
			s.Groups = sup.Status()
		}
		if err := st.Probe(); err != nil {
			s.Healthy, s.Error = false, err.Error()
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("POST /admin/groups/{name}", n.applyGroup(sup))
	if n.fabric != nil {
		mux.Handle("/admin/chaos", n.fabric.Handler())
	}
	if n.checker != nil {
		mux.Handle(health.Path, n.checker.Handler())
		mux.HandleFunc("GET /admin/health", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, n.checker.Status())
		})
	}
	mux.HandleFunc("POST /admin/sync", func(w http.ResponseWriter, _ *http.Request) {
		rep.SyncNow()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /admin/kv/{space}/{key}", func(w http.ResponseWriter, r *http.Request) {
		k := kvKey(r)
		state, err := st.Get(k)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if !state.Exists() {
			writeError(w, http.StatusNotFound, fmt.Errorf("no item %s/%s", k.Space, k.Hash))
			return
		}
		out := kvItem{Doc: string(state.Base.Doc), Counters: map[string]string{}}
		for f := range state.Counters {
			sum, err := state.CounterSum(f)
			if err != nil {
				writeError(w, http.StatusInternalServerError, err)
				return
			}
			out.Counters[f] = sum.Text('f')
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("PUT /admin/kv/{space}/{key}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxKVBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		n.kvWrite(w, r, st, store.Mutation{Key: kvKey(r), Put: body})
	})
	mux.HandleFunc("DELETE /admin/kv/{space}/{key}", func(w http.ResponseWriter, r *http.Request) {
		n.kvWrite(w, r, st, store.Mutation{Key: kvKey(r), Delete: true})
	})
	mux.HandleFunc("POST /admin/kv/{space}/{key}/add", func(w http.ResponseWriter, r *http.Request) {
		field, delta := r.URL.Query().Get("field"), r.URL.Query().Get("delta")
		if field == "" || delta == "" {
			writeError(w, http.StatusBadRequest, errors.New("add needs ?field=NAME&delta=DECIMAL"))
			return
		}
		n.kvWrite(w, r, st, store.Mutation{Key: kvKey(r), Counters: []store.CounterDelta{{Field: field, Delta: delta}}})
	})
	return mux
}

type kvItem struct {
	Doc      string            `json:"doc"`
	Counters map[string]string `json:"counters,omitempty"`
}

func kvKey(r *http.Request) store.Key {
	return store.Key{Space: "kv:" + r.PathValue("space"), Hash: []byte(r.PathValue("key"))}
}

func (n *Node) kvWrite(w http.ResponseWriter, r *http.Request, st *store.Store, m store.Mutation) {
	if err := m.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	c, err := st.Apply(r.Context(), m)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"seq": c.Seq, "ts": c.TS.String()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": strings.TrimSpace(err.Error())})
}

// DeepHealth is what /healthz/deep reports.
type DeepHealth struct {
	Healthy bool `json:"healthy"`
	// Storage is "ok" or why a write to storage failed.
	Storage string `json:"storage"`
	// Groups counts the healthy instances of each instance group.
	Groups map[string]int `json:"groups,omitempty"`
	// Reason says why the region is unhealthy.
	Reason string `json:"reason,omitempty"`
}

func deepHealth(st *store.Store, sup *compute.Supervisor) DeepHealth {
	h := DeepHealth{Healthy: true, Storage: "ok"}
	if err := st.Probe(); err != nil {
		h.Healthy, h.Storage, h.Reason = false, err.Error(), "storage is not writable"
	}
	if sup == nil {
		return h
	}
	h.Groups = map[string]int{}
	for _, g := range sup.Status() {
		healthy := 0
		for _, in := range g.Instances {
			if in.Healthy {
				healthy++
			}
		}
		h.Groups[g.Name] = healthy
		if healthy == 0 && h.Healthy {
			h.Healthy, h.Reason = false, fmt.Sprintf("group %s has no healthy instance", g.Name)
		}
	}
	return h
}
