package shop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Product images live in an S3 bucket (ImagesBucket, default "static"),
// which Meridian replicates to every region. The shop uploads one picture
// per product at setup, once, and serves them at /static/products/<id>.svg
// with a Cache-Control that lets the edge cache keep them: through an edge,
// /static/ is served by the cache, so a browser gets the image from the
// edge near it and the shop sees only the misses.

// imageCacheControl is what images are served (and stored) with.
const imageCacheControl = "public, max-age=300"

func imageKey(productID string) string { return "products/" + productID + ".svg" }

// imageSVG draws a product's picture: its icon and name on a tinted card.
func imageSVG(p Product) []byte {
	hue := 0
	for _, c := range p.ID {
		hue = (hue*31 + int(c)) % 360
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" viewBox="0 0 240 160" role="img" aria-label="%s">`, html.EscapeString(p.Name))
	fmt.Fprintf(&b, `<rect width="240" height="160" rx="12" fill="hsl(%d,60%%,88%%)"/>`, hue)
	fmt.Fprintf(&b, `<text x="120" y="92" font-size="64" text-anchor="middle">%s</text>`, html.EscapeString(p.Icon))
	fmt.Fprintf(&b, `<text x="120" y="142" font-size="14" font-family="sans-serif" text-anchor="middle">%s</text>`, html.EscapeString(p.Name))
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// ensureImages creates the bucket if absent and uploads the picture of
// every product that has none yet. Other instances and regions do the same
// at the same time; the bucket and the objects are the same whoever wins.
func (s *Shop) ensureImages(ctx context.Context) error {
	bucket := aws.String(s.cfg.ImagesBucket)
	if _, err := s.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		_, err := s.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
		var owned *s3types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("creating the images bucket %s: %w", s.cfg.ImagesBucket, err)
		}
	}
	for _, p := range s.cfg.Catalog {
		key := aws.String(imageKey(p.ID))
		_, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
		if err == nil {
			continue
		}
		if !isNotFound(err) {
			return fmt.Errorf("looking for the image of %s: %w", p.ID, err)
		}
		body := imageSVG(p)
		if _, err := s.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: bucket, Key: key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
			ContentType: aws.String("image/svg+xml"), CacheControl: aws.String(imageCacheControl),
		}); err != nil {
			return fmt.Errorf("uploading the image of %s: %w", p.ID, err)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return true
		}
	}
	var nf *s3types.NotFound
	return errors.As(err, &nf)
}

// imageHandler serves GET /static/products/{file} from the bucket, with
// the object's validators so caches can revalidate.
func (s *Shop) imageHandler(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ImagesBucket == "" {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.ImagesBucket), Key: aws.String("products/" + r.PathValue("file"))}
	if v := r.Header.Get("If-None-Match"); v != "" {
		in.IfNoneMatch = aws.String(v)
	}
	out, err := s.s3.GetObject(ctx, in)
	if err != nil {
		var ae smithy.APIError
		switch {
		case errors.As(err, &ae) && ae.ErrorCode() == "NotModified":
			w.WriteHeader(http.StatusNotModified)
		case isNotFound(err):
			http.NotFound(w, r)
		default:
			s.log.Warn("reading an image", "key", *in.Key, "err", err)
			http.Error(w, "image store unavailable", http.StatusBadGateway)
		}
		return
	}
	defer func() { _ = out.Body.Close() }()
	h := w.Header()
	h.Set("Content-Type", aws.ToString(out.ContentType))
	h.Set("Cache-Control", imageCacheControl)
	if out.ETag != nil {
		h.Set("ETag", *out.ETag)
	}
	if out.LastModified != nil {
		h.Set("Last-Modified", out.LastModified.UTC().Format(http.TimeFormat))
	}
	if out.ContentLength != nil {
		h.Set("Content-Length", strconv.FormatInt(*out.ContentLength, 10))
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, out.Body) // the client went away; nothing to do
}
