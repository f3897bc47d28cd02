package s3iam

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The objects of a bucket, for the console's file browser: one listing page
// at a time, URLs presigned with the target's credentials for the browser to
// upload and download straight to and from S3, and the multipart and delete
// calls that need those credentials. Keys are checked by the caller; this
// file only speaks S3.

// ObjectPage is one ListObjectsV2 page.
type ObjectPage struct {
	// Folders are the common prefixes under the delimiter.
	Folders []string
	Objects []Object
	// Next is the continuation token of the following page; empty on the
	// last one. It is the target's own, passed through unchanged.
	Next string
}

// Object is one key of a listing.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
	ETag         string
}

// ObjectInfo is what HeadObject says of one object.
type ObjectInfo struct {
	Size         int64
	LastModified time.Time
	ContentType  string
}

// Presigned is a URL anyone may use, until it expires, for the one request
// it was signed for; Header lists what that request must carry.
type Presigned struct {
	URL    string
	Method string
	Header map[string]string
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int32
	ETag   string
}

// DeleteFailure is a key DeleteObjects did not delete, with the target's
// reason.
type DeleteFailure struct {
	Key, Code, Message string
}

// ListObjects reads one page of bucket's keys under prefix, grouped into
// folders by delimiter when it is not empty. It never reads a second page:
// a bucket of any size costs one call per page.
func (t *Target) ListObjects(ctx context.Context, bucket, prefix, delimiter, token string, max int32) (ObjectPage, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(max)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	if token != "" {
		in.ContinuationToken = aws.String(token)
	}
	out, err := t.s3.ListObjectsV2(ctx, in)
	if err != nil {
		return ObjectPage{}, fmt.Errorf("s3 ListObjectsV2 %q: %w", bucket, err)
	}
	page := ObjectPage{Folders: make([]string, 0, len(out.CommonPrefixes)), Objects: make([]Object, 0, len(out.Contents))}
	for _, p := range out.CommonPrefixes {
		page.Folders = append(page.Folders, aws.ToString(p.Prefix))
	}
	for _, o := range out.Contents {
		page.Objects = append(page.Objects, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
			LastModified: aws.ToTime(o.LastModified), ETag: aws.ToString(o.ETag)})
	}
	if aws.ToBool(out.IsTruncated) {
		page.Next = aws.ToString(out.NextContinuationToken)
	}
	return page, nil
}

// HeadObject reports an object's size, date and stored content type; a
// missing object is an error IsNoSuchKey recognises.
func (t *Target) HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	out, err := t.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 HeadObject %q: %w", key, err)
	}
	return ObjectInfo{Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType)}, nil
}

// IsNoSuchKey reports whether err is the target saying an object does not
// exist (HEAD answers carry no code, only 404).
func IsNoSuchKey(err error) bool {
	return hasCode(err, "NoSuchKey", "NotFound") || httpStatus(err) == 404 && !IsNoSuchBucket(err)
}

// presigner signs for expires without the SDK's optional checksums: a
// browser sending the request cannot add the checksum headers those would
// require, and the checksum of an empty body would be signed for a PUT that
// carries a file.
func (t *Target) presigner(expires time.Duration) *s3.PresignClient {
	return s3.NewPresignClient(t.presign, s3.WithPresignExpires(expires))
}

// PresignPut signs a PutObject of key for expires; the upload must send
// contentType (when not empty) as its Content-Type, which S3 then stores.
func (t *Target) PresignPut(ctx context.Context, bucket, key, contentType string, expires time.Duration) (Presigned, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	req, err := t.presigner(expires).PresignPutObject(ctx, in)
	if err != nil {
		return Presigned{}, fmt.Errorf("presign PutObject %q: %w", key, err)
	}
	return presigned(req.URL, req.Method, req.SignedHeader), nil
}

// PresignGet signs a GetObject of key for expires. With attachment the
// answer asks the browser to save the file under its base name rather than
// show it.
func (t *Target) PresignGet(ctx context.Context, bucket, key string, attachment bool, expires time.Duration) (Presigned, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if attachment {
		name := key[strings.LastIndex(key, "/")+1:]
		// RFC 6266: the UTF-8 form names any file; the plain one is for
		// clients that know only it.
		in.ResponseContentDisposition = aws.String(`attachment; filename="` + asciiName(name) + `"; filename*=UTF-8''` + attrChars(name))
	}
	req, err := t.presigner(expires).PresignGetObject(ctx, in)
	if err != nil {
		return Presigned{}, fmt.Errorf("presign GetObject %q: %w", key, err)
	}
	return presigned(req.URL, req.Method, req.SignedHeader), nil
}

// asciiName is name with every byte a quoted-string cannot hold replaced.
func asciiName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
}

// attrChars percent-encodes name for an RFC 5987 ext-value: every byte
// but letters, digits and !#$&+-.^_`|~.
func attrChars(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// CreateMultipartUpload starts an upload of key and returns its id.
func (t *Target) CreateMultipartUpload(ctx context.Context, bucket, key, contentType string) (string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	out, err := t.s3.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", fmt.Errorf("s3 CreateMultipartUpload %q: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignUploadPart signs an UploadPart of part number of upload id.
func (t *Target) PresignUploadPart(ctx context.Context, bucket, key, id string, number int32, expires time.Duration) (Presigned, error) {
	req, err := t.presigner(expires).PresignUploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(number)})
	if err != nil {
		return Presigned{}, fmt.Errorf("presign UploadPart %q part %d: %w", key, number, err)
	}
	return presigned(req.URL, req.Method, req.SignedHeader), nil
}

// CompleteMultipartUpload joins the parts into the object and returns its
// ETag.
func (t *Target) CompleteMultipartUpload(ctx context.Context, bucket, key, id string, parts []Part) (string, error) {
	done := &types.CompletedMultipartUpload{Parts: make([]types.CompletedPart, len(parts))}
	for i, p := range parts {
		done.Parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
	}
	out, err := t.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id), MultipartUpload: done})
	if err != nil {
		return "", fmt.Errorf("s3 CompleteMultipartUpload %q: %w", key, err)
	}
	return aws.ToString(out.ETag), nil
}

// AbortMultipartUpload discards an upload and its parts. An upload already
// gone (aborted, completed, or swept by the lifecycle rule) is what was
// wanted: no error.
func (t *Target) AbortMultipartUpload(ctx context.Context, bucket, key, id string) error {
	_, err := t.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
	if err != nil && !hasCode(err, "NoSuchUpload") {
		return fmt.Errorf("s3 AbortMultipartUpload %q: %w", key, err)
	}
	return nil
}

// MaxDeleteKeys is the most keys one DeleteObjects call takes.
const MaxDeleteKeys = 1000

// DeleteObjects deletes up to MaxDeleteKeys keys in one call and returns
// those the target did not delete, each with its reason. A key that does
// not exist counts as deleted, as S3 reports it.
func (t *Target) DeleteObjects(ctx context.Context, bucket string, keys []string) ([]DeleteFailure, error) {
	if len(keys) > MaxDeleteKeys {
		return nil, errors.New("s3 DeleteObjects: more than 1000 keys")
	}
	ids := make([]types.ObjectIdentifier, len(keys))
	for i, k := range keys {
		ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
	}
	out, err := t.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err != nil {
		return nil, fmt.Errorf("s3 DeleteObjects %q: %w", bucket, err)
	}
	failed := make([]DeleteFailure, 0, len(out.Errors))
	for _, e := range out.Errors {
		failed = append(failed, DeleteFailure{Key: aws.ToString(e.Key), Code: aws.ToString(e.Code), Message: aws.ToString(e.Message)})
	}
	return failed, nil
}

// BrowserOrigin is the origin (CSP source expression) a browser reaches
// this target's S3 API at with presigned URLs: the endpoint's scheme, host
// and port, or any AWS host, since AWS addresses a bucket by its own host
// name.
func (t *Target) BrowserOrigin() string {
	if ep := aws.ToString(t.s3.Options().BaseEndpoint); ep != "" {
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	return "https://*.amazonaws.com"
}

func presigned(u, method string, h map[string][]string) Presigned {
	p := Presigned{URL: u, Method: method, Header: map[string]string{}}
	for k, vs := range h {
		// The browser sets Host itself and may not be told to.
		if strings.EqualFold(k, "Host") || len(vs) == 0 {
			continue
		}
		p.Header[k] = vs[0]
	}
	return p
}
