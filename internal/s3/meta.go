package s3

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
)

// Keyspaces of the replicated store.
const (
	bucketSpace    = "s3b"
	objSpacePrefix = "s3:"
	versionsField  = "v" // set of version records
	replicasField  = "r" // set of "<id>\x00<region>[\x00F]" replica records
	hiddenField    = "x" // ids of base versions removed once the bucket had versioning
	nullVersion    = "null"
)

// bucketDoc is a bucket's main record (Range "").
type bucketDoc struct {
	ID      string `json:"id"`
	Created int64  `json:"created"` // unix nanoseconds
	Region  string `json:"region"`  // where it was created (LocationConstraint)
}

// versioningDoc is a bucket's versioning state (Range "v").
type versioningDoc struct {
	ID     string `json:"id"`
	Status string `json:"status"` // "", Enabled or Suspended
}

// replicationDoc is a bucket's replication configuration (Range "r").
type replicationDoc struct {
	ID     string             `json:"id"`
	Config *ReplicationConfig `json:"config"`
}

func bucketKey(name string) store.Key { return store.Key{Space: bucketSpace, Hash: []byte(name)} }
func versioningKey(name string) store.Key {
	return store.Key{Space: bucketSpace, Hash: []byte(name), Range: []byte("v")}
}
func replicationKey(name string) store.Key {
	return store.Key{Space: bucketSpace, Hash: []byte(name), Range: []byte("r")}
}

func objectKey(bucketID, key string) store.Key {
	return store.Key{Space: objSpacePrefix + bucketID, Hash: []byte(key)}
}

func tagKey(bucketID, key, id string) store.Key {
	return store.Key{Space: objSpacePrefix + bucketID, Hash: []byte(key), Range: []byte("t" + id)}
}

// Version is one immutable version of an object (or a delete marker) as the
// store keeps it. Modified and the replication fields are filled in from the
// item state when read.
type Version struct {
	// ID is internal and unique: it names the data file.
	ID string `json:"i"`
	// VersionID is what S3 shows: random for versioned writes, "null" else.
	VersionID string `json:"v"`
	// Origin is the region that accepted the write.
	Origin       string `json:"o"`
	DeleteMarker bool   `json:"d,omitempty"`
	Size         int64  `json:"s,omitempty"`
	// ETag is the hex MD5 (or "<md5 of part md5s>-<parts>"), unquoted.
	ETag string `json:"e,omitempty"`
	// CRC is the CRC64NVME of the bytes in hex: the engine's own integrity
	// check, verified by replication.
	CRC                string            `json:"c,omitempty"`
	ContentType        string            `json:"ct,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	Expires            string            `json:"ex,omitempty"`
	UserMeta           map[string]string `json:"m,omitempty"`
	// Checksums holds the S3 checksums requested at upload, base64, by
	// algorithm; ChecksumType is FULL_OBJECT or COMPOSITE.
	Checksums    map[string]string `json:"k,omitempty"`
	ChecksumType string            `json:"kt,omitempty"`
	Parts        int               `json:"p,omitempty"`
	// Replicate lists the regions the bytes go to, decided by the bucket's
	// replication configuration when the version was written.
	Replicate []string `json:"r,omitempty"`

	// Modified is the wall time of the write's HLC timestamp.
	Modified time.Time `json:"-"`
	tag      store.Tag
	elem     []byte
	base     bool // kept as the item's base document, not a set element
}

// encode is the version's record, the element of the versions set.
func (v *Version) encode() []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("s3: encoding a version record: " + err.Error())
	}
	return b
}

// Tag is the version's store tag (its HLC timestamp and origin).
func (v *Version) Tag() store.Tag { return v.tag }

// visibleIn reports whether the version belongs in region's view.
func (v *Version) visibleIn(region string) bool {
	return v.Origin == region || slices.Contains(v.Replicate, region)
}

// liveTag returns the greatest add tag of el that no remove observed.
func liveTag(el *store.SetElem) (store.Tag, bool) {
	var best store.Tag
	ok := false
	for _, a := range el.Adds {
		removed := false
		for _, r := range el.Removes {
			if r.Compare(a) == 0 {
				removed = true
				break
			}
		}
		if !removed && (!ok || best.Compare(a) < 0) {
			best, ok = a, true
		}
	}
	return best, ok
}

// versionMemo remembers decoded version records by their bytes: a record
// is immutable, and every write decoded its object's records several times
// (the write's build, the indexer's old and new states, the collector's
// reindex, the replica's record), a visible share of a small PUT's CPU.
// A nil memo decodes every time.
type versionMemo struct {
	mu sync.Mutex
	m  map[string]*Version // pristine decodes: no tag, Modified, elem or base
}

// maxMemo bounds the memo; it is emptied when full.
const maxMemo = 4096

// decode decodes a version record, or returns nil for a malformed one. The
// caller owns the result (a copy of the remembered decode; its maps and
// Replicate are shared and must not be modified).
func (m *versionMemo) decode(doc []byte) *Version {
	if m == nil {
		return unmarshalVersion(doc)
	}
	m.mu.Lock()
	v, ok := m.m[string(doc)]
	m.mu.Unlock()
	if ok {
		c := *v
		return &c
	}
	return m.add(string(doc), doc)
}

// decodeString is decode of a record held as a string (a set element).
func (m *versionMemo) decodeString(doc string) *Version {
	if m == nil {
		return unmarshalVersion([]byte(doc))
	}
	m.mu.Lock()
	v, ok := m.m[doc]
	m.mu.Unlock()
	if ok {
		c := *v
		return &c
	}
	return m.add(doc, []byte(doc))
}

func (m *versionMemo) add(key string, doc []byte) *Version {
	v := unmarshalVersion(doc)
	if v == nil {
		return nil
	}
	c := *v
	m.mu.Lock()
	if m.m == nil || len(m.m) >= maxMemo {
		m.m = make(map[string]*Version)
	}
	m.m[key] = &c
	m.mu.Unlock()
	return v
}

func unmarshalVersion(doc []byte) *Version {
	v := &Version{}
	if err := json.Unmarshal(doc, v); err != nil || v.ID == "" {
		return nil
	}
	return v
}

// allVersions decodes every version record of an object state, live or not.
// live reports, per internal id, whether the record is live.
func allVersions(memo *versionMemo, st *store.State) (vs []*Version, live map[string]bool) {
	live = map[string]bool{}
	if st == nil {
		return nil, live
	}
	// A bucket that never had versioning keeps its one version as the base
	// document (last writer wins, bounded state); see newVersionMutations.
	if !st.Base.Tag.IsZero() && !st.Base.Deleted && len(st.Base.Doc) > 0 {
		hidden := false
		if el := st.Sets[hiddenField][v0ID(st.Base.Doc)]; el != nil {
			_, hidden = liveTag(el)
		}
		if v := memo.decode(st.Base.Doc); v != nil && !hidden {
			v.base = true
			v.tag = st.Base.Tag
			v.Modified = time.Unix(0, v.tag.TS.WallNanos).UTC()
			live[v.ID] = true
			vs = append(vs, v)
		}
	}
	for elem, el := range st.Sets[versionsField] {
		v := memo.decodeString(elem)
		if v == nil {
			continue
		}
		v.elem = []byte(elem)
		t, ok := liveTag(el)
		if !ok && len(el.Adds) > 0 {
			t = el.Adds[len(el.Adds)-1]
		}
		v.tag = t
		v.Modified = time.Unix(0, t.TS.WallNanos).UTC()
		live[v.ID] = ok
		vs = append(vs, v)
	}
	sortVersions(vs)
	return vs, live
}

// sortVersions orders newest first by (timestamp, origin), as items are.
func sortVersions(vs []*Version) {
	slices.SortFunc(vs, func(a, b *Version) int {
		if c := b.tag.Compare(a.tag); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// versionsIn returns the live versions of st visible in region, newest
// first. Of several live null versions (concurrent unversioned writes in two
// regions) only the newest counts; the others are shadowed and left out.
func versionsIn(memo *versionMemo, st *store.State, region string) []*Version {
	all, live := allVersions(memo, st)
	return visible(all, live, region)
}

// visible is versionsIn of a state already decoded by allVersions.
func visible(all []*Version, live map[string]bool, region string) []*Version {
	var out []*Version
	seenNull := false
	for _, v := range all {
		if !live[v.ID] || !v.visibleIn(region) {
			continue
		}
		if v.VersionID == nullVersion {
			if seenNull {
				continue
			}
			seenNull = true
		}
		out = append(out, v)
	}
	return out
}

// replicaState reports, for a version, which regions recorded its bytes and
// which gave up.
func replicaState(st *store.State, id string) (done, failed map[string]bool) {
	done, failed = map[string]bool{}, map[string]bool{}
	if st == nil {
		return done, failed
	}
	for elem, el := range st.Sets[replicasField] {
		if _, ok := liveTag(el); !ok {
			continue
		}
		parts := strings.Split(elem, "\x00")
		if len(parts) < 2 || parts[0] != id {
			continue
		}
		if len(parts) == 3 && parts[2] == "F" {
			failed[parts[1]] = true
		} else {
			done[parts[1]] = true
		}
	}
	return done, failed
}

// heldIn returns the ids of the versions of st whose bytes region recorded
// (live, not failed, replica records).
func heldIn(st *store.State, region string) map[string]bool {
	if st == nil || len(st.Sets[replicasField]) == 0 {
		return nil
	}
	var out map[string]bool
	for elem, el := range st.Sets[replicasField] {
		id, r, ok := strings.Cut(elem, "\x00")
		if !ok || r != region {
			continue
		}
		if _, live := liveTag(el); !live {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		out[id] = true
	}
	return out
}

// Replication statuses (x-amz-replication-status).
const (
	ReplicationPending   = "PENDING"
	ReplicationCompleted = "COMPLETED"
	ReplicationFailed    = "FAILED"
	ReplicationReplica   = "REPLICA"
)

// replicationStatus is the x-amz-replication-status of v as region sees it.
func replicationStatus(st *store.State, v *Version, region string) string {
	if v.Origin != region {
		if slices.Contains(v.Replicate, region) {
			return ReplicationReplica
		}
		return ""
	}
	if len(v.Replicate) == 0 || v.DeleteMarker {
		return ""
	}
	done, failed := replicaState(st, v.ID)
	status := ReplicationCompleted
	for _, r := range v.Replicate {
		switch {
		case done[r]:
		case failed[r]:
			if status == ReplicationCompleted {
				status = ReplicationFailed
			}
		default:
			status = ReplicationPending
		}
	}
	return status
}

func replicaElem(id, region string, failed bool) []byte {
	s := id + "\x00" + region
	if failed {
		s += "\x00F"
	}
	return []byte(s)
}

// v0ID extracts the id of an encoded version cheaply enough for a lookup:
// encode writes it first.
func v0ID(doc []byte) string {
	if rest, ok := bytes.CutPrefix(doc, []byte(`{"i":"`)); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i])
		}
	}
	var v struct {
		ID string `json:"i"`
	}
	_ = json.Unmarshal(doc, &v)
	return v.ID
}
