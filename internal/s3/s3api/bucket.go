package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/meridian-platform/meridian/internal/s3"
)

const maxXMLBody = 1 << 20

func (h *Handler) serveBucket(q *request) error {
	m, qs := q.r.Method, q.query
	ctx := q.r.Context()
	switch {
	case qs.Has("versioning"):
		switch m {
		case http.MethodPut:
			body, err := readSmall(q, maxXMLBody)
			if err != nil {
				return err
			}
			status, err := decodeVersioning(body)
			if err != nil {
				return err
			}
			if err := h.e.PutBucketVersioning(ctx, q.bucket, status); err != nil {
				return err
			}
			q.w.WriteHeader(http.StatusOK)
			return nil
		case http.MethodGet:
			b, err := h.e.Bucket(q.bucket)
			if err != nil {
				return err
			}
			return h.writeXML(q, http.StatusOK, versioningConfiguration{Xmlns: xmlns, Status: b.Versioning})
		}
	case qs.Has("replication"):
		switch m {
		case http.MethodPut:
			body, err := readSmall(q, maxXMLBody)
			if err != nil {
				return err
			}
			c, err := decodeReplication(body)
			if err != nil {
				return err
			}
			if err := h.e.PutBucketReplication(ctx, q.bucket, c); err != nil {
				return err
			}
			q.w.WriteHeader(http.StatusOK)
			return nil
		case http.MethodGet:
			b, err := h.e.Bucket(q.bucket)
			if err != nil {
				return err
			}
			if b.Replication == nil {
				return &s3.Error{Code: s3.CodeReplicationNotFound, Message: "The replication configuration was not found", Bucket: q.bucket}
			}
			return h.writeXML(q, http.StatusOK, replicationOut{Xmlns: xmlns, Role: b.Replication.Role, Rules: b.Replication.Rules})
		case http.MethodDelete:
			if err := h.e.DeleteBucketReplication(ctx, q.bucket); err != nil {
				return err
			}
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
	case qs.Has("tagging"):
		return &s3.Error{Code: s3.CodeNotImplemented, Message: "Bucket tagging is not implemented."}
	case qs.Has("location"):
		if m == http.MethodGet {
			if _, err := h.e.Bucket(q.bucket); err != nil {
				return err
			}
			return h.writeXML(q, http.StatusOK, locationConstraint{Xmlns: xmlns, Region: h.region})
		}
	case qs.Has("versions"):
		if m == http.MethodGet {
			return h.listVersions(q)
		}
	case qs.Has("uploads"):
		if m == http.MethodGet {
			return h.listUploads(q)
		}
	case qs.Has("delete"):
		if m == http.MethodPost {
			return h.deleteObjects(q)
		}
	default:
		switch m {
		case http.MethodPut:
			body, err := readSmall(q, maxXMLBody)
			if err != nil {
				return err
			}
			if _, err := decodeCreateBucket(body); err != nil {
				return err
			}
			if err := h.e.CreateBucket(ctx, q.bucket); err != nil {
				return err
			}
			q.w.Header().Set("Location", "/"+q.bucket)
			q.w.WriteHeader(http.StatusOK)
			return nil
		case http.MethodHead:
			if _, err := h.e.Bucket(q.bucket); err != nil {
				return err
			}
			q.w.Header().Set("X-Amz-Bucket-Region", h.region)
			q.w.WriteHeader(http.StatusOK)
			return nil
		case http.MethodDelete:
			if err := h.e.DeleteBucket(ctx, q.bucket); err != nil {
				return err
			}
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		case http.MethodGet:
			if qs.Get("list-type") == "2" {
				return h.listObjectsV2(q)
			}
			return h.listObjectsV1(q)
		}
	}
	return methodNotAllowed(q)
}

type replicationOut struct {
	XMLName xml.Name             `xml:"ReplicationConfiguration"`
	Xmlns   string               `xml:"xmlns,attr"`
	Role    string               `xml:"Role,omitempty"`
	Rules   []s3.ReplicationRule `xml:"Rule"`
}

// maxKeys parses max-keys (default and cap 1000).
func maxKeys(qs url.Values, name string) (int, error) {
	v := qs.Get(name)
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &s3.Error{Code: s3.CodeInvalidArgument, Message: "Provided " + name + " not an integer or within integer range"}
	}
	return min(n, 1000), nil
}

func encodeIf(enc bool, s string) string {
	if !enc || s == "" {
		return s
	}
	return url.QueryEscape(s)
}

func (h *Handler) listInput(q *request, mk string) (s3.ListInput, bool, error) {
	qs := q.query
	enc := qs.Get("encoding-type")
	if enc != "" && enc != "url" {
		return s3.ListInput{}, false, &s3.Error{Code: s3.CodeInvalidArgument, Message: "Invalid Encoding Method specified in Request"}
	}
	n, err := maxKeys(qs, mk)
	if err != nil {
		return s3.ListInput{}, false, err
	}
	return s3.ListInput{Prefix: qs.Get("prefix"), Delimiter: qs.Get("delimiter"), MaxKeys: n}, enc == "url", nil
}

func contentsOf(l s3.Listed, enc bool) contents {
	c := contents{Key: encodeIf(enc, l.Key), LastModified: xmlTime(l.Modified), ETag: `"` + l.ETag + `"`, Size: l.Size, StorageClass: "STANDARD"}
	for a := range l.Checksums {
		c.ChecksumAlgorithm = append(c.ChecksumAlgorithm, a)
		c.ChecksumType = l.ChecksumType
	}
	return c
}

func (h *Handler) listObjectsV2(q *request) error {
	in, enc, err := h.listInput(q, "max-keys")
	if err != nil {
		return err
	}
	qs := q.query
	token, startAfter := qs.Get("continuation-token"), qs.Get("start-after")
	switch {
	case qs.Has("continuation-token"):
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return &s3.Error{Code: s3.CodeInvalidArgument, Message: "The continuation token provided is incorrect"}
		}
		in.From = string(raw)
	case startAfter != "":
		in.From = s3.After(startAfter)
	}
	out, err := h.e.ListObjects(q.bucket, in)
	if err != nil {
		return err
	}
	count := len(out.Objects) + len(out.CommonPrefixes)
	res := listBucketResult{Xmlns: xmlns, Name: q.bucket, Prefix: encodeIf(enc, in.Prefix), MaxKeys: in.MaxKeys, Delimiter: encodeIf(enc, in.Delimiter),
		IsTruncated: out.IsTruncated, ContinuationToken: token, StartAfter: encodeIf(enc, startAfter), KeyCount: &count}
	if enc {
		res.EncodingType = "url"
	}
	if out.IsTruncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Next))
	}
	for _, o := range out.Objects {
		c := contentsOf(o, enc)
		if qs.Get("fetch-owner") == "true" {
			c.Owner = &theOwner
		}
		res.Contents = append(res.Contents, c)
	}
	for _, p := range out.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encodeIf(enc, p)})
	}
	return h.writeXML(q, http.StatusOK, res)
}

func (h *Handler) listObjectsV1(q *request) error {
	in, enc, err := h.listInput(q, "max-keys")
	if err != nil {
		return err
	}
	marker := q.query.Get("marker")
	if marker != "" {
		in.From = s3.After(marker)
	}
	out, err := h.e.ListObjects(q.bucket, in)
	if err != nil {
		return err
	}
	res := listBucketResult{Xmlns: xmlns, Name: q.bucket, Prefix: encodeIf(enc, in.Prefix), Marker: &marker, MaxKeys: in.MaxKeys,
		Delimiter: encodeIf(enc, in.Delimiter), IsTruncated: out.IsTruncated}
	if enc {
		res.EncodingType = "url"
	}
	last := ""
	for _, o := range out.Objects {
		res.Contents = append(res.Contents, contentsOf(o, enc))
		last = max(last, o.Key)
	}
	for _, p := range out.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encodeIf(enc, p)})
		last = max(last, p)
	}
	if out.IsTruncated {
		res.NextMarker = encodeIf(enc, last)
	}
	return h.writeXML(q, http.StatusOK, res)
}

func (h *Handler) listVersions(q *request) error {
	in, enc, err := h.listInput(q, "max-keys")
	if err != nil {
		return err
	}
	in.KeyMarker, in.VersionIDMarker = q.query.Get("key-marker"), q.query.Get("version-id-marker")
	if in.VersionIDMarker != "" && in.KeyMarker == "" {
		return &s3.Error{Code: s3.CodeInvalidArgument, Message: "A version-id marker cannot be specified without a key marker."}
	}
	out, err := h.e.ListVersions(q.bucket, in)
	if err != nil {
		return err
	}
	res := listVersionsResult{Xmlns: xmlns, Name: q.bucket, Prefix: encodeIf(enc, in.Prefix), KeyMarker: encodeIf(enc, in.KeyMarker),
		VersionIDMarker: in.VersionIDMarker, MaxKeys: in.MaxKeys, Delimiter: encodeIf(enc, in.Delimiter), IsTruncated: out.IsTruncated}
	if enc {
		res.EncodingType = "url"
	}
	if out.IsTruncated {
		res.NextKeyMarker, res.NextVersionIDMarker = encodeIf(enc, out.NextKeyMarker), out.NextVersionIDMarker
	}
	for _, o := range out.Objects {
		e := versionEntry{Key: encodeIf(enc, o.Key), VersionID: o.VersionID, IsLatest: o.IsLatest, LastModified: xmlTime(o.Modified), Owner: theOwner}
		if o.DeleteMarker {
			e.XMLName = xml.Name{Local: "DeleteMarker"}
		} else {
			size := o.Size
			e.XMLName = xml.Name{Local: "Version"}
			e.ETag, e.Size, e.StorageClass = `"`+o.ETag+`"`, &size, "STANDARD"
		}
		res.Entries = append(res.Entries, e)
	}
	for _, p := range out.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encodeIf(enc, p)})
	}
	return h.writeXML(q, http.StatusOK, res)
}

func (h *Handler) deleteObjects(q *request) error {
	body, err := readSmall(q, 2*maxXMLBody)
	if err != nil {
		return err
	}
	req, err := decodeDelete(body)
	if err != nil {
		return err
	}
	if _, err := h.e.Bucket(q.bucket); err != nil {
		return err
	}
	res := deleteResult{Xmlns: xmlns}
	// Deletes run eight at a time so that their store commits share fsyncs;
	// the result lists them in request order.
	type outcome struct {
		d   *s3.DeleteResult
		err error
	}
	outs := make([]outcome, len(req.Objects))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, o := range req.Objects {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d, err := h.e.DeleteObject(q.r.Context(), q.bucket, o.Key, o.VersionID)
			outs[i] = outcome{d, err}
		})
	}
	wg.Wait()
	for i, o := range req.Objects {
		d, err := outs[i].d, outs[i].err
		if err != nil {
			e := toAPIError(err)
			if e.Internal {
				h.log.Error("deleting an object of a batch", "request_id", q.id, "key", o.Key, "err", err)
			}
			res.Errors = append(res.Errors, deleteErrorEntry{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
			continue
		}
		if req.Quiet {
			continue
		}
		de := deletedEntry{Key: o.Key, VersionID: o.VersionID}
		if d.DeleteMarker {
			de.DeleteMarker = true
			if o.VersionID == "" {
				de.DeleteMarkerVersionID = d.VersionID
			}
		}
		res.Deleted = append(res.Deleted, de)
	}
	return h.writeXML(q, http.StatusOK, res)
}
