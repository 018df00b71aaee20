package s3

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // Content-MD5
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/store"
)

// ObjectMeta is what a client stores with an object besides its bytes.
type ObjectMeta struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	// User holds x-amz-meta-* headers, by lower-case name without the prefix.
	User map[string]string
}

func (m *ObjectMeta) apply(v *Version) {
	v.ContentType, v.ContentEncoding, v.ContentDisposition = m.ContentType, m.ContentEncoding, m.ContentDisposition
	v.ContentLanguage, v.CacheControl, v.Expires = m.ContentLanguage, m.CacheControl, m.Expires
	if len(m.User) > 0 {
		v.UserMeta = m.User
	}
}

// Meta returns the version's metadata.
func (v *Version) Meta() ObjectMeta {
	return ObjectMeta{ContentType: v.ContentType, ContentEncoding: v.ContentEncoding, ContentDisposition: v.ContentDisposition,
		ContentLanguage: v.ContentLanguage, CacheControl: v.CacheControl, Expires: v.Expires, User: v.UserMeta}
}

func (m *ObjectMeta) size() int {
	n := 0
	for k, v := range m.User {
		n += len(k) + len(v)
	}
	return n
}

// Conditions are a write's preconditions (If-Match, If-None-Match: *).
type Conditions struct {
	IfMatch     string
	IfNoneMatch string
}

// Body is a request body and what the client claims about it.
type Body struct {
	R io.Reader
	// Size is the length the client declared (-1: unknown).
	Size int64
	// ContentMD5 is the Content-MD5 header (base64), if any.
	ContentMD5 string
	// Checksums are x-amz-checksum-<alg> headers, by algorithm (upper case).
	Checksums map[string]string
	// Algorithm is the checksum the client asked to be computed and stored
	// (x-amz-sdk-checksum-algorithm / x-amz-checksum-algorithm).
	Algorithm string
	// Trailer is filled with trailing checksum headers once R returns EOF
	// (aws-chunked uploads); nil when there is none.
	Trailer http.Header
}

// PutInput is a PutObject.
type PutInput struct {
	Bucket, Key string
	Body        Body
	Meta        ObjectMeta
	Tags        []Tag
	Conditions  Conditions
}

// checkKey validates an object key.
func checkKey(key string) error {
	if key == "" {
		return errorf(CodeInvalidArgument, "The object key must not be empty.")
	}
	if len(key) > MaxKeyLength {
		return &Error{Code: CodeKeyTooLong, Message: "Your key is too long", Key: key[:64] + "…"}
	}
	return nil
}

// received is a body written to a temporary file and verified.
type received struct {
	tmp  *temp
	size int64
	d    *digester
}

// prepare validates what a body's headers claim and returns the expected
// MD5 and the algorithms to compute.
func prepare(b Body) (md5Want []byte, algs []string, err error) {
	if b.ContentMD5 != "" {
		raw, err := base64.StdEncoding.DecodeString(b.ContentMD5)
		if err != nil || len(raw) != md5.Size {
			return nil, nil, errorf(CodeInvalidDigest, "The Content-MD5 you specified is not valid.")
		}
		md5Want = raw
	}
	algs = []string{b.Algorithm}
	for a := range b.Checksums {
		algs = append(algs, a)
	}
	for _, a := range algs {
		if a != "" && NewHash(a) == nil {
			return nil, nil, errorf(CodeInvalidRequest, "Checksum algorithm %q is not supported; use one of %s.", a, strings.Join(Algorithms, ", "))
		}
	}
	for name := range b.Trailer {
		if a, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-"); ok {
			algs = append(algs, strings.ToUpper(a))
		}
	}
	return md5Want, algs, nil
}

// check compares what was received with what the client claimed.
func check(b Body, d *digester, md5Want []byte) error {
	if b.Size >= 0 && d.n != b.Size {
		return errorf(CodeIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	if md5Want != nil && !bytes.Equal(md5Want, d.md5.Sum(nil)) {
		return errorf(CodeBadDigest, "The Content-MD5 you specified did not match what we received.")
	}
	sums := d.sums()
	want := map[string]string{}
	for a, v := range b.Checksums {
		want[strings.ToUpper(a)] = v
	}
	for name, vals := range b.Trailer {
		if a, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-"); ok && len(vals) > 0 {
			want[strings.ToUpper(a)] = vals[0]
		}
	}
	for a, v := range want {
		h := NewHash(a)
		if h == nil {
			return errorf(CodeInvalidRequest, "Checksum algorithm %q is not supported; use one of %s.", a, strings.Join(Algorithms, ", "))
		}
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != h.Size() {
			return errorf(CodeInvalidRequest, "Value for %s header is invalid.", ChecksumHeader(a))
		}
		if sums[a] != v {
			return errorf(CodeBadDigest, "The %s you specified did not match the calculated checksum.", a)
		}
	}
	return nil
}

func readErr(err error) error {
	var se *sigv4.Error
	if errors.As(err, &se) {
		return se
	}
	return &Error{Code: CodeIncompleteBody, Message: "The request body could not be read to its end: " + err.Error()}
}

// VerifyBody reads a body to its end and checks its length, Content-MD5 and
// checksums, for small request bodies (XML documents).
func VerifyBody(b Body) error {
	md5Want, algs, err := prepare(b)
	if err != nil {
		return err
	}
	d := newDigester(algs...)
	if _, err := io.Copy(d, b.R); err != nil {
		return readErr(err)
	}
	return check(b, d, md5Want)
}

// receive streams a body into a temporary file, hashing it, and checks its
// length, Content-MD5 and checksums. On error nothing is kept.
func (e *Engine) receive(b Body, limit int64) (*received, error) {
	if b.Size > limit {
		return nil, errorf(CodeEntityTooLarge, "Your proposed upload of %d bytes exceeds the maximum allowed size of %d bytes.", b.Size, limit)
	}
	md5Want, algs, err := prepare(b)
	if err != nil {
		return nil, err
	}
	d := newDigester(algs...)
	tmp, err := e.files.createTemp()
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			discard(tmp.File)
		}
	}()
	n, err := e.copyStream(io.MultiWriter(tmp, d), io.LimitReader(b.R, limit+1))
	if err != nil {
		return nil, readErr(err)
	}
	if n > limit {
		return nil, errorf(CodeEntityTooLarge, "Your proposed upload exceeds the maximum allowed size of %d bytes.", limit)
	}
	if err := check(b, d, md5Want); err != nil {
		return nil, err
	}
	ok = true
	return &received{tmp: tmp, size: n, d: d}, nil
}

// commitVersion commits a version whose bytes were received into rc (its
// id is rc's reserved id), with the metadata mutations build decides
// atomically against the bucket and object states. The bytes are made
// durable under their staged name, tmp/<id>.v, before the metadata commits
// and moved to their final name after, so a crash at any point leaves
// either no version or a version whose bytes are on disk (the start-up
// recovery finishes the move). If build or the commit fails, the bytes are
// removed.
func (e *Engine) commitVersion(ctx context.Context, bucket, key string, bucketID string, rc *received,
	build func(b *Bucket, st *store.State) ([]store.Mutation, error)) (store.Commit, error) {
	okey := objectKey(bucketID, key)
	if rc != nil {
		if err := e.files.stage(rc.tmp); err != nil {
			return store.Commit{}, err
		}
	}
	keys := append(bucketKeys(bucket), okey)
	c, err := e.st.Update(ctx, keys, func(states []*store.State) ([]store.Mutation, error) {
		b := bucketFrom(bucket, states[0], states[1], states[2])
		if b == nil || b.ID != bucketID {
			return nil, noSuchBucket(bucket)
		}
		return build(b, states[3])
	})
	if rc == nil {
		return c, err
	}
	if err != nil {
		_ = os.Remove(rc.tmp.Name())
		return c, err
	}
	if err := e.files.promote(rc.tmp.id); err != nil {
		// The metadata is committed and the bytes durable under their
		// staged name; the next start moves them.
		e.log.Error("moving committed object bytes into place", "id", rc.tmp.id, "err", err)
	}
	return c, nil
}

// checkConditions evaluates write preconditions against the current version.
func checkConditions(c Conditions, cur *Version, bucket, key string) error {
	exists := cur != nil && !cur.DeleteMarker
	if c.IfNoneMatch != "" {
		if c.IfNoneMatch != "*" {
			return errorf(CodeNotImplemented, "If-None-Match on a write supports only \"*\".")
		}
		if exists {
			return preconditionFailed(bucket, key)
		}
	}
	if c.IfMatch != "" {
		if !exists {
			return noSuchKey(bucket, key)
		}
		if !etagMatches(c.IfMatch, cur.ETag) {
			return preconditionFailed(bucket, key)
		}
	}
	return nil
}

// CodeNotImplemented is S3's code for functionality it does not implement.
const CodeNotImplemented = "NotImplemented"

// etagMatches evaluates an If-Match / If-None-Match list against an ETag.
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// newVersionMutations adds v to an object. With versioning enabled it is
// one more element of the versions set. Otherwise it replaces the null
// versions it observes: in a bucket that never had versioning, as a
// whole-item write of the base document, which is last-writer-wins across
// regions and drops everything written before it, so an object's state
// stays one version however often it is overwritten; in a suspended bucket,
// as a set element that removes the null elements observed.
func newVersionMutations(memo *versionMemo, okey store.Key, v *Version, cur *store.State, versioning string) []store.Mutation {
	if versioning == "" {
		muts := []store.Mutation{{Key: okey, Put: v.encode()}}
		all, live := allVersions(memo, cur)
		for _, old := range all {
			if live[old.ID] {
				muts = append(muts, store.Mutation{Key: store.Key{Space: okey.Space, Hash: okey.Hash, Range: []byte("t" + old.ID)}, Delete: true})
			}
		}
		return muts
	}
	var drop func(*Version) bool
	if versioning != "Enabled" {
		drop = func(old *Version) bool { return old.VersionID == nullVersion }
	}
	m, dead := removal(memo, okey, cur, versioning, drop)
	m.SetAdd = append(m.SetAdd, store.SetOp{Field: versionsField, Elems: [][]byte{v.encode()}})
	return append([]store.Mutation{m}, dead...)
}

// removal builds the mutation removing the live versions of cur that drop
// selects (none when drop is nil), and the deletions of their tag sets. A
// base version is removed by a tombstone while the bucket never had
// versioning, and hidden by a set element after (a whole-item write would
// drop the versioned elements written before it).
func removal(memo *versionMemo, okey store.Key, cur *store.State, versioning string, drop func(*Version) bool) (store.Mutation, []store.Mutation) {
	m := store.Mutation{Key: okey}
	var dead []store.Mutation
	if drop == nil {
		return m, nil
	}
	all, live := allVersions(memo, cur)
	var rm [][]byte
	for _, old := range all {
		if !live[old.ID] || !drop(old) {
			continue
		}
		dead = append(dead, store.Mutation{Key: store.Key{Space: okey.Space, Hash: okey.Hash, Range: []byte("t" + old.ID)}, Delete: true})
		switch {
		case !old.base:
			rm = append(rm, old.elem)
		case versioning == "":
			m.Delete = true
		default:
			m.SetAdd = append(m.SetAdd, store.SetOp{Field: hiddenField, Elems: [][]byte{[]byte(old.ID)}})
		}
	}
	if len(rm) > 0 {
		m.SetRemove = []store.SetOp{{Field: versionsField, Elems: rm}}
	}
	return m, dead
}

func empty(m store.Mutation) bool {
	return !m.Delete && m.Put == nil && len(m.SetAdd) == 0 && len(m.SetRemove) == 0
}

func (e *Engine) current(st *store.State) *Version {
	vs := versionsIn(e.versions, st, e.cfg.Region)
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

func (e *Engine) stamp(v *Version, c store.Commit) {
	v.tag = store.Tag{TS: c.TS, Origin: e.st.Origin()}
	v.Modified = time.Unix(0, c.TS.WallNanos).UTC()
}

// PutObject stores an object's bytes and a new version of it.
func (e *Engine) PutObject(ctx context.Context, in *PutInput) (*Version, error) {
	// The bucket's versioning and replication settings are read in the
	// commit, atomically with the write; here only its id (the object's
	// store Space).
	bid, err := e.bucketID(in.Bucket)
	if err != nil {
		return nil, err
	}
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	if in.Meta.size() > MaxUserMetadata {
		return nil, errorf(CodeMetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size of %d bytes.", MaxUserMetadata)
	}
	rc, err := e.receive(in.Body, e.cfg.MaxObjectSize)
	if err != nil {
		return nil, err
	}
	v := &Version{ID: rc.tmp.id, Origin: e.cfg.Region, Size: rc.size, ETag: rc.d.etag(), CRC: rc.d.crcHex(), Checksums: rc.d.sums()}
	if len(v.Checksums) > 0 {
		v.ChecksumType = "FULL_OBJECT"
	}
	in.Meta.apply(v)
	return e.putVersion(ctx, in.Bucket, in.Key, bid, rc, v, in.Tags, in.Conditions)
}

func (e *Engine) putVersion(ctx context.Context, bucket, key, bucketID string, rc *received, v *Version, tags []Tag, cond Conditions) (*Version, error) {
	okey := objectKey(bucketID, key)
	if rc.tmp.id != v.ID {
		panic("s3: a version's id is not the one its bytes were received under")
	}
	c, err := e.commitVersion(ctx, bucket, key, bucketID, rc, func(b *Bucket, st *store.State) ([]store.Mutation, error) {
		if err := checkConditions(cond, e.current(st), bucket, key); err != nil {
			return nil, err
		}
		v.VersionID = nullVersion
		if b.Versioning == "Enabled" {
			v.VersionID = newID(32)
		}
		v.Replicate = destinations(b.Replication, e.cfg.Regions, e.cfg.Region, key, tags, false)
		muts := newVersionMutations(e.versions, okey, v, st, b.Versioning)
		if len(tags) > 0 {
			muts = append(muts, store.Mutation{Key: tagKey(bucketID, key, v.ID), Put: encodeTags(tags)})
		}
		return muts, nil
	})
	if err != nil {
		return nil, err
	}
	e.stamp(v, c)
	e.m.written.Inc()
	return v, nil
}

// Object is a version being read.
type Object struct {
	Bucket, Key string
	*Version
	// ReplicationStatus is x-amz-replication-status ("" for none).
	ReplicationStatus string
	// TagCount is the number of tags (x-amz-tagging-count).
	TagCount int
	e        *Engine
}

// HeadObject returns an object's current version, or the one named by
// versionID ("null" names the null version).
func (e *Engine) HeadObject(bucket, key, versionID string) (*Object, error) {
	bid, err := e.bucketID(bucket)
	if err != nil {
		return nil, err
	}
	st, err := e.st.Get(objectKey(bid, key))
	if err != nil {
		return nil, err
	}
	v, err := e.pick(st, bucket, key, versionID)
	if err != nil {
		return nil, err
	}
	o := &Object{Bucket: bucket, Key: key, Version: v, ReplicationStatus: replicationStatus(st, v, e.cfg.Region), e: e}
	if tags, err := e.getTags(bid, key, v.ID); err == nil {
		o.TagCount = len(tags)
	}
	return o, nil
}

// pick finds the version a read addresses.
func (e *Engine) pick(st *store.State, bucket, key, versionID string) (*Version, error) {
	vs := versionsIn(e.versions, st, e.cfg.Region)
	if versionID == "" {
		if len(vs) == 0 {
			return nil, noSuchKey(bucket, key)
		}
		if vs[0].DeleteMarker {
			err := noSuchKey(bucket, key)
			err.DeleteMarker, err.VersionID = true, vs[0].VersionID
			return nil, err
		}
		return vs[0], nil
	}
	for _, v := range vs {
		if v.VersionID == versionID {
			if v.DeleteMarker {
				return nil, &Error{Code: CodeMethodNotAllowed, Message: "The specified method is not allowed against this resource.", Bucket: bucket, Key: key, VersionID: versionID, DeleteMarker: true}
			}
			return v, nil
		}
	}
	if versionID != nullVersion && !validVersionID(versionID) {
		return nil, &Error{Code: CodeInvalidArgument, Message: "Invalid version id specified", Bucket: bucket, Key: key, VersionID: versionID}
	}
	return nil, noSuchVersion(bucket, key, versionID)
}

func validVersionID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Open returns the bytes [off, off+n) of the object (n < 0: to the end). Bytes
// not yet replicated to this node are read from a region that has them.
func (o *Object) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if n < 0 {
		n = o.Size - off
	}
	unpin := o.e.files.pin(o.ID)
	f, err := os.Open(o.e.files.object(o.ID))
	if errors.Is(err, os.ErrNotExist) {
		// Committed bytes whose move into place failed are still staged.
		if sf, serr := os.Open(o.e.files.staged(o.ID)); serr == nil {
			f, err = sf, nil
		}
	}
	if err == nil {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			_ = f.Close()
			unpin()
			return nil, err
		}
		return &fileRange{LimitedReader: io.LimitedReader{R: f, N: n}, f: f, unpin: unpin}, nil
	}
	unpin()
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if o.Origin == o.e.cfg.Region {
		// Removed by a concurrent overwrite or delete after we read the
		// metadata.
		return nil, noSuchKey(o.Bucket, o.Key)
	}
	o.e.m.proxied.Inc()
	return o.e.fetchRange(ctx, o.Version, off, n)
}

// fileRange is a range of a local file, pinned while open.
type fileRange struct {
	io.LimitedReader
	f     *os.File
	unpin func()
}

func (r *fileRange) Close() error {
	err := r.f.Close()
	r.unpin()
	return err
}

// Direct returns the range as the *io.LimitedReader of an *os.File that
// net/http's response writer sends with sendfile(2).
func (r *fileRange) Direct() io.Reader { return &r.LimitedReader }

// DeleteResult says what a DeleteObject did.
type DeleteResult struct {
	VersionID    string
	DeleteMarker bool
}

// DeleteObject deletes an object (adding a delete marker in a versioned
// bucket) or, with versionID, one version of it.
func (e *Engine) DeleteObject(ctx context.Context, bucket, key, versionID string) (*DeleteResult, error) {
	bid, err := e.bucketID(bucket)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if versionID != "" && versionID != nullVersion && !validVersionID(versionID) {
		return nil, &Error{Code: CodeInvalidArgument, Message: "Invalid version id specified", Bucket: bucket, Key: key, VersionID: versionID}
	}
	okey := objectKey(bid, key)
	res := &DeleteResult{}
	var marker *Version
	_, err = e.commitVersion(ctx, bucket, key, bid, nil, func(b *Bucket, st *store.State) ([]store.Mutation, error) {
		*res = DeleteResult{}
		marker = nil
		var drop func(*Version) bool
		switch {
		case versionID != "":
			res.VersionID = versionID
			drop = func(v *Version) bool {
				if v.VersionID == versionID {
					res.DeleteMarker = res.DeleteMarker || v.DeleteMarker
					return true
				}
				return false
			}
		case b.Versioning != "Enabled":
			drop = func(v *Version) bool { return v.VersionID == nullVersion }
		}
		m, dead := removal(e.versions, okey, st, b.Versioning, drop)
		if versionID == "" && b.Versioning != "" {
			marker = &Version{ID: newID(versionIDLen), VersionID: nullVersion, Origin: e.cfg.Region, DeleteMarker: true}
			if b.Versioning == "Enabled" {
				marker.VersionID = newID(32)
			}
			marker.Replicate = destinations(b.Replication, e.cfg.Regions, e.cfg.Region, key, nil, true)
			res.VersionID, res.DeleteMarker = marker.VersionID, true
			m.SetAdd = append(m.SetAdd, store.SetOp{Field: versionsField, Elems: [][]byte{marker.encode()}})
		}
		if empty(m) {
			return nil, nil
		}
		return append([]store.Mutation{m}, dead...), nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CopyInput is a CopyObject.
type CopyInput struct {
	SrcBucket, SrcKey, SrcVersionID string
	Bucket, Key                     string
	// ReplaceMeta uses Meta (x-amz-metadata-directive: REPLACE) instead of
	// the source's metadata.
	ReplaceMeta bool
	Meta        ObjectMeta
	// ReplaceTags uses Tags (x-amz-tagging-directive: REPLACE).
	ReplaceTags bool
	Tags        []Tag
	Algorithm   string
	// Source preconditions (x-amz-copy-source-if-*).
	SrcIfMatch, SrcIfNoneMatch          string
	SrcIfModifiedSince, SrcIfUnmodSince time.Time
}

// CopyObject copies a version to a new object version, streaming its bytes.
func (e *Engine) CopyObject(ctx context.Context, in *CopyInput) (dst *Version, src *Object, err error) {
	src, err = e.HeadObject(in.SrcBucket, in.SrcKey, in.SrcVersionID)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckRead(src.Version, in.SrcIfMatch, in.SrcIfNoneMatch, in.SrcIfModifiedSince, in.SrcIfUnmodSince); err != nil {
		if errors.Is(err, ErrNotModified) {
			return nil, nil, preconditionFailed(in.SrcBucket, in.SrcKey)
		}
		return nil, nil, err
	}
	if in.SrcBucket == in.Bucket && in.SrcKey == in.Key && in.SrcVersionID == "" && !in.ReplaceMeta && in.Algorithm == "" {
		return nil, nil, errorf(CodeInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	bid, err := e.bucketID(in.Bucket)
	if err != nil {
		return nil, nil, err
	}
	if err := checkKey(in.Key); err != nil {
		return nil, nil, err
	}
	if src.Size > e.cfg.MaxObjectSize {
		return nil, nil, errorf(CodeInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", e.cfg.MaxObjectSize)
	}
	r, err := src.Open(ctx, 0, -1)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = r.Close() }()
	algs := ""
	if in.Algorithm != "" {
		algs = in.Algorithm
	} else {
		for a := range src.Checksums {
			if src.ChecksumType != "COMPOSITE" {
				algs = a
			}
		}
	}
	rc, err := e.receive(Body{R: r, Size: src.Size, Algorithm: algs}, e.cfg.MaxObjectSize)
	if err != nil {
		return nil, nil, err
	}
	if rc.d.crcHex() != src.CRC {
		discard(rc.tmp.File)
		return nil, nil, fmt.Errorf("copy source %s/%s version %s does not match its checksum", in.SrcBucket, in.SrcKey, src.VersionID)
	}
	v := &Version{ID: rc.tmp.id, Origin: e.cfg.Region, Size: rc.size, ETag: rc.d.etag(), CRC: rc.d.crcHex(), Checksums: rc.d.sums()}
	if len(v.Checksums) > 0 {
		v.ChecksumType = "FULL_OBJECT"
	}
	meta := src.Meta()
	if in.ReplaceMeta {
		meta = in.Meta
	}
	meta.apply(v)
	tags := in.Tags
	if !in.ReplaceTags {
		tags, _ = e.getTags(mustID(e, in.SrcBucket), in.SrcKey, src.ID)
	}
	dst, err = e.putVersion(ctx, in.Bucket, in.Key, bid, rc, v, tags, Conditions{})
	return dst, src, err
}

func mustID(e *Engine, bucket string) string {
	id, err := e.bucketID(bucket)
	if err != nil {
		return ""
	}
	return id
}

// ErrNotModified is CheckRead's answer for a 304.
var ErrNotModified = errors.New("not modified")

// CheckRead evaluates GET/HEAD preconditions as S3 does: If-Match and
// If-Unmodified-Since fail with PreconditionFailed (If-Match wins when both
// are given), If-None-Match and If-Modified-Since with ErrNotModified.
func CheckRead(v *Version, ifMatch, ifNoneMatch string, ifModSince, ifUnmodSince time.Time) error {
	mod := v.Modified.Truncate(time.Second)
	if ifMatch != "" {
		if !etagMatches(ifMatch, v.ETag) {
			return &Error{Code: CodePreconditionFailed, Message: "At least one of the pre-conditions you specified did not hold"}
		}
	} else if !ifUnmodSince.IsZero() && mod.After(ifUnmodSince) {
		return &Error{Code: CodePreconditionFailed, Message: "At least one of the pre-conditions you specified did not hold"}
	}
	if ifNoneMatch != "" {
		if etagMatches(ifNoneMatch, v.ETag) {
			return ErrNotModified
		}
	} else if !ifModSince.IsZero() && !mod.After(ifModSince) {
		return ErrNotModified
	}
	return nil
}
