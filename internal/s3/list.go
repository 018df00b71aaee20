package s3

import (
	"strings"
)

// ListInput is a ListObjects(V2) or ListObjectVersions request.
type ListInput struct {
	Prefix, Delimiter string
	// From is the first key to consider (inclusive); StartAfter and
	// continuation tokens become one.
	From    string
	MaxKeys int
	// VersionIDMarker (versions only): with From = the key marker, resume
	// after this version of that key.
	KeyMarker, VersionIDMarker string
}

// Listed is one listed object version.
type Listed struct {
	Key string
	*Version
	IsLatest bool
}

// ListOutput is a page of a listing.
type ListOutput struct {
	Objects        []Listed
	CommonPrefixes []string
	IsTruncated    bool
	// Next is where the next page starts (a key, inclusive), when truncated.
	Next string
	// NextKeyMarker and NextVersionIDMarker resume a version listing.
	NextKeyMarker, NextVersionIDMarker string
}

// After returns the smallest key greater than k.
func After(k string) string { return k + "\x00" }

func skipPrefix(cp string) string { return string(prefixEnd([]byte(cp))) }

// ListObjects lists the current versions of a bucket's keys (delete markers
// left out) in key order, rolling keys up at the delimiter.
func (e *Engine) ListObjects(bucket string, in ListInput) (*ListOutput, error) {
	b, err := e.Bucket(bucket)
	if err != nil {
		return nil, err
	}
	out := &ListOutput{}
	if in.MaxKeys <= 0 {
		return out, nil
	}
	from := in.From
	count := 0
	for {
		restart := ""
		err := e.scanFrom(b.ID, in.Prefix, from, func(key string, val []byte) bool {
			if in.Delimiter != "" {
				if i := strings.Index(key[len(in.Prefix):], in.Delimiter); i >= 0 {
					cp := key[:len(in.Prefix)+i+len(in.Delimiter)]
					if count == in.MaxKeys {
						out.IsTruncated = true
						return false
					}
					out.CommonPrefixes = append(out.CommonPrefixes, cp)
					count++
					out.Next = skipPrefix(cp)
					restart = out.Next
					return false
				}
			}
			v, ok := decodeListEntry(val)
			if !ok || v.DeleteMarker {
				return true
			}
			if count == in.MaxKeys {
				out.IsTruncated = true
				return false
			}
			out.Objects = append(out.Objects, Listed{Key: key, Version: v, IsLatest: true})
			count++
			out.Next = After(key)
			return true
		})
		if err != nil {
			return nil, err
		}
		if restart == "" || out.IsTruncated {
			break
		}
		from = restart
	}
	if !out.IsTruncated {
		out.Next = ""
	}
	return out, nil
}

// scanFrom scans listing entries with prefix and key >= from.
func (e *Engine) scanFrom(bucketID, prefix, from string, fn func(key string, val []byte) bool) error {
	p := listKeyPrefix(bucketID)
	lower := append([]byte(string(p)), prefix...)
	if from > prefix {
		lower = append([]byte(string(p)), from...)
	}
	upper := prefixEnd(append([]byte(string(p)), prefix...))
	n := len(p)
	return e.st.ScanIndex(lower, upper, false, func(key, val []byte) bool {
		return fn(string(key[n:]), val)
	})
}

// ListVersions lists every visible version and delete marker of a bucket's
// keys, newest first within a key.
func (e *Engine) ListVersions(bucket string, in ListInput) (*ListOutput, error) {
	b, err := e.Bucket(bucket)
	if err != nil {
		return nil, err
	}
	out := &ListOutput{}
	if in.MaxKeys <= 0 {
		return out, nil
	}
	from := in.Prefix
	if in.KeyMarker != "" {
		if in.VersionIDMarker != "" {
			from = in.KeyMarker
		} else {
			from = After(in.KeyMarker)
		}
	}
	count := 0
	for {
		restart := ""
		var scanErr error
		err := e.scanFrom(b.ID, in.Prefix, from, func(key string, _ []byte) bool {
			if in.Delimiter != "" {
				if i := strings.Index(key[len(in.Prefix):], in.Delimiter); i >= 0 {
					cp := key[:len(in.Prefix)+i+len(in.Delimiter)]
					if count == in.MaxKeys {
						out.IsTruncated = true
						return false
					}
					out.CommonPrefixes = append(out.CommonPrefixes, cp)
					count++
					out.NextKeyMarker, out.NextVersionIDMarker = cp, ""
					restart = skipPrefix(cp)
					return false
				}
			}
			st, err := e.st.Get(objectKey(b.ID, key))
			if err != nil {
				scanErr = err
				return false
			}
			vs := versionsIn(e.versions, st, e.cfg.Region)
			skipping := key == in.KeyMarker && in.VersionIDMarker != ""
			for i, v := range vs {
				if skipping {
					if v.VersionID == in.VersionIDMarker {
						skipping = false
					}
					continue
				}
				if count == in.MaxKeys {
					out.IsTruncated = true
					return false
				}
				out.Objects = append(out.Objects, Listed{Key: key, Version: v, IsLatest: i == 0})
				count++
				out.NextKeyMarker, out.NextVersionIDMarker = key, v.VersionID
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if scanErr != nil {
			return nil, scanErr
		}
		if restart == "" || out.IsTruncated {
			break
		}
		from = restart
	}
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = "", ""
	}
	return out, nil
}
