package s3api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/meridian-platform/meridian/internal/awsapi"
	"github.com/meridian-platform/meridian/internal/testcluster"
)

// TestServedOnTheAPIPort checks the wiring of internal/awsapi: S3 on the
// same port as DynamoDB, replicating between regions.
func TestServedOnTheAPIPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-region cluster")
	}
	c := testcluster.New(t, testcluster.Options{Regions: []string{"us-east", "eu-west"}, API: awsapi.New})
	ak := c.Credentials()
	client := func(region string) *s3.Client {
		return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(c.APIURL(region)), UsePathStyle: true,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: ak.ID, SecretAccessKey: ak.Secret}, nil
			}),
			HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	east, west := client("us-east"), client("eu-west")
	if _, err := east.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("wired")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	data := bytes.Repeat([]byte("wired "), 100000)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := east.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("wired"), Key: aws.String("k"), Body: bytes.NewReader(data)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PutObject: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		out, err := west.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("wired"), Key: aws.String("k")})
		if err == nil {
			got, rerr := io.ReadAll(out.Body)
			_ = out.Body.Close()
			if rerr == nil && bytes.Equal(got, data) && out.ReplicationStatus == "REPLICA" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("eu-west never served the object: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
