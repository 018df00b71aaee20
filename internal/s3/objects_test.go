package s3

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// duringBody is a request body that runs fn when it is first read: after
// PutObject looked the bucket up and before its commit.
type duringBody struct {
	r    io.Reader
	once sync.Once
	fn   func()
}

func (b *duringBody) Read(p []byte) (int, error) {
	b.once.Do(b.fn)
	return b.r.Read(p)
}

// TestPutActsOnTheBucketAsOfItsCommit changes the bucket while a PUT's body
// is being received, after the PUT found the bucket: the PUT lands in a live
// bucket with the settings that hold at its commit, or fails NoSuchBucket
// and leaves nothing.
func TestPutActsOnTheBucketAsOfItsCommit(t *testing.T) {
	p := func(s string) *string { return &s }
	onlyEU := &ReplicationConfig{Rules: []ReplicationRule{{Status: "Enabled", Filter: &ReplicationFilter{Prefix: p("")},
		Destination: ReplicationDestination{Bucket: "arn:aws:s3:eu-west::bkt"}}}}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, f *fixture)
		// check inspects the PUT's outcome.
		check func(t *testing.T, f *fixture, v *Version, err error)
	}{
		{
			name: "bucket deleted",
			change: func(t *testing.T, f *fixture) {
				if err := f.e.DeleteBucket(ctxT(t), "bkt"); err != nil {
					t.Fatalf("DeleteBucket: %v", err)
				}
			},
			check: func(t *testing.T, f *fixture, _ *Version, err error) {
				wantNoSuchBucket(t, f, err)
			},
		},
		{
			name: "bucket deleted and created again",
			change: func(t *testing.T, f *fixture) {
				if err := f.e.DeleteBucket(ctxT(t), "bkt"); err != nil {
					t.Fatalf("DeleteBucket: %v", err)
				}
				if err := f.e.CreateBucket(ctxT(t), "bkt"); err != nil {
					t.Fatalf("CreateBucket: %v", err)
				}
			},
			check: func(t *testing.T, f *fixture, _ *Version, err error) {
				wantNoSuchBucket(t, f, err)
				if _, herr := f.e.HeadObject("bkt", "k", ""); !isCode(herr, CodeNoSuchKey) {
					t.Fatalf("HeadObject in the new bucket: got %v, want NoSuchKey", herr)
				}
			},
		},
		{
			name: "versioning enabled",
			change: func(t *testing.T, f *fixture) {
				if err := f.e.PutBucketVersioning(ctxT(t), "bkt", "Enabled"); err != nil {
					t.Fatalf("PutBucketVersioning: %v", err)
				}
			},
			check: func(t *testing.T, f *fixture, v *Version, err error) {
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				if !validVersionID(v.VersionID) {
					t.Fatalf("version id %q, want a versioned id: the bucket was versioned at the commit", v.VersionID)
				}
				o, err := f.e.HeadObject("bkt", "k", v.VersionID)
				if err != nil {
					t.Fatalf("HeadObject of version %s: %v", v.VersionID, err)
				}
				if o.ID != v.ID {
					t.Fatalf("HeadObject found version %s, want %s", o.ID, v.ID)
				}
			},
		},
		{
			name: "replication narrowed",
			change: func(t *testing.T, f *fixture) {
				if err := f.e.PutBucketReplication(ctxT(t), "bkt", onlyEU); err != nil {
					t.Fatalf("PutBucketReplication: %v", err)
				}
			},
			check: func(t *testing.T, f *fixture, _ *Version, err error) {
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				o, err := f.e.HeadObject("bkt", "k", "")
				if err != nil {
					t.Fatalf("HeadObject: %v", err)
				}
				if got, want := o.Replicate, []string{"eu-west"}; !slices.Equal(got, want) {
					t.Fatalf("version replicates to %v, want %v (the configuration at the commit)", got, want)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{Regions: []string{"ap-south", "eu-west", "us-east"}})
			if err := f.e.CreateBucket(ctxT(t), "bkt"); err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("x"), 64<<10)
			body := &duringBody{r: bytes.NewReader(data), fn: func() { tc.change(t, f) }}
			v, err := f.e.PutObject(ctxT(t), &PutInput{Bucket: "bkt", Key: "k", Body: Body{R: body, Size: int64(len(data))}})
			tc.check(t, f, v, err)
		})
	}
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// wantNoSuchBucket checks a PUT that failed NoSuchBucket left no bytes.
func wantNoSuchBucket(t *testing.T, f *fixture, err error) {
	t.Helper()
	if !isCode(err, CodeNoSuchBucket) {
		t.Fatalf("PutObject: got %v, want NoSuchBucket", err)
	}
	for _, d := range []string{"tmp", "objects"} {
		ents, rerr := os.ReadDir(filepath.Join(f.dir, d))
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(ents) != 0 {
			t.Fatalf("%s/ holds %d files after a refused PUT, want none", d, len(ents))
		}
	}
}
