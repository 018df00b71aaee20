package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/s3"
)

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// timeFormat is S3's timestamp format in XML.
const timeFormat = "2006-01-02T15:04:05.000Z"

func xmlTime(t time.Time) string { return t.UTC().Format(timeFormat) }

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

var theOwner = owner{ID: "meridian", DisplayName: "meridian"}

type listAllMyBucketsResult struct {
	XMLName xml.Name     `xml:"ListAllMyBucketsResult"`
	Xmlns   string       `xml:"xmlns,attr"`
	Owner   owner        `xml:"Owner"`
	Buckets []bucketJSON `xml:"Buckets>Bucket"`
}

type bucketJSON struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

type checksumFields struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
}

func checksumsOf(m map[string]string) checksumFields {
	return checksumFields{ChecksumCRC32: m[s3.AlgCRC32], ChecksumCRC32C: m[s3.AlgCRC32C], ChecksumCRC64NVME: m[s3.AlgCRC64NVME],
		ChecksumSHA1: m[s3.AlgSHA1], ChecksumSHA256: m[s3.AlgSHA256]}
}

func (c checksumFields) toMap() map[string]string {
	m := map[string]string{}
	for alg, v := range map[string]string{s3.AlgCRC32: c.ChecksumCRC32, s3.AlgCRC32C: c.ChecksumCRC32C, s3.AlgCRC64NVME: c.ChecksumCRC64NVME,
		s3.AlgSHA1: c.ChecksumSHA1, s3.AlgSHA256: c.ChecksumSHA256} {
		if v != "" {
			m[alg] = v
		}
	}
	return m
}

type contents struct {
	Key               string   `xml:"Key"`
	LastModified      string   `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
	Size              int64    `xml:"Size"`
	StorageClass      string   `xml:"StorageClass"`
	Owner             *owner   `xml:"Owner,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker,omitempty"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	KeyCount              *int           `xml:"KeyCount,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []contents     `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type versionEntry struct {
	XMLName      xml.Name
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag,omitempty"`
	Size         *int64 `xml:"Size,omitempty"`
	StorageClass string `xml:"StorageClass,omitempty"`
	Owner        owner  `xml:"Owner"`
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"ListVersionsResult"`
	Xmlns               string         `xml:"xmlns,attr"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Entries             []versionEntry `xml:",any"`
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
}

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type partEntry struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksumFields
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"ListPartsResult"`
	Xmlns                string      `xml:"xmlns,attr"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            owner       `xml:"Initiator"`
	Owner                owner       `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	PartNumberMarker     int         `xml:"PartNumberMarker"`
	NextPartNumberMarker int         `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	ChecksumAlgorithm    string      `xml:"ChecksumAlgorithm,omitempty"`
	Parts                []partEntry `xml:"Part"`
}

type uploadEntry struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name      `xml:"ListMultipartUploadsResult"`
	Xmlns              string        `xml:"xmlns,attr"`
	Bucket             string        `xml:"Bucket"`
	KeyMarker          string        `xml:"KeyMarker"`
	UploadIDMarker     string        `xml:"UploadIdMarker"`
	NextKeyMarker      string        `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string        `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string        `xml:"Prefix"`
	MaxUploads         int           `xml:"MaxUploads"`
	IsTruncated        bool          `xml:"IsTruncated"`
	Uploads            []uploadEntry `xml:"Upload"`
}

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  []s3.Tag `xml:"TagSet>Tag"`
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deletedEntry struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteErrorEntry struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

type deleteResult struct {
	XMLName xml.Name           `xml:"DeleteResult"`
	Xmlns   string             `xml:"xmlns,attr"`
	Deleted []deletedEntry     `xml:"Deleted"`
	Errors  []deleteErrorEntry `xml:"Error"`
}

type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
		checksumFields
	} `xml:"Part"`
}

func malformed(detail string) error {
	msg := "The XML you provided was not well-formed or did not validate against our published schema"
	if detail != "" {
		msg += ": " + detail
	}
	return &s3.Error{Code: s3.CodeMalformedXML, Message: msg}
}

// decodeXML decodes a request body into v, refusing anything but one
// well-formed document with the expected root element.
func decodeXML(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("the request body is empty")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return malformed(se.Msg)
		}
		return malformed(err.Error())
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return malformed(err.Error())
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return malformed("text after the document element")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return malformed("content after the document element")
		}
	}
}

// decodeComplete decodes a CompleteMultipartUpload body.
func decodeComplete(body []byte) ([]s3.CompletedPart, error) {
	var req completeRequest
	if err := decodeXML(body, &req); err != nil {
		return nil, err
	}
	if len(req.Parts) > s3.MaxParts {
		return nil, malformed(fmt.Sprintf("more than %d parts", s3.MaxParts))
	}
	out := make([]s3.CompletedPart, 0, len(req.Parts))
	for _, p := range req.Parts {
		if p.PartNumber < 1 || p.PartNumber > s3.MaxParts {
			return nil, &s3.Error{Code: s3.CodeInvalidArgument, Message: fmt.Sprintf("Part number must be an integer between 1 and %d, inclusive", s3.MaxParts)}
		}
		out = append(out, s3.CompletedPart{Number: p.PartNumber, ETag: p.ETag, Checksums: p.toMap()})
	}
	return out, nil
}

// decodeDelete decodes a DeleteObjects body.
func decodeDelete(body []byte) (*deleteRequest, error) {
	var req deleteRequest
	if err := decodeXML(body, &req); err != nil {
		return nil, err
	}
	if len(req.Objects) == 0 {
		return nil, malformed("Delete names no Object")
	}
	if len(req.Objects) > 1000 {
		return nil, malformed("Delete names more than 1000 objects")
	}
	return &req, nil
}

// decodeVersioning decodes a PutBucketVersioning body.
func decodeVersioning(body []byte) (string, error) {
	var req versioningConfiguration
	if err := decodeXML(body, &req); err != nil {
		return "", err
	}
	if req.MfaDelete == "Enabled" {
		return "", &s3.Error{Code: s3.CodeNotImplemented, Message: "MFA Delete is not supported."}
	}
	if req.Status != "Enabled" && req.Status != "Suspended" {
		return "", malformed(fmt.Sprintf("Status must be Enabled or Suspended, not %q", req.Status))
	}
	return req.Status, nil
}

// decodeTagging decodes a PutObjectTagging body.
func decodeTagging(body []byte) ([]s3.Tag, error) {
	var req tagging
	if err := decodeXML(body, &req); err != nil {
		return nil, err
	}
	if err := s3.ValidateTags(req.TagSet); err != nil {
		return nil, err
	}
	return req.TagSet, nil
}

// decodeReplication decodes a PutBucketReplication body.
func decodeReplication(body []byte) (*s3.ReplicationConfig, error) {
	var req s3.ReplicationConfig
	if err := decodeXML(body, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// decodeCreateBucket decodes an optional CreateBucketConfiguration.
func decodeCreateBucket(body []byte) (string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	var req createBucketConfiguration
	if err := decodeXML(body, &req); err != nil {
		return "", err
	}
	return strings.TrimSpace(req.LocationConstraint), nil
}
