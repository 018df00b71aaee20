package health

import "time"

// Status is a snapshot of a checker's state for the admin API and the
// console.
type Status struct {
	// Checker is this checker's name.
	Checker string `json:"checker"`
	// Version is the version of its local verdicts (see Document).
	Version string `json:"version"`
	// Checkers is how many checkers vote: this one and its peers. A check
	// is globally unhealthy when more than half of them vote unhealthy.
	Checkers int           `json:"checkers"`
	Checks   []CheckStatus `json:"checks"`
	Peers    []PeerStatus  `json:"peers"`
}

// CheckStatus is the state of one check at one checker.
type CheckStatus struct {
	ID       string `json:"id"`
	Type     Type   `json:"type"`
	Inverted bool   `json:"inverted,omitempty"`
	// Local is this checker's own verdict (after Invert); empty for
	// calculated checks.
	Local Verdict `json:"local,omitempty"`
	// Global is the verdict Health answers with.
	Global Verdict `json:"global"`
	// Votes is each checker's vote, by checker name, for http and tcp
	// checks; an expired peer's vote is unknown.
	Votes map[string]Verdict `json:"votes,omitempty"`
	// UnhealthyVotes counts the unhealthy ones.
	UnhealthyVotes int `json:"unhealthy_votes"`
	// RTTMillis is RTT in milliseconds; 0 before the first successful probe.
	RTTMillis float64 `json:"rtt_ms,omitempty"`
	// ConnectMillis and FirstByteMillis are the last probe's time to connect
	// and, for http checks, from the request to the first response byte.
	ConnectMillis   float64   `json:"connect_ms,omitempty"`
	FirstByteMillis float64   `json:"first_byte_ms,omitempty"`
	LastProbe       time.Time `json:"last_probe,omitzero"`
	// LastError is why the last probe failed; empty when it succeeded.
	LastError string `json:"last_error,omitempty"`
	// Children and HealthyThreshold describe a calculated check.
	Children         []string `json:"children,omitempty"`
	HealthyThreshold int      `json:"healthy_threshold,omitempty"`
}

// PeerStatus is what a checker knows of one peer.
type PeerStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Fresh is true while the peer's verdicts count: they were refreshed
	// less than ExpireAfter ago.
	Fresh bool `json:"fresh"`
	// LastRefresh is when its verdicts were last fetched.
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	Version     string    `json:"version,omitempty"`
	// LastError is why the last fetch failed; empty when it succeeded.
	LastError string `json:"last_error,omitempty"`
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Status returns a snapshot of the checker's state, checks and peers in
// configuration order.
func (c *Checker) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	s := Status{Checker: c.cfg.Name, Version: c.versionString(), Checkers: c.n,
		Checks: make([]CheckStatus, 0, len(c.checks)), Peers: make([]PeerStatus, 0, len(c.peers))}
	for _, cs := range c.checks {
		st := CheckStatus{ID: cs.cfg.ID, Type: cs.cfg.Type, Inverted: cs.cfg.Invert, Global: cs.global}
		if cs.cfg.Type == Calculated {
			st.Children, st.HealthyThreshold = append([]string(nil), cs.cfg.Children...), cs.cfg.HealthyThreshold
			s.Checks = append(s.Checks, st)
			continue
		}
		st.Local = cs.local
		votes := c.votes(cs, now)
		st.Votes = make(map[string]Verdict, len(votes))
		st.Votes[c.cfg.Name] = votes[0]
		for i, p := range c.peers {
			st.Votes[p.cfg.Name] = votes[i+1]
		}
		st.UnhealthyVotes = c.unhealthyVotes(cs, now)
		if d, ok := cs.rtts.median(); ok {
			st.RTTMillis = millis(d)
		}
		st.ConnectMillis, st.FirstByteMillis = millis(cs.last.connect), millis(cs.last.firstByte)
		st.LastProbe, st.LastError = cs.lastProbe, cs.lastErr
		s.Checks = append(s.Checks, st)
	}
	for _, p := range c.peers {
		s.Peers = append(s.Peers, PeerStatus{Name: p.cfg.Name, URL: p.url, Fresh: c.fresh(p, now),
			LastRefresh: p.refreshed, Version: p.version, LastError: p.lastErr})
	}
	return s
}
