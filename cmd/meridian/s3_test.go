package main_test

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3's ETag
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/iam"
)

// s3Clients returns an SDK S3 client per region, path-style, with the
// credentials `up` wrote.
func s3Clients(t *testing.T, u *upProc) map[string]*s3.Client {
	t.Helper()
	out := map[string]*s3.Client{}
	for _, n := range u.endpoints().Nodes {
		cfg, err := config.LoadDefaultConfig(context.Background(),
			config.WithSharedCredentialsFiles([]string{filepath.Join(u.dir, deploy.CredentialsFile)}),
			config.WithSharedConfigProfile(iam.Profile),
			config.WithRegion(n.Region),
			config.WithRetryMaxAttempts(1))
		if err != nil {
			t.Fatal(err)
		}
		out[n.Region] = s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(n.API)
			o.UsePathStyle = true
		})
	}
	return out
}

// sha256Of reads key from c and returns the digest of its bytes.
func sha256Of(ctx context.Context, c *s3.Client, bucket, key string) ([32]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return [32]byte{}, err
	}
	defer func() { _ = out.Body.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3SurvivesKill9 kills real region processes with SIGKILL (`meridian
// chaos kill`) in the middle of replicating objects and in the middle of a
// multipart upload, restarts them, and compares every object's SHA-256 in
// every region with what was written.
func TestS3SurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none")
	clients := s3Clients(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const bucket = "kill9"
	if _, err := clients["us-east"].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	want := map[string][32]byte{}

	t.Run("replication interrupted by kill -9 of a destination", func(t *testing.T) {
		put := func(key string) {
			body := randomBytes(t, 1<<20)
			if _, err := clients["us-east"].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Fatalf("PutObject %s: %v", key, err)
			}
			want[key] = sha256.Sum256(body)
		}
		for i := range 5 {
			put(fmt.Sprintf("before/%d", i))
		}
		if _, err := deploy.Kill(ctx, dir, "eu-west"); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			put(fmt.Sprintf("while-down/%d", i))
		}
		if _, err := deploy.Restart(ctx, dir, "eu-west"); err != nil {
			t.Fatal(err)
		}
		for _, region := range []string{"eu-west", "ap-south"} {
			for key, sum := range want {
				eventually(t, 60*time.Second, region+" has "+key, func() error {
					got, err := sha256Of(ctx, clients[region], bucket, key)
					if err != nil {
						return err
					}
					if got != sum {
						return fmt.Errorf("sha256 %x, want %x", got, sum)
					}
					return nil
				})
			}
		}
	})

	t.Run("acknowledged PUTs survive a kill -9 mid-write", func(t *testing.T) {
		putsAcrossAKill(ctx, t, dir, clients["us-east"], bucket)
	})

	t.Run("multipart upload across a kill -9 of its region", func(t *testing.T) {
		key := "multipart/big"
		up, err := clients["us-east"].CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		part1, part2 := randomBytes(t, 5<<20), randomBytes(t, 1<<20)
		p1, err := clients["us-east"].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := deploy.Kill(ctx, dir, "us-east"); err != nil {
			t.Fatal(err)
		}
		if _, err := deploy.Restart(ctx, dir, "us-east"); err != nil {
			t.Fatal(err)
		}
		var p2 *s3.UploadPartOutput
		eventually(t, 30*time.Second, "uploading part 2 after the restart", func() error {
			p2, err = clients["us-east"].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
				UploadId: up.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(part2)})
			return err
		})
		if _, err := clients["us-east"].CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
				{PartNumber: aws.Int32(1), ETag: p1.ETag}, {PartNumber: aws.Int32(2), ETag: p2.ETag},
			}},
		}); err != nil {
			t.Fatalf("CompleteMultipartUpload after the restart: %v", err)
		}
		sum := sha256.Sum256(append(append([]byte{}, part1...), part2...))
		for _, region := range []string{"us-east", "eu-west", "ap-south"} {
			eventually(t, 60*time.Second, region+" has the completed upload", func() error {
				got, err := sha256Of(ctx, clients[region], bucket, key)
				if err != nil {
					return err
				}
				if got != sum {
					return fmt.Errorf("sha256 %x, want %x", got, sum)
				}
				return nil
			})
		}
	})
}

// putsAcrossAKill has writers overwrite 64 KB objects (so their files are
// recycled) until the region is killed with SIGKILL, restarts it, and
// checks every key: it holds the last body a PUT acknowledged, or the body
// of the PUT the kill interrupted, never anything else (an unacknowledged
// PUT may or may not have committed), with an ETag that is the MD5 of
// the bytes it returns; a key no PUT acknowledged may also be absent.
func putsAcrossAKill(ctx context.Context, t *testing.T, dir string, c *s3.Client, bucket string) {
	const writers, keysPerWriter, size = 8, 4, 64 << 10
	type body struct{ sha, md5 [32]byte }
	sum := func(b []byte) body {
		var out body
		out.sha = sha256.Sum256(b)
		m := md5.Sum(b) //nolint:gosec // S3's ETag
		copy(out.md5[:], m[:])
		return out
	}
	type keyState struct {
		acked, interrupted *body
	}
	states := make([]map[string]*keyState, writers) // per writer, by key
	var acks atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		states[w] = map[string]*keyState{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("puts/%d/%d", w, i%keysPerWriter)
				ks := states[w][key]
				if ks == nil {
					ks = &keyState{}
					states[w][key] = ks
				}
				data := make([]byte, size)
				_, _ = rand.Read(data)
				b := sum(data)
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
					ks.interrupted = &b
					return
				}
				ks.acked = &b
				acks.Add(1)
			}
		}()
	}
	eventually(t, 60*time.Second, "writers acknowledged", func() error {
		if n := acks.Load(); n < 200 {
			return fmt.Errorf("%d PUTs acknowledged", n)
		}
		return nil
	})
	if _, err := deploy.Kill(ctx, dir, "us-east"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("killed us-east after %d acknowledged PUTs", acks.Load())
	if _, err := deploy.Restart(ctx, dir, "us-east"); err != nil {
		t.Fatal(err)
	}
	for _, byKey := range states {
		for key, ks := range byKey {
			eventually(t, 30*time.Second, "us-east serves "+key, func() error {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				var missing *s3types.NoSuchKey
				if errors.As(err, &missing) && ks.acked == nil {
					return nil
				}
				if err != nil {
					return err
				}
				data, err := io.ReadAll(out.Body)
				_ = out.Body.Close()
				if err != nil {
					return err
				}
				got := sum(data)
				if etag := strings.Trim(aws.ToString(out.ETag), `"`); etag != hex.EncodeToString(got.md5[:md5.Size]) {
					t.Fatalf("%s: ETag %s does not match the MD5 of its %d bytes", key, etag, len(data))
				}
				switch {
				case ks.acked != nil && got == *ks.acked:
				case ks.interrupted != nil && got == *ks.interrupted:
				default:
					t.Fatalf("%s holds %d bytes that are neither its last acknowledged body nor the interrupted one", key, len(data))
				}
				return nil
			})
		}
	}
}
