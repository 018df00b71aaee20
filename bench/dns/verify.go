package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// verification compares the two servers' answers to the distinct queries of
// the mix, so that "equivalent zone" is checked, not assumed.
type verification struct {
	Queries int `json:"queries"`
	// Identical answers: same rcode, flags and sections, record for record.
	Identical int `json:"identical"`
	// PolicySameShape are answers for routing-policy names with the same
	// rcode and the same number and types of records in every section;
	// PolicyOtherChoice of them chose other records than Knot's static
	// equivalent (another region for another client subnet, a weighted or
	// multivalue draw).
	PolicySameShape   int `json:"policy_same_shape"`
	PolicyOtherChoice int `json:"policy_other_choice"`
	// Different answers are anything else: the zones are not equivalent.
	Different int      `json:"different"`
	Examples  []string `json:"examples,omitempty"`
	// ECSEchoed counts answers carrying an ECS option, per server.
	MeridianECS int `json:"meridian_ecs_echoed"`
	KnotECS     int `json:"knot_ecs_echoed"`
	ECSQueries  int `json:"ecs_queries"`
	// Bytes of all answers on the wire, per server.
	MeridianBytes int `json:"meridian_answer_bytes"`
	KnotBytes     int `json:"knot_answer_bytes"`
}

// exchange sends q from source to server over UDP and returns the answer
// and its size on the wire.
func exchange(ctx context.Context, q query, source, server string) (*mdns.Msg, int, error) {
	m := q.msg()
	m.Id = mdns.Id()
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, err
	}
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.UDPAddr{IP: net.ParseIP(source)}}
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = c.Close() }()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return nil, 0, err
	}
	if _, err := c.Write(wire); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, mdns.MaxMsgSize)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, 0, err
		}
		r := new(mdns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			return nil, 0, fmt.Errorf("unpacking the answer: %w", err)
		}
		if r.Id == m.Id {
			return r, n, nil
		}
	}
}

func verify(ctx context.Context, o options, z benchZone, qs []query, knot, meridian string) (verification, error) {
	var v verification
	seen := map[query]bool{}
	for _, q := range qs {
		q.kind = ""
		if seen[q] || len(seen) >= o.verifyLimit {
			continue
		}
		seen[q] = true
		kr, kn, err := exchange(ctx, q, o.source, knot)
		if err != nil {
			return v, fmt.Errorf("verifying: knot %s %s: %w", q.name, mdns.TypeToString[q.qtype], err)
		}
		mr, mn, err := exchange(ctx, q, o.source, meridian)
		if err != nil {
			return v, fmt.Errorf("verifying: meridian %s %s: %w", q.name, mdns.TypeToString[q.qtype], err)
		}
		v.Queries++
		v.KnotBytes += kn
		v.MeridianBytes += mn
		if q.ecs != "" {
			v.ECSQueries++
			if hasECS(kr) {
				v.KnotECS++
			}
			if hasECS(mr) {
				v.MeridianECS++
			}
		}
		_, isPolicy := z.policy[strings.ToLower(q.name)]
		switch {
		case sameAnswer(kr, mr):
			v.Identical++
		case isPolicy && sameShape(kr, mr):
			v.PolicySameShape++
			if !slices.Equal(sectionStrings(kr.Answer), sectionStrings(mr.Answer)) {
				v.PolicyOtherChoice++
			}
		default:
			v.Different++
			if len(v.Examples) < 3 {
				v.Examples = append(v.Examples, fmt.Sprintf("query %s %s ecs=%q edns=%v\n--- knot:\n%s\n--- meridian:\n%s",
					q.name, mdns.TypeToString[q.qtype], q.ecs, q.edns, kr, mr))
			}
		}
	}
	return v, nil
}

func (v verification) print(w io.Writer) {
	fmt.Fprintf(w, "equivalence check, %d distinct queries to both servers: %d identical answers, %d routing-policy answers of the same shape (%d with another choice than Knot's static one), %d different\n",
		v.Queries, v.Identical, v.PolicySameShape, v.PolicyOtherChoice, v.Different)
	fmt.Fprintf(w, "  ECS echoed in answers to the %d queries with ECS: Meridian %d, Knot %d (Knot has no ECS support configured and ignores the option)\n",
		v.ECSQueries, v.MeridianECS, v.KnotECS)
	if v.KnotBytes > 0 {
		fmt.Fprintf(w, "  answer size on the wire, mean: Meridian %.0f B, Knot %.0f B (%+.0f%%)\n",
			float64(v.MeridianBytes)/float64(v.Queries), float64(v.KnotBytes)/float64(v.Queries),
			100*(float64(v.MeridianBytes)/float64(v.KnotBytes)-1))
	}
	if v.Different > 0 {
		procs.Loud("%d ANSWERS DIFFER BETWEEN KNOT AND MERIDIAN: the zones are not equivalent", v.Different)
		for _, e := range v.Examples {
			fmt.Fprintln(w, e)
		}
	}
}

func hasECS(m *mdns.Msg) bool {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if _, ok := o.(*mdns.EDNS0_SUBNET); ok {
				return true
			}
		}
	}
	return false
}

// sectionStrings is a section's records as sorted zone-file lines, without
// the OPT pseudo-record.
func sectionStrings(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		out = append(out, strings.ToLower(rr.String()))
	}
	slices.Sort(out)
	return out
}

func sectionTypes(rrs []mdns.RR) []uint16 {
	var out []uint16
	for _, rr := range rrs {
		if rr.Header().Rrtype != mdns.TypeOPT {
			out = append(out, rr.Header().Rrtype)
		}
	}
	slices.Sort(out)
	return out
}

func sameFlags(a, b *mdns.Msg) bool {
	return a.Rcode == b.Rcode && a.Authoritative == b.Authoritative && a.Truncated == b.Truncated &&
		(a.IsEdns0() == nil) == (b.IsEdns0() == nil)
}

func sameAnswer(a, b *mdns.Msg) bool {
	return sameFlags(a, b) &&
		slices.Equal(sectionStrings(a.Answer), sectionStrings(b.Answer)) &&
		slices.Equal(sectionStrings(a.Ns), sectionStrings(b.Ns)) &&
		slices.Equal(sectionStrings(a.Extra), sectionStrings(b.Extra))
}

func sameShape(a, b *mdns.Msg) bool {
	return sameFlags(a, b) &&
		slices.Equal(sectionTypes(a.Answer), sectionTypes(b.Answer)) &&
		slices.Equal(sectionTypes(a.Ns), sectionTypes(b.Ns)) &&
		slices.Equal(sectionTypes(a.Extra), sectionTypes(b.Extra))
}
