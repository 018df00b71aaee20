package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/s3"
)

func (h *Handler) serveObject(q *request) error {
	m, qs := q.r.Method, q.query
	switch {
	case qs.Has("tagging"):
		return h.objectTagging(q)
	case qs.Has("uploads"):
		if m == http.MethodPost {
			return h.createUpload(q)
		}
	case qs.Has("uploadId"):
		switch m {
		case http.MethodPut:
			if q.r.Header.Get("X-Amz-Copy-Source") != "" {
				return &s3.Error{Code: s3.CodeNotImplemented, Message: "UploadPartCopy is not implemented; copy with CopyObject or upload the part's bytes."}
			}
			return h.uploadPart(q)
		case http.MethodGet:
			return h.listParts(q)
		case http.MethodPost:
			return h.completeUpload(q)
		case http.MethodDelete:
			if err := h.e.AbortMultipartUpload(q.bucket, q.key, qs.Get("uploadId")); err != nil {
				return err
			}
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
	default:
		switch m {
		case http.MethodPut:
			if q.r.Header.Get("X-Amz-Copy-Source") != "" {
				return h.copyObject(q)
			}
			return h.putObject(q)
		case http.MethodGet, http.MethodHead:
			return h.getObject(q)
		case http.MethodDelete:
			d, err := h.e.DeleteObject(q.r.Context(), q.bucket, q.key, qs.Get("versionId"))
			if err != nil {
				return err
			}
			if d.DeleteMarker {
				q.w.Header().Set("X-Amz-Delete-Marker", "true")
			}
			if d.VersionID != "" {
				q.w.Header().Set("X-Amz-Version-Id", d.VersionID)
			}
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return methodNotAllowed(q)
}

// checksumHeaders collects x-amz-checksum-<alg> request headers.
func checksumHeaders(hd http.Header) map[string]string {
	out := map[string]string{}
	for _, a := range s3.Algorithms {
		if v := hd.Get(s3.ChecksumHeader(a)); v != "" {
			out[a] = v
		}
	}
	return out
}

func algorithmHeader(hd http.Header) string {
	if a := hd.Get("X-Amz-Sdk-Checksum-Algorithm"); a != "" {
		return strings.ToUpper(a)
	}
	return strings.ToUpper(hd.Get("X-Amz-Checksum-Algorithm"))
}

// body describes the request body for the engine.
func body(q *request) (s3.Body, error) {
	hd := q.r.Header
	if q.r.ContentLength < 0 && hd.Get("X-Amz-Decoded-Content-Length") == "" && len(q.r.TransferEncoding) == 0 {
		return s3.Body{}, reqErr(codeMissingContentLength, "You must provide the Content-Length HTTP header.")
	}
	b := s3.Body{R: q.r.Body, Size: q.r.ContentLength, ContentMD5: hd.Get("Content-Md5"), Checksums: checksumHeaders(hd), Algorithm: algorithmHeader(hd)}
	if b.R == nil {
		b.R = http.NoBody
	}
	if len(q.r.Trailer) > 0 {
		b.Trailer = q.r.Trailer
	}
	return b, nil
}

// objectMeta reads an object's metadata headers.
func objectMeta(hd http.Header) s3.ObjectMeta {
	m := s3.ObjectMeta{ContentType: hd.Get("Content-Type"), ContentEncoding: hd.Get("Content-Encoding"),
		ContentDisposition: hd.Get("Content-Disposition"), ContentLanguage: hd.Get("Content-Language"),
		CacheControl: hd.Get("Cache-Control"), Expires: hd.Get("Expires")}
	for k, v := range hd {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok && len(v) > 0 {
			if m.User == nil {
				m.User = map[string]string{}
			}
			m.User[name] = strings.Join(v, ",")
		}
	}
	return m
}

// tagsHeader parses x-amz-tagging (a URL query string).
func tagsHeader(hd http.Header) ([]s3.Tag, error) {
	v := hd.Get("X-Amz-Tagging")
	if v == "" {
		return nil, nil
	}
	vals, err := url.ParseQuery(v)
	if err != nil {
		return nil, &s3.Error{Code: s3.CodeInvalidArgument, Message: "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."}
	}
	var tags []s3.Tag
	for k, vs := range vals {
		if len(vs) != 1 {
			return nil, &s3.Error{Code: s3.CodeInvalidTag, Message: "Cannot provide multiple Tags with the same key"}
		}
		tags = append(tags, s3.Tag{Key: k, Value: vs[0]})
	}
	if err := s3.ValidateTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

func conditions(hd http.Header) s3.Conditions {
	return s3.Conditions{IfMatch: hd.Get("If-Match"), IfNoneMatch: hd.Get("If-None-Match")}
}

func (h *Handler) putObject(q *request) error {
	b, err := body(q)
	if err != nil {
		return err
	}
	tags, err := tagsHeader(q.r.Header)
	if err != nil {
		return err
	}
	v, err := h.e.PutObject(q.r.Context(), &s3.PutInput{Bucket: q.bucket, Key: q.key, Body: b, Meta: objectMeta(q.r.Header), Tags: tags, Conditions: conditions(q.r.Header)})
	if err != nil {
		return err
	}
	hd := q.w.Header()
	hd.Set("ETag", `"`+v.ETag+`"`)
	setVersionHeader(hd, v.VersionID)
	setChecksumHeaders(hd, v.Checksums, v.ChecksumType)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func setVersionHeader(hd http.Header, vid string) {
	if vid != "" && vid != "null" {
		hd.Set("X-Amz-Version-Id", vid)
	}
}

func setChecksumHeaders(hd http.Header, sums map[string]string, typ string) {
	for a, v := range sums {
		hd.Set(s3.ChecksumHeader(a), v)
	}
	if len(sums) > 0 && typ != "" {
		hd.Set("X-Amz-Checksum-Type", typ)
	}
}

func parseHTTPTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// byteRange parses a single "bytes=" range against size. ok is false for
// no range (or one S3 ignores); err is InvalidRange when unsatisfiable.
func byteRange(spec string, size int64) (off, n int64, ok bool, err error) {
	spec = strings.TrimSpace(spec)
	r, found := strings.CutPrefix(spec, "bytes=")
	if spec == "" || !found || strings.Contains(r, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(r), "-")
	if !found {
		return 0, 0, false, nil
	}
	unsat := &requestError{code: codeInvalidRange, msg: "The requested range is not satisfiable", size: size}
	if first == "" {
		k, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || k < 0 {
			return 0, 0, false, nil
		}
		if k == 0 {
			return 0, 0, false, unsat
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	a, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || a < 0 {
		return 0, 0, false, nil
	}
	end := size - 1
	if last != "" {
		b, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || b < a {
			return 0, 0, false, nil
		}
		end = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, unsat
	}
	return a, end - a + 1, true, nil
}

func setObjectHeaders(hd http.Header, o *s3.Object) {
	hd.Set("ETag", `"`+o.ETag+`"`)
	hd.Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
	hd.Set("Accept-Ranges", "bytes")
	ct := o.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	hd.Set("Content-Type", ct)
	for k, v := range map[string]string{"Content-Encoding": o.ContentEncoding, "Content-Disposition": o.ContentDisposition,
		"Content-Language": o.ContentLanguage, "Cache-Control": o.CacheControl, "Expires": o.Expires} {
		if v != "" {
			hd.Set(k, v)
		}
	}
	for k, v := range o.UserMeta {
		hd.Set("X-Amz-Meta-"+k, v)
	}
	setVersionHeader(hd, o.VersionID)
	if o.ReplicationStatus != "" {
		hd.Set("X-Amz-Replication-Status", o.ReplicationStatus)
	}
	if o.TagCount > 0 {
		hd.Set("X-Amz-Tagging-Count", strconv.Itoa(o.TagCount))
	}
	hd.Set("X-Amz-Storage-Class", "STANDARD")
}

// responseOverrides applies GetObject's response-* query parameters.
func responseOverrides(hd http.Header, qs url.Values) {
	for param, header := range map[string]string{"response-content-type": "Content-Type", "response-content-language": "Content-Language",
		"response-expires": "Expires", "response-cache-control": "Cache-Control", "response-content-disposition": "Content-Disposition",
		"response-content-encoding": "Content-Encoding"} {
		if v := qs.Get(param); v != "" {
			hd.Set(header, v)
		}
	}
}

func (h *Handler) getObject(q *request) error {
	if q.query.Has("partNumber") {
		return &s3.Error{Code: s3.CodeNotImplemented, Message: "GetObject by partNumber is not implemented; use a Range."}
	}
	o, err := h.e.HeadObject(q.bucket, q.key, q.query.Get("versionId"))
	if err != nil {
		return err
	}
	hd := q.r.Header
	if err := s3.CheckRead(o.Version, hd.Get("If-Match"), hd.Get("If-None-Match"), parseHTTPTime(hd.Get("If-Modified-Since")), parseHTTPTime(hd.Get("If-Unmodified-Since"))); err != nil {
		if errors.Is(err, s3.ErrNotModified) {
			out := q.w.Header()
			out.Set("ETag", `"`+o.ETag+`"`)
			out.Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
			setVersionHeader(out, o.VersionID)
			q.w.WriteHeader(http.StatusNotModified)
			return nil
		}
		var ee *s3.Error
		if errors.As(err, &ee) {
			ee.Bucket, ee.Key = q.bucket, q.key
		}
		return err
	}
	off, n, partial, err := byteRange(hd.Get("Range"), o.Size)
	if err != nil {
		return err
	}
	out := q.w.Header()
	setObjectHeaders(out, o)
	responseOverrides(out, q.query)
	if !partial {
		off, n = 0, o.Size
		if strings.EqualFold(hd.Get("X-Amz-Checksum-Mode"), "ENABLED") {
			setChecksumHeaders(out, o.Checksums, o.ChecksumType)
		}
	}
	out.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		out.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, o.Size))
		status = http.StatusPartialContent
	}
	if q.r.Method == http.MethodHead {
		q.w.WriteHeader(status)
		return nil
	}
	r, err := o.Open(q.r.Context(), off, n)
	if err != nil {
		for k := range out {
			if k != "X-Amz-Request-Id" && k != "X-Amz-Id-2" && k != "Server" {
				out.Del(k)
			}
		}
		return err
	}
	defer func() { _ = r.Close() }()
	q.w.WriteHeader(status)
	var src io.Reader = r
	if d, ok := r.(interface{ Direct() io.Reader }); ok {
		src = d.Direct() // a local file: sendfile
	}
	if _, err := io.Copy(q.w, src); err != nil {
		h.log.Debug("object read ended early", "request_id", q.id, "key", q.key, "err", err)
	}
	return nil
}

// serveInternal answers a peer's fetch of a version's bytes.
func (h *Handler) serveInternal(q *request, id string) error {
	f, release, err := h.e.OpenFile(id)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &s3.Error{Code: s3.CodeNoSuchVersion, Message: "This node does not hold the bytes of version " + id + "."}
		}
		return err
	}
	defer func() { _ = f.Close(); release() }()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	off, n, partial, err := byteRange(q.r.Header.Get("Range"), fi.Size())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		out := q.w.Header()
		out.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, fi.Size()))
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
	} else {
		n = fi.Size()
	}
	q.w.Header().Set("Content-Type", "application/octet-stream")
	q.w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = io.Copy(q.w, io.LimitReader(f, n)) // sendfile
	}
	return nil
}

// copySource parses x-amz-copy-source: [/]bucket/key[?versionId=id].
func copySource(v string) (bucket, key, versionID string, err error) {
	path, query, _ := strings.Cut(v, "?")
	p, uerr := url.PathUnescape(path)
	if uerr != nil {
		return "", "", "", &s3.Error{Code: s3.CodeInvalidArgument, Message: "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"}
	}
	p = strings.TrimPrefix(p, "/")
	bucket, key, ok := strings.Cut(p, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", &s3.Error{Code: s3.CodeInvalidArgument, Message: "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"}
	}
	if query != "" {
		qs, _ := url.ParseQuery(query)
		versionID = qs.Get("versionId")
	}
	return bucket, key, versionID, nil
}

func (h *Handler) copyObject(q *request) error {
	hd := q.r.Header
	sb, sk, sv, err := copySource(hd.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	in := &s3.CopyInput{SrcBucket: sb, SrcKey: sk, SrcVersionID: sv, Bucket: q.bucket, Key: q.key, Algorithm: algorithmHeader(hd),
		SrcIfMatch: hd.Get("X-Amz-Copy-Source-If-Match"), SrcIfNoneMatch: hd.Get("X-Amz-Copy-Source-If-None-Match"),
		SrcIfModifiedSince: parseHTTPTime(hd.Get("X-Amz-Copy-Source-If-Modified-Since")), SrcIfUnmodSince: parseHTTPTime(hd.Get("X-Amz-Copy-Source-If-Unmodified-Since"))}
	switch d := hd.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		in.ReplaceMeta, in.Meta = true, objectMeta(hd)
	default:
		return &s3.Error{Code: s3.CodeInvalidArgument, Message: "Unknown metadata directive."}
	}
	switch d := hd.Get("X-Amz-Tagging-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		tags, err := tagsHeader(hd)
		if err != nil {
			return err
		}
		in.ReplaceTags, in.Tags = true, tags
	default:
		return &s3.Error{Code: s3.CodeInvalidArgument, Message: "Unknown tagging directive."}
	}
	// Drain any body: a copy carries none.
	_, _ = io.Copy(io.Discard, io.LimitReader(q.r.Body, 1<<20))
	v, src, err := h.e.CopyObject(q.r.Context(), in)
	if err != nil {
		return err
	}
	out := q.w.Header()
	setVersionHeader(out, v.VersionID)
	if sv != "" || src.VersionID != "null" {
		out.Set("X-Amz-Copy-Source-Version-Id", src.VersionID)
	}
	res := copyObjectResult{Xmlns: xmlns, ETag: `"` + v.ETag + `"`, LastModified: xmlTime(v.Modified), checksumFields: checksumsOf(v.Checksums)}
	return h.writeXML(q, http.StatusOK, res)
}

func (h *Handler) objectTagging(q *request) error {
	ctx := q.r.Context()
	vid := q.query.Get("versionId")
	var (
		out string
		err error
	)
	switch q.r.Method {
	case http.MethodGet:
		tags, v, err := h.e.GetObjectTagging(q.bucket, q.key, vid)
		if err != nil {
			return err
		}
		setVersionHeader(q.w.Header(), v)
		if tags == nil {
			tags = []s3.Tag{}
		}
		return h.writeXML(q, http.StatusOK, tagging{Xmlns: xmlns, TagSet: tags})
	case http.MethodPut:
		body, rerr := readSmall(q, maxXMLBody)
		if rerr != nil {
			return rerr
		}
		tags, derr := decodeTagging(body)
		if derr != nil {
			return derr
		}
		out, err = h.e.PutObjectTagging(ctx, q.bucket, q.key, vid, tags)
		if err != nil {
			return err
		}
		setVersionHeader(q.w.Header(), out)
		q.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		out, err = h.e.DeleteObjectTagging(ctx, q.bucket, q.key, vid)
		if err != nil {
			return err
		}
		setVersionHeader(q.w.Header(), out)
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(q)
}

func (h *Handler) createUpload(q *request) error {
	tags, err := tagsHeader(q.r.Header)
	if err != nil {
		return err
	}
	alg := algorithmHeader(q.r.Header)
	u, err := h.e.CreateMultipartUpload(q.bucket, q.key, objectMeta(q.r.Header), tags, alg)
	if err != nil {
		return err
	}
	if alg != "" {
		q.w.Header().Set("X-Amz-Checksum-Algorithm", alg)
	}
	return h.writeXML(q, http.StatusOK, initiateMultipartUploadResult{Xmlns: xmlns, Bucket: q.bucket, Key: q.key, UploadID: u.ID})
}

func (h *Handler) uploadPart(q *request) error {
	n, err := strconv.Atoi(q.query.Get("partNumber"))
	if err != nil {
		return &s3.Error{Code: s3.CodeInvalidArgument, Message: fmt.Sprintf("Part number must be an integer between 1 and %d, inclusive", s3.MaxParts)}
	}
	b, err := body(q)
	if err != nil {
		return err
	}
	p, err := h.e.UploadPart(q.r.Context(), q.bucket, q.key, q.query.Get("uploadId"), n, b)
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", `"`+p.ETag+`"`)
	setChecksumHeaders(q.w.Header(), p.Checksums, "")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) listParts(q *request) error {
	marker := 0
	if v := q.query.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &s3.Error{Code: s3.CodeInvalidArgument, Message: "Provided part-number-marker not an integer or within integer range"}
		}
		marker = n
	}
	maxParts, err := maxKeys(q.query, "max-parts")
	if err != nil {
		return err
	}
	u, parts, truncated, err := h.e.ListParts(q.bucket, q.key, q.query.Get("uploadId"), marker, maxParts)
	if err != nil {
		return err
	}
	res := listPartsResult{Xmlns: xmlns, Bucket: q.bucket, Key: q.key, UploadID: u.ID, Initiator: theOwner, Owner: theOwner, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: maxParts, IsTruncated: truncated, ChecksumAlgorithm: u.Algorithm}
	for _, p := range parts {
		res.Parts = append(res.Parts, partEntry{PartNumber: p.Number, LastModified: xmlTime(p.Modified), ETag: `"` + p.ETag + `"`, Size: p.Size, checksumFields: checksumsOf(p.Checksums)})
		res.NextPartNumberMarker = p.Number
	}
	return h.writeXML(q, http.StatusOK, res)
}

func (h *Handler) completeUpload(q *request) error {
	body, err := readSmall(q, 4*maxXMLBody)
	if err != nil {
		return err
	}
	parts, err := decodeComplete(body)
	if err != nil {
		return err
	}
	// Assembling a large object takes a while; S3 keeps the connection
	// alive with whitespace, which clients accept before the document.
	v, err := h.e.CompleteMultipartUpload(context.WithoutCancel(q.r.Context()), q.bucket, q.key, q.query.Get("uploadId"), parts, conditions(q.r.Header))
	if err != nil {
		return err
	}
	setVersionHeader(q.w.Header(), v.VersionID)
	res := completeMultipartUploadResult{Xmlns: xmlns, Location: "/" + q.bucket + "/" + q.key, Bucket: q.bucket, Key: q.key, ETag: `"` + v.ETag + `"`,
		checksumFields: checksumsOf(v.Checksums), ChecksumType: v.ChecksumType}
	return h.writeXML(q, http.StatusOK, res)
}

func (h *Handler) listUploads(q *request) error {
	n, err := maxKeys(q.query, "max-uploads")
	if err != nil {
		return err
	}
	qs := q.query
	ups, truncated, err := h.e.ListMultipartUploads(q.bucket, qs.Get("prefix"), qs.Get("key-marker"), qs.Get("upload-id-marker"), n)
	if err != nil {
		return err
	}
	res := listMultipartUploadsResult{Xmlns: xmlns, Bucket: q.bucket, KeyMarker: qs.Get("key-marker"), UploadIDMarker: qs.Get("upload-id-marker"),
		Prefix: qs.Get("prefix"), MaxUploads: n, IsTruncated: truncated}
	for _, u := range ups {
		res.Uploads = append(res.Uploads, uploadEntry{Key: u.Key, UploadID: u.ID, Initiator: theOwner, Owner: theOwner, StorageClass: "STANDARD", Initiated: xmlTime(u.Initiated)})
	}
	if truncated && len(ups) > 0 {
		res.NextKeyMarker, res.NextUploadIDMarker = ups[len(ups)-1].Key, ups[len(ups)-1].ID
	}
	return h.writeXML(q, http.StatusOK, res)
}
