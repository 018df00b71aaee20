package s3api

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // ETag
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func md5hex(b []byte) string {
	s := md5.Sum(b) //nolint:gosec // ETag
	return hex.EncodeToString(s[:])
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestBuckets(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "alpha")
	mustBucket(t, c, "beta.two")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantAPIError(t, err, "BucketAlreadyOwnedByYou", "already own it")
	if httpStatus(err) != 409 {
		t.Fatalf("got status %d, want 409", httpStatus(err))
	}
	for _, bad := range []string{"ab", "Upper", "a..b", "192.168.1.1", "-dash", strings.Repeat("a", 64), "xn--abc"} {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bad)})
		wantAPIError(t, err, "InvalidBucketName", "The specified bucket is not valid")
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, *b.Name)
	}
	if !slices.Equal(names, []string{"alpha", "beta.two"}) {
		t.Fatalf("ListBuckets got %v", names)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("missing")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("HeadBucket of a missing bucket: got %v, want NotFound", err)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	if err != nil || string(loc.LocationConstraint) != "us-east" {
		t.Fatalf("GetBucketLocation: %v %v", loc, err)
	}
	put(t, c, "alpha", "k", []byte("x"))
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantAPIError(t, err, "BucketNotEmpty", "not empty")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantAPIError(t, err, "NoSuchBucket", "does not exist")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantAPIError(t, err, "NoSuchBucket", "does not exist")
	// A bucket created again under the same name starts empty.
	mustBucket(t, c, "alpha")
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha")})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("recreated bucket lists %v, %v", out.Contents, err)
	}
}

func TestPutGetMetadataAndChecksums(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https-trailer"}[tlsOn], func(t *testing.T) {
			var mu sync.Mutex
			modes := map[string]bool{}
			e := newEnv(t, envOptions{tls: tlsOn, observe: func(r *http.Request) {
				if r.Method == http.MethodPut {
					mu.Lock()
					modes[r.Header.Get("X-Amz-Content-Sha256")] = true
					mu.Unlock()
				}
			}})
			defer func() {
				mu.Lock()
				defer mu.Unlock()
				// Over TLS the SDK streams aws-chunked bodies with a trailing
				// checksum; over plain HTTP it signs the payload hash.
				if tlsOn && !modes["STREAMING-UNSIGNED-PAYLOAD-TRAILER"] {
					t.Errorf("no aws-chunked upload with a trailing checksum was seen: %v", modes)
				}
			}()
			c := e.admin(t)
			ctx := ctxT(t)
			mustBucket(t, c, "docs")
			data := bytes.Repeat([]byte("meridian "), 20000)
			for _, alg := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmCrc64nvme} {
				key := "obj-" + string(alg)
				in := &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String(key), Body: bytes.NewReader(data),
					ContentType: aws.String("text/plain"), CacheControl: aws.String("max-age=60"),
					Metadata: map[string]string{"owner": "ops", "Color": "blue"}, ChecksumAlgorithm: alg}
				out, err := c.PutObject(ctx, in)
				if err != nil {
					t.Fatalf("PutObject %s: %v", alg, err)
				}
				if got, want := aws.ToString(out.ETag), `"`+md5hex(data)+`"`; got != want {
					t.Fatalf("ETag got %s want %s", got, want)
				}
				g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("docs"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				body, err := io.ReadAll(g.Body)
				_ = g.Body.Close()
				if err != nil || !bytes.Equal(body, data) {
					t.Fatalf("GetObject body: %d bytes, %v", len(body), err)
				}
				if aws.ToString(g.ContentType) != "text/plain" || aws.ToString(g.CacheControl) != "max-age=60" {
					t.Fatalf("got content type %q cache control %q", aws.ToString(g.ContentType), aws.ToString(g.CacheControl))
				}
				if g.Metadata["owner"] != "ops" || g.Metadata["color"] != "blue" {
					t.Fatalf("got metadata %v", g.Metadata)
				}
				if aws.ToInt64(g.ContentLength) != int64(len(data)) {
					t.Fatalf("content length %d", aws.ToInt64(g.ContentLength))
				}
				if alg == types.ChecksumAlgorithmSha256 && aws.ToString(g.ChecksumSHA256) == "" {
					t.Fatalf("no SHA256 checksum returned")
				}
			}
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("docs"), Key: aws.String("obj-")})
			if err != nil || aws.ToInt64(h.ContentLength) != int64(len(data)) || h.Metadata["owner"] != "ops" {
				t.Fatalf("HeadObject: %+v %v", h, err)
			}
			_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("docs"), Key: aws.String("nope")})
			var nf *types.NotFound
			if !errors.As(err, &nf) {
				t.Fatalf("HeadObject of a missing key: got %v, want NotFound", err)
			}
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("docs"), Key: aws.String("nope")})
			wantAPIError(t, err, "NoSuchKey", "The specified key does not exist.")
			// An empty object.
			put(t, c, "docs", "empty", nil)
			if got := get(t, c, "docs", "empty"); len(got) != 0 {
				t.Fatalf("empty object read %d bytes", len(got))
			}
		})
	}
}

func TestBadDigestStoresNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "bd1")
	wrong := md5.Sum([]byte("other")) //nolint:gosec // test
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bd1"), Key: aws.String("k"), Body: strings.NewReader("payload"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:]))})
	wantAPIError(t, err, "BadDigest", "Content-MD5 you specified did not match")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bd1"), Key: aws.String("k"), Body: strings.NewReader("payload"),
		ContentMD5: aws.String("not-base64!")})
	wantAPIError(t, err, "InvalidDigest", "Content-MD5")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bd1"), Key: aws.String("k"), Body: strings.NewReader("payload"),
		ChecksumCRC32: aws.String("AAAAAA==")})
	wantAPIError(t, err, "BadDigest", "CRC32 you specified did not match")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bd1"), Key: aws.String("k"), Body: strings.NewReader("payload"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32)))})
	wantAPIError(t, err, "BadDigest", "SHA256 you specified did not match")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bd1"), Key: aws.String("k")})
	wantAPIError(t, err, "NoSuchKey", "does not exist")
	assertNoStrayFiles(t, e)
}

func TestRangeAndConditions(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "rng")
	data := []byte("0123456789")
	out := put(t, c, "rng", "k", data)
	etag := aws.ToString(out.ETag)
	for _, tc := range []struct{ rng, want, cr string }{
		{"bytes=0-3", "0123", "bytes 0-3/10"},
		{"bytes=7-", "789", "bytes 7-9/10"},
		{"bytes=-2", "89", "bytes 8-9/10"},
		{"bytes=5-100", "56789", "bytes 5-9/10"},
	} {
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"), Range: aws.String(tc.rng)})
		if err != nil {
			t.Fatalf("%s: %v", tc.rng, err)
		}
		b, _ := io.ReadAll(g.Body)
		_ = g.Body.Close()
		if string(b) != tc.want || aws.ToString(g.ContentRange) != tc.cr {
			t.Fatalf("%s: got %q %q, want %q %q", tc.rng, b, aws.ToString(g.ContentRange), tc.want, tc.cr)
		}
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"), Range: aws.String("bytes=10-20")})
	wantAPIError(t, err, "InvalidRange", "not satisfiable")
	if httpStatus(err) != 416 {
		t.Fatalf("InvalidRange status %d", httpStatus(err))
	}

	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	ok := func(in *s3.GetObjectInput) {
		t.Helper()
		in.Bucket, in.Key = aws.String("rng"), aws.String("k")
		g, err := c.GetObject(ctx, in)
		if err != nil {
			t.Fatalf("conditional GetObject: %v", err)
		}
		_ = g.Body.Close()
	}
	status := func(in *s3.GetObjectInput, want int) {
		t.Helper()
		in.Bucket, in.Key = aws.String("rng"), aws.String("k")
		_, err := c.GetObject(ctx, in)
		if got := httpStatus(err); got != want {
			t.Fatalf("conditional GetObject: got status %d (%v), want %d", got, err, want)
		}
	}
	ok(&s3.GetObjectInput{IfMatch: aws.String(etag)})
	ok(&s3.GetObjectInput{IfNoneMatch: aws.String(`"other"`)})
	ok(&s3.GetObjectInput{IfModifiedSince: aws.Time(past)})
	ok(&s3.GetObjectInput{IfUnmodifiedSince: aws.Time(future)})
	status(&s3.GetObjectInput{IfMatch: aws.String(`"other"`)}, 412)
	status(&s3.GetObjectInput{IfUnmodifiedSince: aws.Time(past)}, 412)
	status(&s3.GetObjectInput{IfNoneMatch: aws.String(etag)}, 304)
	status(&s3.GetObjectInput{IfModifiedSince: aws.Time(future)}, 304)
	// S3's precedence: If-Match true beats If-Unmodified-Since false.
	ok(&s3.GetObjectInput{IfMatch: aws.String(etag), IfUnmodifiedSince: aws.Time(past)})
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"), IfMatch: aws.String(`"x"`)})
	wantAPIError(t, err, "PreconditionFailed", "pre-conditions")

	// Conditional writes.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"), Body: strings.NewReader("new"), IfNoneMatch: aws.String("*")})
	wantAPIError(t, err, "PreconditionFailed", "pre-conditions")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rng"), Key: aws.String("fresh"), Body: strings.NewReader("new"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("If-None-Match * on a new key: %v", err)
	}
	if got := get(t, c, "rng", "k"); string(got) != string(data) {
		t.Fatalf("refused write changed the object: %q", got)
	}
}

func TestDeleteObjectsAndCopy(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "src")
	mustBucket(t, c, "dst")
	for _, k := range []string{"a", "b", "c"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(k), Body: strings.NewReader("data-" + k),
			Metadata: map[string]string{"m": k}, ContentType: aws.String("text/x-" + k), Tagging: aws.String("t=" + k)})
		if err != nil {
			t.Fatal(err)
		}
	}
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy-a"), CopySource: aws.String("src/a")})
	if err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	if aws.ToString(cp.CopyObjectResult.ETag) != `"`+md5hex([]byte("data-a"))+`"` {
		t.Fatalf("copy ETag %s", aws.ToString(cp.CopyObjectResult.ETag))
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy-a")})
	if err != nil || h.Metadata["m"] != "a" || aws.ToString(h.ContentType) != "text/x-a" || aws.ToInt32(h.TagCount) != 1 {
		t.Fatalf("copied metadata: %+v %v", h, err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy-b"), CopySource: aws.String("/src/b"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "1"}, ContentType: aws.String("app/new")})
	if err != nil {
		t.Fatal(err)
	}
	h, _ = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy-b")})
	if h.Metadata["new"] != "1" || h.Metadata["m"] != "" || aws.ToString(h.ContentType) != "app/new" {
		t.Fatalf("REPLACE metadata: %v %s", h.Metadata, aws.ToString(h.ContentType))
	}
	if got := get(t, c, "dst", "copy-b"); string(got) != "data-b" {
		t.Fatalf("copy body %q", got)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
	wantAPIError(t, err, "NoSuchKey", "does not exist")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a"), CopySource: aws.String("src/a")})
	wantAPIError(t, err, "InvalidRequest", "copy an object to itself")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/a"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantAPIError(t, err, "PreconditionFailed", "pre-conditions")

	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("src"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a")}, {Key: aws.String("b")}, {Key: aws.String("never-existed")}}}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Fatalf("DeleteObjects: deleted %d, errors %v", len(del.Deleted), del.Errors)
	}
	l, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("src")})
	if len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "c" {
		t.Fatalf("after DeleteObjects: %v", l.Contents)
	}
	q, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("src"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("c")}}}})
	if err != nil || len(q.Deleted) != 0 {
		t.Fatalf("quiet DeleteObjects: %v %v", q.Deleted, err)
	}
}

func keysOf(objs []types.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, aws.ToString(o.Key))
	}
	return out
}

func prefixesOf(cps []types.CommonPrefix) []string {
	var out []string
	for _, p := range cps {
		out = append(out, aws.ToString(p.Prefix))
	}
	return out
}

func TestListObjects(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "lst")
	keys := []string{"a", "b/1", "b/2", "b/3/x", "c", "d/1", "d/2", "e"}
	for _, k := range keys {
		put(t, c, "lst", k, []byte(k))
	}
	all, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst")})
	if err != nil || !slices.Equal(keysOf(all.Contents), keys) || aws.ToInt32(all.KeyCount) != int32(len(keys)) {
		t.Fatalf("list all: %v %v", keysOf(all.Contents), err)
	}
	d, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Delimiter: aws.String("/")})
	if err != nil || !slices.Equal(keysOf(d.Contents), []string{"a", "c", "e"}) || !slices.Equal(prefixesOf(d.CommonPrefixes), []string{"b/", "d/"}) {
		t.Fatalf("delimiter: %v %v %v", keysOf(d.Contents), prefixesOf(d.CommonPrefixes), err)
	}
	p, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("b/"), Delimiter: aws.String("/")})
	if err != nil || !slices.Equal(keysOf(p.Contents), []string{"b/1", "b/2"}) || !slices.Equal(prefixesOf(p.CommonPrefixes), []string{"b/3/"}) {
		t.Fatalf("prefix+delimiter: %v %v %v", keysOf(p.Contents), prefixesOf(p.CommonPrefixes), err)
	}
	sa, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), StartAfter: aws.String("b/3/x")})
	if err != nil || !slices.Equal(keysOf(sa.Contents), []string{"c", "d/1", "d/2", "e"}) {
		t.Fatalf("start-after: %v %v", keysOf(sa.Contents), err)
	}
	// Paging two entries at a time, with and without a delimiter.
	for _, delim := range []string{"", "/"} {
		var got []string
		pg := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(2), Delimiter: aws.String(delim)})
		pages := 0
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if n := len(out.Contents) + len(out.CommonPrefixes); n > 2 {
				t.Fatalf("page of %d entries with max-keys 2", n)
			}
			got = append(got, keysOf(out.Contents)...)
			got = append(got, prefixesOf(out.CommonPrefixes)...)
		}
		want := keys
		if delim != "" {
			want = []string{"a", "b/", "c", "d/", "e"}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || pages < 3 {
			t.Fatalf("delimiter %q paged: %v in %d pages, want %v", delim, got, pages, want)
		}
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), Marker: aws.String("c"), MaxKeys: aws.Int32(2)})
	if err != nil || !slices.Equal(keysOf(v1.Contents), []string{"d/1", "d/2"}) || !aws.ToBool(v1.IsTruncated) {
		t.Fatalf("ListObjects v1: %v %v", keysOf(v1.Contents), err)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nope")})
	wantAPIError(t, err, "NoSuchBucket", "does not exist")
}

func TestVersioning(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "ver")
	gv, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("ver")})
	if err != nil || gv.Status != "" {
		t.Fatalf("GetBucketVersioning of a new bucket: %v %v", gv.Status, err)
	}
	put(t, c, "ver", "k", []byte("null-version"))
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("PutBucketVersioning: %v", err)
	}
	gv, _ = c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("ver")})
	if gv.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning %q", gv.Status)
	}
	v1 := aws.ToString(put(t, c, "ver", "k", []byte("one")).VersionId)
	v2 := aws.ToString(put(t, c, "ver", "k", []byte("two")).VersionId)
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	if got := get(t, c, "ver", "k"); string(got) != "two" {
		t.Fatalf("current %q", got)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	_ = g.Body.Close()
	if string(b) != "one" || aws.ToString(g.VersionId) != v1 {
		t.Fatalf("version %s read %q", v1, b)
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String("null")})
	if err != nil {
		t.Fatalf("null version: %v", err)
	}
	b, _ = io.ReadAll(g.Body)
	_ = g.Body.Close()
	if string(b) != "null-version" {
		t.Fatalf("null version read %q", b)
	}
	d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) == "" {
		t.Fatalf("delete in a versioned bucket: %+v %v", d, err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k")})
	wantAPIError(t, err, "NoSuchKey", "does not exist")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: d.VersionId})
	wantAPIError(t, err, "MethodNotAllowed", "not allowed")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(strings.Repeat("Z", 32))})
	wantAPIError(t, err, "NoSuchVersion", "does not exist")
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("ver")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.DeleteMarkers) != 1 || len(lv.Versions) != 3 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Fatalf("ListObjectVersions: %d markers, %d versions", len(lv.DeleteMarkers), len(lv.Versions))
	}
	if aws.ToString(lv.Versions[0].VersionId) != v2 || aws.ToString(lv.Versions[1].VersionId) != v1 || aws.ToString(lv.Versions[2].VersionId) != "null" {
		t.Fatalf("version order: %s %s %s", aws.ToString(lv.Versions[0].VersionId), aws.ToString(lv.Versions[1].VersionId), aws.ToString(lv.Versions[2].VersionId))
	}
	// Paging versions one at a time visits all four.
	n := 0
	pg := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String("ver"), MaxKeys: aws.Int32(1)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Versions) + len(out.DeleteMarkers)
	}
	if n != 4 {
		t.Fatalf("paged %d versions, want 4", n)
	}
	// Removing the delete marker brings v2 back; removing v2 makes v1 current.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: d.VersionId}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "ver", "k"); string(got) != "two" {
		t.Fatalf("after removing the marker: %q", got)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "ver", "k"); string(got) != "one" {
		t.Fatalf("after removing v2: %q", got)
	}
	// Suspended: writes replace the null version.
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	put(t, c, "ver", "k", []byte("s1"))
	put(t, c, "ver", "k", []byte("s2"))
	lv, _ = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("ver")})
	if len(lv.Versions) != 2 || aws.ToString(lv.Versions[0].VersionId) != "null" {
		t.Fatalf("suspended versions: %d", len(lv.Versions))
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: "Sometimes"}})
	wantAPIError(t, err, "MalformedXML", "Status")
	// Dead versions' files are collected.
	waitFor(t, func() bool { return countObjectFiles(t, e) == 2 }, "two version files left (v1 and s2)")
}

func TestMultipartUpload(t *testing.T) {
	e := newEnv(t, envOptions{minPartSize: 1 << 20})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "mpu")
	part1 := bytes.Repeat([]byte{'a'}, 1<<20)
	part2 := bytes.Repeat([]byte{'b'}, 1<<20+17)
	part3 := []byte("tail")
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big"),
		Metadata: map[string]string{"kind": "mpu"}, ContentType: aws.String("video/mp4"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	uid := cr.UploadId
	var done []types.CompletedPart
	for i, p := range [][]byte{part1, part2, part3} {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid, MaxParts: aws.Int32(2)})
	if err != nil || len(lp.Parts) != 2 || !aws.ToBool(lp.IsTruncated) || aws.ToInt64(lp.Parts[1].Size) != int64(len(part2)) {
		t.Fatalf("ListParts: %+v %v", lp, err)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(uid) {
		t.Fatalf("ListMultipartUploads: %+v %v", lu, err)
	}
	// Out of order, wrong ETag.
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{done[1], done[0]}}})
	wantAPIError(t, err, "InvalidPartOrder", "ascending order")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"bad"`)}}}})
	wantAPIError(t, err, "InvalidPart", "could not be found")
	// A small part that is not the last.
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{done[0], {PartNumber: aws.Int32(3), ETag: done[2].ETag}}}})
	if err != nil {
		t.Fatalf("small last part must be fine: %v", err)
	}
	// Completed: the upload is gone.
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid})
	wantAPIError(t, err, "NoSuchUpload", "does not exist")
	want := append(append([]byte{}, part1...), part3...)
	if got := get(t, c, "mpu", "big"); !bytes.Equal(got, want) {
		t.Fatalf("assembled object: %d bytes, want %d", len(got), len(want))
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big")})
	if err != nil || !strings.HasSuffix(aws.ToString(h.ETag), `-2"`) || h.Metadata["kind"] != "mpu" || aws.ToString(h.ContentType) != "video/mp4" {
		t.Fatalf("multipart head: %+v %v", h, err)
	}

	// EntityTooSmall: a small part before the last.
	cr2, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("small")})
	var parts []types.CompletedPart
	for i := range 2 {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("small"), UploadId: cr2.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader("tiny")})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("small"), UploadId: cr2.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantAPIError(t, err, "EntityTooSmall", "smaller than the minimum")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("small")})
	wantAPIError(t, err, "NoSuchKey", "does not exist")
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("small"), UploadId: cr2.UploadId}); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("small"), UploadId: cr2.UploadId,
		PartNumber: aws.Int32(3), Body: strings.NewReader("late")})
	wantAPIError(t, err, "NoSuchUpload", "does not exist")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: aws.String("nope"),
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantAPIError(t, err, "NoSuchUpload", "does not exist")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big"), UploadId: uid, PartNumber: aws.Int32(10001), Body: strings.NewReader("x")})
	wantAPIError(t, err, "InvalidArgument", "Part number must be an integer between 1 and 10000")
}

func TestEntityTooLarge(t *testing.T) {
	e := newEnv(t, envOptions{maxObject: 1 << 10})
	c := e.admin(t)
	mustBucket(t, c, "lim")
	_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("k"), Body: bytes.NewReader(make([]byte, 2<<10))})
	wantAPIError(t, err, "EntityTooLarge", "exceeds the maximum")
	assertNoStrayFiles(t, e)
}

func TestTagging(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "tag")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tag"), Key: aws.String("k"), Body: strings.NewReader("x"), Tagging: aws.String("a=1&b=two")})
	if err != nil {
		t.Fatal(err)
	}
	tags := func() map[string]string {
		t.Helper()
		out, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tag"), Key: aws.String("k")})
		if err != nil {
			t.Fatalf("GetObjectTagging: %v", err)
		}
		m := map[string]string{}
		for _, tg := range out.TagSet {
			m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		return m
	}
	if m := tags(); m["a"] != "1" || m["b"] != "two" || len(m) != 2 {
		t.Fatalf("tags from the header: %v", m)
	}
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tag"), Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}}); err != nil {
		t.Fatalf("PutObjectTagging: %v", err)
	}
	if m := tags(); m["env"] != "prod" || len(m) != 1 {
		t.Fatalf("tags after put: %v", m)
	}
	var many []types.Tag
	for i := range 11 {
		many = append(many, types.Tag{Key: aws.String(strings.Repeat("k", i+1)), Value: aws.String("ver")})
	}
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tag"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: many}})
	wantAPIError(t, err, "InvalidTag", "greater than 10")
	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("tag"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if m := tags(); len(m) != 0 {
		t.Fatalf("tags after delete: %v", m)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tag"), Key: aws.String("missing")})
	wantAPIError(t, err, "NoSuchKey", "")
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "auth")
	put(t, c, "auth", "k", []byte("secret data"))
	_, err := e.client(t, testAKID, "wrong-secret").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("k")})
	wantAPIError(t, err, "SignatureDoesNotMatch", "signature we calculated does not match")
	_, err = e.client(t, "AKIAUNKNOWN000000000", testSecret).ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, err, "InvalidAccessKeyId", "does not exist")
	resp, err := http.Get(e.URL + "/auth/k")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("anonymous GET: %d", resp.StatusCode)
	}

	ps := s3.NewPresignClient(c)
	preq, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("k")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(preq.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "secret data" {
		t.Fatalf("presigned GET: %d %q", resp.StatusCode, b)
	}
	pput, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("up")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, pput.URL, strings.NewReader("via presigned PUT"))
	for k, v := range pput.SignedHeader {
		req.Header[k] = v
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d", resp.StatusCode)
	}
	if got := get(t, c, "auth", "up"); string(got) != "via presigned PUT" {
		t.Fatalf("presigned PUT stored %q", got)
	}
	// A tampered presigned URL.
	resp, err = http.Get(strings.Replace(preq.URL, "/auth/k", "/auth/up", 1))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("tampered presigned URL: %d %s", resp.StatusCode, b)
	}
}

func TestUnsupportedSubresources(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "nsr")
	_, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("nsr")})
	wantAPIError(t, err, "NotImplemented", "?acl")
	_, err = c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("nsr")})
	wantAPIError(t, err, "NotImplemented", "?policy")
	_, err = c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("nsr")})
	wantAPIError(t, err, "NotImplemented", "?lifecycle")
	if httpStatus(err) != 501 {
		t.Fatalf("NotImplemented status %d", httpStatus(err))
	}
}

func TestVirtualHostedStyle(t *testing.T) {
	e := newEnv(t, envOptions{})
	addr := strings.TrimPrefix(e.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	c := e.admin(t, func(o *s3.Options) {
		o.UsePathStyle = false
		o.BaseEndpoint = aws.String("http://s3.localhost:" + port)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) { return dial(ctx, network, addr) }
		o.HTTPClient = &http.Client{Transport: tr}
	})
	mustBucket(t, c, "vhost")
	put(t, c, "vhost", "dir/file.txt", []byte("virtual"))
	if got := get(t, c, "vhost", "dir/file.txt"); string(got) != "virtual" {
		t.Fatalf("virtual-hosted GET %q", got)
	}
	// The same object path-style.
	if got := get(t, e.admin(t), "vhost", "dir/file.txt"); string(got) != "virtual" {
		t.Fatalf("path-style GET %q", got)
	}
}

var _ = smithy.GenericAPIError{}

func TestUnusualKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "keys")
	keys := []string{"a b/c+d", "ünï/cödé", "100%/sure?", "double//slash", "/leading", "tilde~and'quote", "semi;colon&amp=", strings.Repeat("k", 1024)}
	for _, k := range keys {
		put(t, c, "keys", k, []byte(k))
		if got := get(t, c, "keys", k); string(got) != k {
			t.Fatalf("key %q read %q", k, got)
		}
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys")})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if got := keysOf(out.Contents); !slices.Equal(got, want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
	wantAPIError(t, err, "KeyTooLongError", "too long")
}

// TestTrailingChecksumMismatch sends an aws-chunked body whose trailing
// checksum is wrong: BadDigest, and nothing is stored.
func TestTrailingChecksumMismatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.admin(t)
	mustBucket(t, c, "trail")
	payload := "hello trailer"
	for _, tc := range []struct{ name, sum, code string }{
		{"wrong", "AAAAAA==", "BadDigest"},
		{"right", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := tc.sum
			if sum == "" {
				h := crc32.NewIEEE()
				h.Write([]byte(payload))
				sum = base64.StdEncoding.EncodeToString(h.Sum(nil))
			}
			body := fmt.Sprintf("%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n", len(payload), payload, sum)
			req, _ := http.NewRequest(http.MethodPut, e.URL+"/trail/"+tc.name, strings.NewReader(body))
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(payload)))
			req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			err := v4.NewSigner().SignHTTP(ctxT(t), aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}, req,
				"STREAMING-UNSIGNED-PAYLOAD-TRAILER", "s3", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if tc.code == "" {
				if resp.StatusCode != 200 {
					t.Fatalf("right trailer: %d %s", resp.StatusCode, b)
				}
				if got := get(t, c, "trail", tc.name); string(got) != payload {
					t.Fatalf("stored %q", got)
				}
				return
			}
			if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>"+tc.code+"</Code>") {
				t.Fatalf("wrong trailer: %d %s", resp.StatusCode, b)
			}
			_, err = c.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("trail"), Key: aws.String(tc.name)})
			if err == nil {
				t.Fatal("an upload with a wrong trailing checksum was stored")
			}
			assertNoStrayFiles(t, e)
		})
	}
}

// TestXMLBodiesOverTLS sends the operations with XML bodies the way the SDK
// does over TLS (aws-chunked with trailing checksums where it checksums).
func TestXMLBodiesOverTLS(t *testing.T) {
	e := newEnv(t, envOptions{tls: true, minPartSize: 1})
	c := e.admin(t)
	ctx := ctxT(t)
	mustBucket(t, c, "tlsxml")
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("tlsxml"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("PutBucketVersioning: %v", err)
	}
	put(t, c, "tlsxml", "a", []byte("a"))
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tlsxml"), Key: aws.String("a"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}); err != nil {
		t.Fatalf("PutObjectTagging: %v", err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("tlsxml"), Key: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tlsxml"), Key: aws.String("m"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("tlsxml"), Key: aws.String("m"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32}}}}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("tlsxml"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("m")}}}})
	if err != nil || len(del.Deleted) != 2 || !aws.ToBool(del.Deleted[0].DeleteMarker) || aws.ToString(del.Deleted[0].Key) != "a" {
		t.Fatalf("DeleteObjects: %+v %v", del, err)
	}
}
