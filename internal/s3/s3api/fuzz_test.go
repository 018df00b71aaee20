package s3api

import (
	"encoding/xml"
	"errors"
	"testing"

	"github.com/meridian-platform/meridian/internal/s3"
)

// requireS3Error checks that a decoder failure is an S3 error a client can
// act on, never anything else.
func requireS3Error(t *testing.T, err error) {
	t.Helper()
	var e *s3.Error
	if !errors.As(err, &e) {
		t.Fatalf("decoder returned %T %v, want *s3.Error", err, err)
	}
	switch e.Code {
	case s3.CodeMalformedXML, s3.CodeInvalidArgument, s3.CodeInvalidTag, s3.CodeNotImplemented:
	default:
		t.Fatalf("decoder returned code %s (%s)", e.Code, e.Message)
	}
}

func FuzzDecodeComplete(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>x</ETag><PartNumber>2</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>0</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<Other/>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := decodeComplete(body)
		if err != nil {
			requireS3Error(t, err)
			return
		}
		if len(parts) > s3.MaxParts {
			t.Fatalf("%d parts accepted", len(parts))
		}
		for _, p := range parts {
			if p.Number < 1 || p.Number > s3.MaxParts {
				t.Fatalf("part number %d accepted", p.Number)
			}
		}
	})
}

func FuzzDecodeDelete(f *testing.F) {
	f.Add([]byte(`<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>`))
	f.Add([]byte(`<Delete><Object><Key>a</Key><VersionId>null</VersionId></Object><Object><Key>b</Key></Object></Delete>`))
	f.Add([]byte(`<Delete></Delete>`))
	f.Add([]byte(`<Delete><Object><Key>&amp;</Key></Object></Delete><Extra/>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeDelete(body)
		if err != nil {
			requireS3Error(t, err)
			return
		}
		if len(req.Objects) == 0 || len(req.Objects) > 1000 {
			t.Fatalf("%d objects accepted", len(req.Objects))
		}
	})
}

func FuzzDecodeVersioning(f *testing.F) {
	f.Add([]byte(`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration><Status>On</Status></VersioningConfiguration>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		status, err := decodeVersioning(body)
		if err != nil {
			requireS3Error(t, err)
			return
		}
		if status != "Enabled" && status != "Suspended" {
			t.Fatalf("status %q accepted", status)
		}
	})
}

func FuzzDecodeTagging(f *testing.F) {
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging><TagSet/></Tagging>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tags, err := decodeTagging(body)
		if err != nil {
			requireS3Error(t, err)
			return
		}
		if err := s3.ValidateTags(tags); err != nil {
			t.Fatalf("invalid tags accepted: %v", err)
		}
	})
}

func FuzzDecodeReplication(f *testing.F) {
	f.Add([]byte(`<ReplicationConfiguration><Role>r</Role><Rule><ID>a</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Destination><Bucket>arn:aws:s3:eu-west::b</Bucket></Destination><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication></Rule></ReplicationConfiguration>`))
	f.Add([]byte(`<ReplicationConfiguration><Rule><Status>Enabled</Status><Prefix></Prefix><Destination><Bucket>arn:aws:s3:::b</Bucket></Destination></Rule></ReplicationConfiguration>`))
	f.Add([]byte(`<ReplicationConfiguration><Rule><Filter><And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter></Rule></ReplicationConfiguration>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeReplication(body)
		if err != nil {
			requireS3Error(t, err)
			return
		}
		// What was accepted encodes again and decodes to the same rules.
		out, err := xml.Marshal(replicationOut{Role: c.Role, Rules: c.Rules})
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		c2, err := decodeReplication(out)
		if err != nil {
			t.Fatalf("decoding our own encoding %s: %v", out, err)
		}
		if len(c2.Rules) != len(c.Rules) {
			t.Fatalf("round trip changed %d rules into %d", len(c.Rules), len(c2.Rules))
		}
	})
}

func FuzzDecodeCreateBucket(f *testing.F) {
	f.Add([]byte(``))
	f.Add([]byte(`<CreateBucketConfiguration><LocationConstraint>eu-west</LocationConstraint></CreateBucketConfiguration>`))
	f.Add([]byte(`<CreateBucketConfiguration><LocationConstraint>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := decodeCreateBucket(body); err != nil {
			requireS3Error(t, err)
		}
	})
}
