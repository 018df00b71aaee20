package s3

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/meridian-platform/meridian/internal/store"
)

// MaxTags is how many tags an object may have.
const MaxTags = 10

func encodeTags(tags []Tag) []byte {
	b, _ := json.Marshal(tags)
	return b
}

// ValidateTags checks a tag set as S3 does.
func ValidateTags(tags []Tag) error {
	if len(tags) > MaxTags {
		return errorf(CodeInvalidTag, "Object tags cannot be greater than %d", MaxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 {
			return errorf(CodeInvalidTag, "The TagKey you have provided is invalid")
		}
		if utf8.RuneCountInString(t.Value) > 256 {
			return errorf(CodeInvalidTag, "The TagValue you have provided is invalid")
		}
		if seen[t.Key] {
			return errorf(CodeInvalidTag, "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

func (e *Engine) getTags(bucketID, key, id string) ([]Tag, error) {
	st, err := e.st.Get(tagKey(bucketID, key, id))
	if err != nil || !st.Exists() {
		return nil, err
	}
	var tags []Tag
	if err := json.Unmarshal(st.Base.Doc, &tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// GetObjectTagging returns a version's tags and its version id.
func (e *Engine) GetObjectTagging(bucket, key, versionID string) ([]Tag, string, error) {
	o, err := e.HeadObject(bucket, key, versionID)
	if err != nil {
		return nil, "", err
	}
	b, err := e.Bucket(bucket)
	if err != nil {
		return nil, "", err
	}
	tags, err := e.getTags(b.ID, key, o.ID)
	return tags, o.VersionID, err
}

// PutObjectTagging replaces a version's tags (last writer wins across
// regions) and returns its version id.
func (e *Engine) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags []Tag) (string, error) {
	if err := ValidateTags(tags); err != nil {
		return "", err
	}
	o, err := e.HeadObject(bucket, key, versionID)
	if err != nil {
		return "", err
	}
	b, err := e.Bucket(bucket)
	if err != nil {
		return "", err
	}
	m := store.Mutation{Key: tagKey(b.ID, key, o.ID), Put: encodeTags(tags)}
	if len(tags) == 0 {
		m = store.Mutation{Key: tagKey(b.ID, key, o.ID), Delete: true}
	}
	_, err = e.st.Apply(ctx, m)
	return o.VersionID, err
}

// DeleteObjectTagging removes a version's tags.
func (e *Engine) DeleteObjectTagging(ctx context.Context, bucket, key, versionID string) (string, error) {
	return e.PutObjectTagging(ctx, bucket, key, versionID, nil)
}
