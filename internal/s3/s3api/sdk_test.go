package s3api

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestSmoke(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		e := newEnv(t, envOptions{tls: tlsOn})
		c := e.admin(t)
		mustBucket(t, c, "photos")
		put(t, c, "photos", "a/b.txt", []byte("hello"))
		if got := get(t, c, "photos", "a/b.txt"); !bytes.Equal(got, []byte("hello")) {
			t.Fatalf("got %q", got)
		}
		out, err := c.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 1 || *out.Contents[0].Key != "a/b.txt" {
			t.Fatalf("list: %+v", out.Contents)
		}
	}
}
