package attr

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fakeDynamo records the request body the SDK sends and answers with a
// fixed response body.
type fakeDynamo struct {
	request  []byte
	response string
}

func (f *fakeDynamo) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	f.request = body
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:       io.NopCloser(strings.NewReader(f.response)),
		Request:    req,
	}, nil
}

func newSDKClient(f *fakeDynamo) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://127.0.0.1:4566"),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:       f,
		RetryMaxAttempts: 1,
	})
}

// The real SDK's serializer and deserializer agree with this package's
// JSON form, in both directions.
func TestJSONAgreesWithSDK(t *testing.T) {
	sdkItem := map[string]types.AttributeValue{
		"s":  &types.AttributeValueMemberS{Value: "héllo\n\"x\""},
		"n":  &types.AttributeValueMemberN{Value: "-12.50"},
		"b":  &types.AttributeValueMemberB{Value: []byte{0, 1, 0xfe, 0xff}},
		"t":  &types.AttributeValueMemberBOOL{Value: true},
		"z":  &types.AttributeValueMemberNULL{Value: true},
		"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2e3"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberS{Value: "x"},
				&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
			}},
		}},
	}
	want := Item{
		"s":  {Kind: KindS, S: "héllo\n\"x\""},
		"n":  {Kind: KindN, N: MustParseNumber("-12.5")},
		"b":  {Kind: KindB, B: []byte{0, 1, 0xfe, 0xff}},
		"t":  {Kind: KindBOOL, BOOL: true},
		"z":  {Kind: KindNULL},
		"ss": {Kind: KindSS, SS: []string{"b", "a"}},
		"ns": {Kind: KindNS, NS: []Number{MustParseNumber("2000"), MustParseNumber("1")}},
		"bs": {Kind: KindBS, BS: [][]byte{{2, 3}, {1}}},
		"m": {Kind: KindM, M: map[string]Value{"l": {Kind: KindL, L: []Value{
			{Kind: KindS, S: "x"},
			{Kind: KindM, M: map[string]Value{}},
		}}}},
	}
	ctx := context.Background()

	t.Run("SDK request decodes", func(t *testing.T) {
		f := &fakeDynamo{response: `{}`}
		if _, err := newSDKClient(f).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: sdkItem}); err != nil {
			t.Fatalf("PutItem: %v", err)
		}
		var req struct{ Item Item }
		if err := json.Unmarshal(f.request, &req); err != nil {
			t.Fatalf("decoding SDK request %s: %v", f.request, err)
		}
		if !Equal(Value{Kind: KindM, M: req.Item}, Value{Kind: KindM, M: want}) {
			t.Errorf("SDK request %s:\ngot  %+v\nwant %+v", f.request, req.Item, want)
		}
	})

	t.Run("our response decodes in the SDK", func(t *testing.T) {
		body, err := json.Marshal(struct{ Item Item }{want})
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeDynamo{response: string(body)}
		out, err := newSDKClient(f).GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("t"),
			Key:       map[string]types.AttributeValue{"s": &types.AttributeValueMemberS{Value: "k"}},
		})
		if err != nil {
			t.Fatalf("GetItem with response %s: %v", body, err)
		}
		// Re-encode what the SDK parsed and compare as attribute values.
		f2 := &fakeDynamo{response: `{}`}
		if _, err := newSDKClient(f2).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: out.Item}); err != nil {
			t.Fatal(err)
		}
		var req struct{ Item Item }
		if err := json.Unmarshal(f2.request, &req); err != nil {
			t.Fatal(err)
		}
		if !Equal(Value{Kind: KindM, M: req.Item}, Value{Kind: KindM, M: want}) {
			t.Errorf("SDK parse of %s:\ngot  %+v\nwant %+v", body, req.Item, want)
		}
		if n := out.Item["n"].(*types.AttributeValueMemberN).Value; n != "-12.5" {
			t.Errorf("number text the SDK sees: got %q, want %q", n, "-12.5")
		}
	})
}
