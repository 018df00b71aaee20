package s3

import (
	"context"
	"crypto/md5" //nolint:gosec // multipart ETag
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Multipart uploads are local to the region node that created them: their
// parts are files under uploads/<id>/, and the object they make replicates
// like any other once completed. A client completes an upload in the region
// it started it in.

// Upload is a multipart upload in progress.
type Upload struct {
	ID        string     `json:"id"`
	Bucket    string     `json:"bucket"`
	BucketID  string     `json:"bucket_id"`
	Key       string     `json:"key"`
	Initiated time.Time  `json:"initiated"`
	Meta      ObjectMeta `json:"meta"`
	Tags      []Tag      `json:"tags,omitempty"`
	Algorithm string     `json:"algorithm,omitempty"`
}

// Part is an uploaded part.
type Part struct {
	Number    int               `json:"n"`
	File      string            `json:"file"`
	Size      int64             `json:"size"`
	ETag      string            `json:"etag"`
	Checksums map[string]string `json:"checksums,omitempty"`
	Modified  time.Time         `json:"modified"`
}

// CompletedPart is one part named in CompleteMultipartUpload.
type CompletedPart struct {
	Number    int
	ETag      string
	Checksums map[string]string
}

type uploadLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (l *uploadLocks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	m := l.m[id]
	if m == nil {
		m = &sync.Mutex{}
		l.m[id] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (e *Engine) uploadFile(id string) string {
	return filepath.Join(e.files.upload(id), "upload.json")
}

// CreateMultipartUpload starts an upload and returns it.
func (e *Engine) CreateMultipartUpload(bucket, key string, meta ObjectMeta, tags []Tag, algorithm string) (*Upload, error) {
	b, err := e.Bucket(bucket)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ValidateTags(tags); err != nil {
		return nil, err
	}
	if algorithm != "" && NewHash(algorithm) == nil {
		return nil, errorf(CodeInvalidRequest, "Checksum algorithm %q is not supported; use one of %s.", algorithm, strings.Join(Algorithms, ", "))
	}
	if meta.size() > MaxUserMetadata {
		return nil, errorf(CodeMetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size of %d bytes.", MaxUserMetadata)
	}
	u := &Upload{ID: newID(48), Bucket: bucket, BucketID: b.ID, Key: key, Initiated: e.cfg.Now().UTC(), Meta: meta, Tags: tags, Algorithm: strings.ToUpper(algorithm)}
	if err := os.MkdirAll(e.files.upload(u.ID), 0o700); err != nil {
		return nil, err
	}
	if err := e.files.writeJSONFile(e.uploadFile(u.ID), u); err != nil {
		_ = os.RemoveAll(e.files.upload(u.ID))
		return nil, fmt.Errorf("recording upload: %w", err)
	}
	return u, nil
}

// upload loads an upload and checks that it belongs to bucket/key.
func (e *Engine) upload(bucket, key, id string) (*Upload, error) {
	b, err := e.Bucket(bucket)
	if err != nil {
		return nil, err
	}
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, noSuchUpload(bucket, key, id)
	}
	var u Upload
	if err := readJSONFile(e.uploadFile(id), &u); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, noSuchUpload(bucket, key, id)
		}
		return nil, err
	}
	if u.BucketID != b.ID || u.Key != key {
		return nil, noSuchUpload(bucket, key, id)
	}
	return &u, nil
}

// UploadPart stores one part (replacing an earlier upload of the same
// number).
func (e *Engine) UploadPart(_ context.Context, bucket, key, uploadID string, number int, body Body) (*Part, error) {
	if number < 1 || number > MaxParts {
		return nil, errorf(CodeInvalidArgument, "Part number must be an integer between 1 and %d, inclusive", MaxParts)
	}
	u, err := e.upload(bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	if body.Algorithm == "" {
		body.Algorithm = u.Algorithm
	}
	rc, err := e.receive(body, e.cfg.MaxPartSize)
	if err != nil {
		return nil, err
	}
	p := &Part{Number: number, File: strconv.Itoa(number) + "." + newID(8), Size: rc.size, ETag: rc.d.etag(), Checksums: rc.d.sums(), Modified: e.cfg.Now().UTC()}
	unlock := e.locks.lock(uploadID)
	defer unlock()
	if _, err := os.Stat(e.uploadFile(uploadID)); err != nil {
		discard(rc.tmp.File)
		return nil, noSuchUpload(bucket, key, uploadID)
	}
	dir := e.files.upload(uploadID)
	var old Part
	hadOld := readJSONFile(filepath.Join(dir, strconv.Itoa(number)+".json"), &old) == nil
	if err := place(rc.tmp.File, filepath.Join(dir, p.File), syncer(dir)); err != nil {
		_ = os.Remove(rc.tmp.Name())
		return nil, err
	}
	if err := e.files.writeJSONFile(filepath.Join(dir, strconv.Itoa(number)+".json"), p); err != nil {
		_ = os.Remove(filepath.Join(dir, p.File))
		return nil, err
	}
	if hadOld && old.File != "" && old.File != p.File {
		_ = os.Remove(filepath.Join(dir, filepath.Base(old.File)))
	}
	return p, nil
}

// parts lists an upload's parts by number.
func (e *Engine) parts(id string) ([]*Part, error) {
	dir := e.files.upload(id)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*Part
	for _, ent := range ents {
		name := ent.Name()
		if !strings.HasSuffix(name, ".json") || name == "upload.json" {
			continue
		}
		var p Part
		if err := readJSONFile(filepath.Join(dir, name), &p); err != nil {
			return nil, fmt.Errorf("reading part record %s: %w", name, err)
		}
		out = append(out, &p)
	}
	slices.SortFunc(out, func(a, b *Part) int { return a.Number - b.Number })
	return out, nil
}

// ListParts lists the parts after marker (a part number), at most max.
func (e *Engine) ListParts(bucket, key, uploadID string, marker, max int) (u *Upload, parts []*Part, truncated bool, err error) {
	u, err = e.upload(bucket, key, uploadID)
	if err != nil {
		return nil, nil, false, err
	}
	all, err := e.parts(uploadID)
	if err != nil {
		return nil, nil, false, err
	}
	for _, p := range all {
		if p.Number <= marker {
			continue
		}
		if len(parts) == max {
			return u, parts, true, nil
		}
		parts = append(parts, p)
	}
	return u, parts, false, nil
}

// AbortMultipartUpload deletes an upload and its parts.
func (e *Engine) AbortMultipartUpload(bucket, key, uploadID string) error {
	if _, err := e.upload(bucket, key, uploadID); err != nil {
		return err
	}
	unlock := e.locks.lock(uploadID)
	defer unlock()
	return e.removeUpload(uploadID)
}

func (e *Engine) removeUpload(id string) error {
	// Remove the record first: a crash part-way leaves no half upload.
	if err := removeIfExists(e.uploadFile(id)); err != nil {
		return err
	}
	return os.RemoveAll(e.files.upload(id))
}

// CompleteMultipartUpload assembles the named parts into a new version.
func (e *Engine) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, want []CompletedPart, cond Conditions) (*Version, error) {
	u, err := e.upload(bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	if len(want) == 0 {
		return nil, errorf(CodeMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: CompleteMultipartUpload names no parts.")
	}
	unlock := e.locks.lock(uploadID)
	defer unlock()
	if _, err := os.Stat(e.uploadFile(uploadID)); err != nil {
		return nil, noSuchUpload(bucket, key, uploadID)
	}
	have, err := e.parts(uploadID)
	if err != nil {
		return nil, err
	}
	byNum := map[int]*Part{}
	for _, p := range have {
		byNum[p.Number] = p
	}
	var chosen []*Part
	for i, w := range want {
		if i > 0 && w.Number <= want[i-1].Number {
			return nil, errorf(CodeInvalidPartOrder, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
		}
		p := byNum[w.Number]
		if p == nil || strings.Trim(w.ETag, `"`) != p.ETag {
			return nil, errorf(CodeInvalidPart, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag. (part %d)", w.Number)
		}
		for a, v := range w.Checksums {
			if got, ok := p.Checksums[strings.ToUpper(a)]; ok && got != v {
				return nil, errorf(CodeInvalidPart, "The %s checksum of part %d does not match the part's checksum.", strings.ToUpper(a), w.Number)
			}
		}
		chosen = append(chosen, p)
	}
	for i, p := range chosen {
		if i < len(chosen)-1 && p.Size < e.cfg.MinPartSize {
			return nil, &Error{Code: CodeEntityTooSmall, Message: fmt.Sprintf("Your proposed upload is smaller than the minimum allowed object size: part %d is %d bytes, and every part but the last must be at least %d bytes.", p.Number, p.Size, e.cfg.MinPartSize), Key: key}
		}
	}
	// Concatenate the parts into one file, hashing as we go.
	dir := e.files.upload(uploadID)
	readers := make([]io.Reader, 0, len(chosen))
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	etags := md5.New() //nolint:gosec // the multipart ETag
	var total int64
	for _, p := range chosen {
		f, err := os.Open(filepath.Join(dir, filepath.Base(p.File)))
		if err != nil {
			return nil, fmt.Errorf("opening part %d: %w", p.Number, err)
		}
		closers = append(closers, f)
		readers = append(readers, f)
		raw, _ := hex.DecodeString(p.ETag)
		etags.Write(raw)
		total += p.Size
	}
	if total > e.cfg.MaxObjectSize*1024 {
		return nil, errorf(CodeEntityTooLarge, "Your proposed upload exceeds the maximum allowed object size.")
	}
	rc, err := e.receive(Body{R: io.MultiReader(readers...), Size: total, Algorithm: u.Algorithm}, total)
	if err != nil {
		return nil, err
	}
	v := &Version{ID: rc.tmp.id, Origin: e.cfg.Region, Size: rc.size, CRC: rc.d.crcHex(), Checksums: rc.d.sums(), Parts: len(chosen),
		ETag: hex.EncodeToString(etags.Sum(nil)) + "-" + strconv.Itoa(len(chosen))}
	if len(v.Checksums) > 0 {
		v.ChecksumType = "FULL_OBJECT"
	}
	u.Meta.apply(v)
	v, err = e.putVersion(ctx, bucket, key, u.BucketID, rc, v, u.Tags, cond)
	if err != nil {
		return nil, err
	}
	if err := e.removeUpload(uploadID); err != nil {
		e.log.Warn("removing a completed upload's parts", "upload_id", uploadID, "err", err)
	}
	return v, nil
}

// uploadsOf lists the uploads of a bucket, by key then initiation time.
func (e *Engine) uploadsOf(bucketID string) ([]*Upload, error) {
	ents, err := os.ReadDir(e.files.uploadsDir())
	if err != nil {
		return nil, err
	}
	var out []*Upload
	for _, ent := range ents {
		var u Upload
		if err := readJSONFile(e.uploadFile(ent.Name()), &u); err != nil || u.BucketID != bucketID {
			continue
		}
		out = append(out, &u)
	}
	slices.SortFunc(out, func(a, b *Upload) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if c := a.Initiated.Compare(b.Initiated); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// ListMultipartUploads lists this node's uploads in a bucket under prefix,
// after (keyMarker, uploadIDMarker), at most max.
func (e *Engine) ListMultipartUploads(bucket, prefix, keyMarker, uploadIDMarker string, max int) (ups []*Upload, truncated bool, err error) {
	b, err := e.Bucket(bucket)
	if err != nil {
		return nil, false, err
	}
	all, err := e.uploadsOf(b.ID)
	if err != nil {
		return nil, false, err
	}
	past := keyMarker == ""
	for _, u := range all {
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		if !past {
			switch {
			case u.Key < keyMarker:
				continue
			case u.Key == keyMarker:
				if uploadIDMarker == "" {
					continue
				}
				if u.ID == uploadIDMarker {
					past = true
					continue
				}
				continue
			}
			past = true
		}
		if len(ups) == max {
			return ups, true, nil
		}
		ups = append(ups, u)
	}
	return ups, false, nil
}
