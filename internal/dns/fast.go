package dns

import (
	"encoding/binary"
	"net"

	mdns "github.com/miekg/dns"
)

// The fast path answers the most common UDP queries without building
// miekg/dns messages: a plain query (one question of class IN, at most an
// OPT record of version 0 with no option but EDNS Client Subnet) for the A,
// AAAA or TXT record set of a name, whose answer always fits in 512 bytes.
// The query is parsed by hand, the routing policy chooses as for any other
// query (choose, locate), and the answer is assembled from the targets'
// records compiled to wire form with SetZones, the owner name a compression
// pointer to the question. Everything else, and every query the fast path
// declines, takes the general path (Unpack, answer, fit, Pack), which
// produces the same bytes: TestFastPathAgrees and FuzzFastPath check that.

// fastMaxRecords is the most bytes a fast record set's records may take so
// that its answer fits in 512 bytes with the longest question (255 + 4),
// the header (12) and an OPT record with the longest ECS option (11 + 24).
const fastMaxRecords = 512 - 12 - 259 - 35

// compileFast indexes the record sets the fast path answers, by lower-case
// wire-format name and type, and compiles their targets' records.
func (t *table) compileFast() error {
	t.fast = map[string]*rrset{}
	for _, z := range t.zones {
		for k, rs := range z.sets {
			switch k.qtype {
			case mdns.TypeA, mdns.TypeAAAA, mdns.TypeTXT:
			default:
				continue
			}
			if t.find(k.name) != z {
				continue // occluded by a zone below
			}
			name := make([]byte, 256)
			n, err := mdns.PackDomainName(k.name, name, 0, nil, false)
			if err != nil {
				return err
			}
			total := 0
			for i := range rs.targets {
				rr := mdns.Copy(rs.targets[i].rr)
				b := make([]byte, mdns.Len(rr)+1)
				off, err := mdns.PackRR(rr, b, 0, nil, false)
				if err != nil {
					return err
				}
				rs.targets[i].wire = b[n:off] // type, class, TTL, length, data
				total += 2 + off - n
			}
			if total <= fastMaxRecords {
				t.fast[string(name[:n])+string([]byte{byte(k.qtype >> 8), byte(k.qtype)})] = rs //nolint:gosec // G115: the two bytes of qtype, high then low
			}
		}
	}
	return nil
}

// fastQuery is a query parsed by parseFast.
type fastQuery struct {
	id, bits uint16
	question []byte // name, type and class as sent
	key      []byte // lower-case name and type: the index of table.fast
	edns     bool
	bufSize  uint16 // the OPT record's UDP payload size
	ecs      bool
	family   uint16
	mask     uint8
	addr     []byte // ECS address bytes as sent
}

const (
	bitQR = 1 << 15
	bitAA = 1 << 10
	bitRD = 1 << 8
	bitCD = 1 << 4
)

// parseFast parses m if the fast path may answer it; key is scratch space
// for the index key. Whatever it accepts, miekg/dns accepts and unpacks
// without error.
func parseFast(m []byte, key []byte) (q fastQuery, ok bool) {
	if len(m) < 12+1+4 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(m)
	q.bits = binary.BigEndian.Uint16(m[2:])
	if q.bits&bitQR != 0 || (q.bits>>11)&0xF != mdns.OpcodeQuery ||
		binary.BigEndian.Uint16(m[4:]) != 1 || binary.BigEndian.Uint16(m[6:]) != 0 ||
		binary.BigEndian.Uint16(m[8:]) != 0 {
		return q, false
	}
	arcount := binary.BigEndian.Uint16(m[10:])
	if arcount > 1 {
		return q, false
	}
	off := 12
	key = key[:0]
	for {
		if off >= len(m) {
			return q, false
		}
		l := int(m[off])
		if l == 0 {
			break
		}
		if l > 63 || off+1+l >= len(m) || off+1+l-12 > 254 {
			return q, false
		}
		key = append(key, byte(l))
		for _, c := range m[off+1 : off+1+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				return q, false // escapes in presentation form: leave it to miekg
			}
			key = append(key, c)
		}
		off += 1 + l
	}
	if off == 12 || off+5 > len(m) {
		return q, false // the root, or no type and class
	}
	key = append(key, 0, m[off+1], m[off+2])
	if binary.BigEndian.Uint16(m[off+3:]) != mdns.ClassINET {
		return q, false
	}
	q.question, q.key = m[12:off+5], key
	off += 5
	if arcount == 0 {
		return q, off == len(m)
	}
	// OPT: root name, type, payload size, extended rcode and version,
	// flags, data length.
	if off+11 > len(m) || m[off] != 0 || binary.BigEndian.Uint16(m[off+1:]) != mdns.TypeOPT || m[off+6] != 0 {
		return q, false
	}
	q.edns, q.bufSize = true, binary.BigEndian.Uint16(m[off+3:])
	rdlen := int(binary.BigEndian.Uint16(m[off+9:]))
	off += 11
	if off+rdlen != len(m) {
		return q, false
	}
	if rdlen == 0 {
		return q, true
	}
	// One option, EDNS Client Subnet, valid as RFC 7871 asks, the address
	// exactly as long as the source prefix.
	if rdlen < 8 || binary.BigEndian.Uint16(m[off:]) != mdns.EDNS0SUBNET ||
		int(binary.BigEndian.Uint16(m[off+2:])) != rdlen-4 {
		return q, false
	}
	q.ecs = true
	q.family, q.mask = binary.BigEndian.Uint16(m[off+4:]), m[off+6]
	q.addr = m[off+8 : off+rdlen]
	maxBits := uint8(32)
	if q.family == 2 {
		maxBits = 128
	}
	if q.family != 1 && q.family != 2 || q.mask > maxBits || m[off+7] != 0 ||
		len(q.addr) != (int(q.mask)+7)/8 {
		return q, false
	}
	return q, true
}

// answerFast answers q from src into buf if the fast path can: the name's
// record set is indexed and the policy chose at least one target.
func (s *Server) answerFast(q *fastQuery, src net.IP, buf []byte) (_ []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil { // the general path answers SERVFAIL
			s.log.Error("panic answering query on the fast path", "err", r)
			ok = false
		}
	}()
	rs := s.zones.Load().fast[string(q.key)]
	if rs == nil {
		return nil, false
	}
	client := src
	if q.ecs && q.mask > 0 {
		client = make(net.IP, net.IPv6len) // as miekg/dns unpacks it
		if q.family == 1 {
			copy(client, net.IPv4(0, 0, 0, 0))
			copy(client[12:], q.addr)
		} else {
			copy(client, q.addr)
		}
	}
	location, scope := s.locate(client)
	chosen, dependsOnLocation := s.choose(rs, location)
	if len(chosen) == 0 {
		return nil, false // NODATA: the general path adds the SOA
	}
	s.m.queries.Add(1)
	b := buf[:0]
	arcount := 0
	if q.edns {
		arcount = 1
	}
	b = binary.BigEndian.AppendUint16(b, q.id)
	b = binary.BigEndian.AppendUint16(b, bitQR|bitAA|q.bits&(bitRD|bitCD))
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(chosen))) //nolint:gosec // G115: a fast record set fits in fastMaxRecords bytes
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(arcount))
	b = append(b, q.question...)
	for _, t := range chosen {
		b = append(b, 0xc0, 12) // the owner is the question's name
		b = append(b, t.wire...)
	}
	if q.edns {
		b = append(b, 0)
		b = binary.BigEndian.AppendUint16(b, mdns.TypeOPT)
		b = binary.BigEndian.AppendUint16(b, s.cfg.MaxUDPSize)
		b = append(b, 0, 0, 0, 0)
		if !q.ecs {
			b = append(b, 0, 0)
		} else {
			n := len(q.addr)
			b = binary.BigEndian.AppendUint16(b, uint16(4+4+n)) //nolint:gosec // G115: parseFast keeps addresses of at most 16 bytes
			b = binary.BigEndian.AppendUint16(b, mdns.EDNS0SUBNET)
			b = binary.BigEndian.AppendUint16(b, uint16(4+n)) //nolint:gosec // G115: parseFast keeps addresses of at most 16 bytes
			b = binary.BigEndian.AppendUint16(b, q.family)
			sc := uint8(0)
			if dependsOnLocation && q.mask > 0 {
				sc = uint8(scope) //nolint:gosec // G115: scope is a prefix length (at most 128), or -1 and replaced below
				if scope < 0 {
					sc = q.mask
				}
			}
			b = append(b, q.mask, sc)
			b = append(b, q.addr...)
			if r := q.mask % 8; r != 0 {
				b[len(b)-1] &= 0xff << (8 - r)
			}
		}
	}
	s.m.answerCounter(true, mdns.RcodeSuccess).Inc()
	return b, true
}
