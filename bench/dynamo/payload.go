package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB JSON protocol targets of the two operations measured.
const (
	targetPut = "DynamoDB_20120810.PutItem"
	targetGet = "DynamoDB_20120810.GetItem"
	amzJSON   = "application/x-amz-json-1.0"
)

// shape is the items of a run: table name and the item size to aim at.
type shape struct {
	table     string
	itemBytes int
}

// item is one benchmark item: a hash key pk, a three-digit number n and a
// string data that pads the item to about shape.itemBytes by DynamoDB's
// item-size rule (attribute names plus values).
type item struct {
	key  string
	n    string
	data string
}

// keyOf is the unique key of a client's seq-th item; always 15 bytes.
func keyOf(client int, seq uint64) string { return fmt.Sprintf("c%03d-%010d", client, seq) }

// newItem builds the item stored under key, with a random payload from rng.
func (s shape) newItem(rng *rand.Rand, key string, seq uint64) item {
	n := strconv.FormatUint(100+seq%900, 10)
	pad := max(s.itemBytes-len("pk")-len(key)-len("n")-len(n)-len("data"), 1)
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, pad)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return item{key: key, n: n, data: string(b)}
}

// sdk is the item as the SDK takes it.
func (it item) sdk() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk":   &types.AttributeValueMemberS{Value: it.key},
		"n":    &types.AttributeValueMemberN{Value: it.n},
		"data": &types.AttributeValueMemberS{Value: it.data},
	}
}

// The wire bodies below are what aws-sdk-go-v2 sends and DynamoDB (and
// Meridian) answers, byte for byte up to the order of map keys;
// TestBodiesMatchTheSDK checks it. The baseline sends and answers them.

type attr struct {
	S string `json:"S,omitempty"`
	N string `json:"N,omitempty"`
}

func (it item) wire() map[string]attr {
	return map[string]attr{"pk": {S: it.key}, "n": {N: it.n}, "data": {S: it.data}}
}

// putRequest is the body of PutItem(it).
func (s shape) putRequest(it item) []byte {
	return mustJSON(struct {
		Item      map[string]attr
		TableName string
	}{it.wire(), s.table})
}

// getRequest is the body of GetItem(key).
func (s shape) getRequest(key string) []byte {
	return mustJSON(struct {
		Key       map[string]attr
		TableName string
	}{map[string]attr{"pk": {S: key}}, s.table})
}

// putResponse is PutItem's answer without ReturnValues.
func putResponse() []byte { return []byte("{}") }

// getResponse is GetItem's answer when it finds it.
func getResponse(it item) []byte {
	return mustJSON(struct{ Item map[string]attr }{it.wire()})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encoding a benchmark body: %v", err)) // plain structs of strings always encode
	}
	return b
}
