package s3

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
)

// ReplicationConfig is a bucket's replication configuration, in AWS's XML
// shape (PutBucketReplication). Without one a bucket replicates every
// version, delete markers included, to every region.
type ReplicationConfig struct {
	XMLName xml.Name          `xml:"ReplicationConfiguration" json:"-"`
	Role    string            `xml:"Role,omitempty" json:"role,omitempty"`
	Rules   []ReplicationRule `xml:"Rule" json:"rules"`
}

// ReplicationRule is one rule. Destination.Bucket is a bucket ARN whose
// region field names the destination region: arn:aws:s3:eu-west::photos
// replicates to eu-west; arn:aws:s3:::photos (no region) to every other
// region. Buckets are global, so the bucket must be the source bucket itself.
type ReplicationRule struct {
	ID                      string                   `xml:"ID,omitempty" json:"id,omitempty"`
	Priority                int                      `xml:"Priority,omitempty" json:"priority,omitempty"`
	Status                  string                   `xml:"Status" json:"status"`
	Prefix                  *string                  `xml:"Prefix" json:"prefix,omitempty"`
	Filter                  *ReplicationFilter       `xml:"Filter" json:"filter,omitempty"`
	Destination             ReplicationDestination   `xml:"Destination" json:"destination"`
	DeleteMarkerReplication *DeleteMarkerReplication `xml:"DeleteMarkerReplication" json:"dmr,omitempty"`
}

// ReplicationFilter selects keys by prefix and tags.
type ReplicationFilter struct {
	Prefix *string `xml:"Prefix" json:"prefix,omitempty"`
	Tag    *Tag    `xml:"Tag" json:"tag,omitempty"`
	And    *struct {
		Prefix *string `xml:"Prefix" json:"prefix,omitempty"`
		Tags   []Tag   `xml:"Tag" json:"tags,omitempty"`
	} `xml:"And" json:"and,omitempty"`
}

// ReplicationDestination names where a rule replicates to.
type ReplicationDestination struct {
	Bucket       string `xml:"Bucket" json:"bucket"`
	StorageClass string `xml:"StorageClass,omitempty" json:"storage_class,omitempty"`
	Account      string `xml:"Account,omitempty" json:"account,omitempty"`
}

// DeleteMarkerReplication says whether delete markers replicate.
type DeleteMarkerReplication struct {
	Status string `xml:"Status" json:"status"`
}

// Tag is one object tag.
type Tag struct {
	Key   string `xml:"Key" json:"k"`
	Value string `xml:"Value" json:"v"`
}

// validate checks c for bucket in a deployment of regions.
func (c *ReplicationConfig) validate(bucket string, regions []string) error {
	if len(c.Rules) == 0 {
		return errorf(CodeMalformedXML, "The replication configuration must have at least one rule.")
	}
	if len(c.Rules) > 1000 {
		return errorf(CodeInvalidRequest, "A replication configuration can have at most 1000 rules.")
	}
	ids := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Status != "Enabled" && r.Status != "Disabled" {
			return errorf(CodeMalformedXML, "Rule %d: Status must be Enabled or Disabled, not %q.", i+1, r.Status)
		}
		if r.ID != "" {
			if ids[r.ID] {
				return errorf(CodeInvalidArgument, "Rule ID %q is used by more than one rule.", r.ID)
			}
			ids[r.ID] = true
		}
		if r.Prefix != nil && r.Filter != nil {
			return errorf(CodeMalformedXML, "Rule %d has both Prefix and Filter; use Filter.", i+1)
		}
		if r.DeleteMarkerReplication != nil && r.DeleteMarkerReplication.Status != "Enabled" && r.DeleteMarkerReplication.Status != "Disabled" {
			return errorf(CodeMalformedXML, "Rule %d: DeleteMarkerReplication Status must be Enabled or Disabled.", i+1)
		}
		region, dst, err := parseBucketARN(r.Destination.Bucket)
		if err != nil {
			return errorf(CodeInvalidArgument, "Rule %d: %v", i+1, err)
		}
		if dst != bucket {
			return errorf(CodeInvalidRequest, "Rule %d: destination bucket %q must be %q itself: Meridian buckets are global, and a rule names the regions the bucket's objects are copied to (arn:aws:s3:<region>::%s).", i+1, dst, bucket, bucket)
		}
		if region != "" && !slices.Contains(regions, region) {
			return errorf(CodeInvalidRequest, "Rule %d: destination region %q is not a region of this deployment (regions: %s).", i+1, region, strings.Join(regions, ", "))
		}
	}
	return nil
}

// parseBucketARN splits arn:<partition>:s3:<region>:<account>:<bucket>.
func parseBucketARN(arn string) (region, bucket string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "s3" || parts[5] == "" {
		return "", "", fmt.Errorf("destination bucket %q is not a bucket ARN (arn:aws:s3:<region>::<bucket>)", arn)
	}
	return parts[3], parts[5], nil
}

func (r *ReplicationRule) matches(key string, tags []Tag, deleteMarker bool) bool {
	if r.Status != "Enabled" {
		return false
	}
	if deleteMarker && (r.DeleteMarkerReplication == nil || r.DeleteMarkerReplication.Status != "Enabled") {
		return false
	}
	hasTag := func(t Tag) bool { return slices.Contains(tags, t) }
	switch {
	case r.Prefix != nil:
		return strings.HasPrefix(key, *r.Prefix)
	case r.Filter == nil:
		return true
	case r.Filter.And != nil:
		if r.Filter.And.Prefix != nil && !strings.HasPrefix(key, *r.Filter.And.Prefix) {
			return false
		}
		for _, t := range r.Filter.And.Tags {
			if deleteMarker || !hasTag(t) {
				return false
			}
		}
		return true
	case r.Filter.Tag != nil:
		return !deleteMarker && hasTag(*r.Filter.Tag)
	case r.Filter.Prefix != nil:
		return strings.HasPrefix(key, *r.Filter.Prefix)
	}
	return true
}

// destinations lists the regions other than origin a new version of key
// replicates to.
func destinations(c *ReplicationConfig, regions []string, origin, key string, tags []Tag, deleteMarker bool) []string {
	want := map[string]bool{}
	if c == nil {
		for _, r := range regions {
			want[r] = true
		}
	} else {
		for i := range c.Rules {
			r := &c.Rules[i]
			if !r.matches(key, tags, deleteMarker) {
				continue
			}
			region, _, _ := parseBucketARN(r.Destination.Bucket)
			if region == "" {
				for _, rr := range regions {
					want[rr] = true
				}
			} else {
				want[region] = true
			}
		}
	}
	delete(want, origin)
	out := make([]string, 0, len(want))
	for r := range want {
		out = append(out, r)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil
	}
	return out
}
