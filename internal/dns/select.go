package dns

import (
	"math"
	"time"
)

// choose applies the record set's routing policy. It chooses among the healthy
// targets; when none is healthy it chooses among all of them, as Route 53
// does: answering something that may work beats answering nothing.
// location is the client's location. dependsOnLocation reports whether the
// answer would differ for another location (for the ECS scope).
func (s *Server) choose(rs *rrset, location string) (chosen []target, dependsOnLocation bool) {
	cands := s.healthyTargets(rs.targets)
	switch rs.policy {
	case Weighted:
		return s.pickWeighted(cands), false
	case Latency:
		best, bestD := -1, time.Duration(math.MaxInt64)
		for i, t := range cands {
			d, ok := s.cfg.Latencies.Latency(location, t.Region)
			if !ok {
				d = time.Duration(math.MaxInt64 - 1)
			}
			if best < 0 || d < bestD {
				best, bestD = i, d
			}
		}
		return cands[best : best+1], true
	case Failover:
		for _, role := range []string{Primary, Secondary} {
			for _, t := range cands {
				if t.Role == role {
					return []target{t}, false
				}
			}
		}
		return nil, false
	case Geolocation:
		for _, loc := range []string{location, DefaultLocation} {
			if loc == "" {
				continue
			}
			for _, t := range cands {
				if t.Location == loc {
					return []target{t}, true
				}
			}
		}
		return nil, true
	case Multivalue:
		out := append([]target(nil), cands...)
		s.mu.Lock()
		s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		s.mu.Unlock()
		if len(out) > MaxMultivalue {
			out = out[:MaxMultivalue]
		}
		return out, false
	default: // Simple
		return cands, false
	}
}

// healthyTargets returns the healthy targets of ts, or all of them when none
// is healthy (fail open). ts itself is returned, not a copy, when every
// target is healthy; callers must not modify the result.
func (s *Server) healthyTargets(ts []target) []target {
	for i, t := range ts {
		if s.healthy(t.HealthCheck) {
			continue
		}
		// Target i is unhealthy: collect the healthy ones.
		cands := make([]target, 0, len(ts)-1)
		cands = append(cands, ts[:i]...)
		for _, t := range ts[i+1:] {
			if s.healthy(t.HealthCheck) {
				cands = append(cands, t)
			}
		}
		if len(cands) == 0 {
			return ts // fail open
		}
		return cands
	}
	return ts
}

func (s *Server) healthy(check string) bool {
	if check == "" {
		return true
	}
	ok, known := s.cfg.Health.Health(check)
	return ok || !known
}

func (s *Server) pickWeighted(cands []target) []target {
	var total uint64
	for _, t := range cands {
		total += uint64(t.Weight)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if total == 0 {
		return []target{cands[s.rng.IntN(len(cands))]}
	}
	n := s.rng.Uint64N(total)
	for _, t := range cands {
		if n < uint64(t.Weight) {
			return []target{t}
		}
		n -= uint64(t.Weight)
	}
	return cands[len(cands)-1:] // unreachable
}
