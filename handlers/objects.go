package handlers

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// The console's file browser: signed routes under a storage resource that
// list its bucket and hand the browser presigned URLs, so files go straight
// between the browser and S3 while the target's credentials stay here.
// Every key a request names is checked against the resource's bucket and
// the access level the request chose before anything reaches the target
// (objectScope, checkKey); the bucket is always the resource's, never the
// request's.

// Objects is what the file browser needs of the target's S3 API.
type Objects interface {
	ListObjects(ctx context.Context, bucket, prefix, delimiter, token string, max int32) (s3iam.ObjectPage, error)
	HeadObject(ctx context.Context, bucket, key string) (s3iam.ObjectInfo, error)
	PresignPut(ctx context.Context, bucket, key, contentType string, expires time.Duration) (s3iam.Presigned, error)
	PresignGet(ctx context.Context, bucket, key string, attachment bool, expires time.Duration) (s3iam.Presigned, error)
	CreateMultipartUpload(ctx context.Context, bucket, key, contentType string) (string, error)
	PresignUploadPart(ctx context.Context, bucket, key, id string, number int32, expires time.Duration) (s3iam.Presigned, error)
	CompleteMultipartUpload(ctx context.Context, bucket, key, id string, parts []s3iam.Part) (string, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, id string) error
	DeleteObjects(ctx context.Context, bucket string, keys []string) ([]s3iam.DeleteFailure, error)
	// BrowserOrigin is where presigned URLs point, for the console's
	// Content-Security-Policy.
	BrowserOrigin() string
}

// The file browser's limits.
const (
	// MinURLExpiry and MaxURLExpiry bound a presigned URL's life; SigV4
	// refuses more than 7 days.
	MinURLExpiry = time.Minute
	MaxURLExpiry = 7 * 24 * time.Hour
	// DefaultURLExpiry is a URL's life when the request names none.
	DefaultURLExpiry = time.Hour
	// MaxListKeys is the most keys one listing page holds (S3's own).
	MaxListKeys = 1000
	// MaxMultipartParts is the most parts an upload may have, and
	// MaxPartsPerCall the most part URLs one call signs.
	MaxMultipartParts = 10000
	MaxPartsPerCall   = 1000
	// MaxKeyBytes is S3's longest key.
	MaxKeyBytes = 1024
	// maxIdentityID and maxToken bound what is only passed along.
	maxIdentityID = 128
	maxToken      = 4096
)

// objectsBase is the path every file browser route starts with.
const objectsBase = "/console-api/apps/:appId/environments/:backendEnvironmentName/storage/:resourceName/objects"

// objectRoutes are the file browser's routes, for routes().
func objectRoutes(h func(func(*Server, echo.Context) error) echo.HandlerFunc) []Route {
	return []Route{
		{"ListConsoleObjects", http.MethodPost, objectsBase + "/list", h((*Server).listObjects)},
		{"PresignConsoleObjectUpload", http.MethodPost, objectsBase + "/upload", h((*Server).presignUpload)},
		{"PresignConsoleObjectDownload", http.MethodPost, objectsBase + "/download", h((*Server).presignDownload)},
		{"CreateConsoleMultipartUpload", http.MethodPost, objectsBase + "/multipart", h((*Server).createMultipart)},
		{"PresignConsoleUploadParts", http.MethodPost, objectsBase + "/multipart/parts", h((*Server).presignParts)},
		{"CompleteConsoleMultipartUpload", http.MethodPost, objectsBase + "/multipart/complete", h((*Server).completeMultipart)},
		{"AbortConsoleMultipartUpload", http.MethodPost, objectsBase + "/multipart/abort", h((*Server).abortMultipart)},
		{"DeleteConsoleObjects", http.MethodPost, objectsBase + "/delete", h((*Server).deleteObjects)},
	}
}

// resourceBucket is the bucket of the storage resource the path names.
func (s *Server) resourceBucket(c echo.Context) (string, error) {
	appID, env, err := s.scope(c)
	if err != nil {
		return "", err
	}
	name, err := pathParam(c, "resourceName")
	if err != nil {
		return "", err
	}
	var bucket string
	err = s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		if err := tx.CheckScope(appID, env); err != nil {
			return err
		}
		res, err := tx.VisibleResource(store.ResourceKey{AppID: appID, Env: env, Name: name})
		bucket = res.Bucket
		return err
	})
	return bucket, err
}

// objectRequest is what every file browser request shares once checked:
// the bucket and the prefix its keys must be under.
type objectRequest struct {
	bucket string
	under  string
	level  string
}

// scoped is a file browser request: each names an access level.
type scoped interface {
	scope() (level, identity *string)
}

// keyed is a request about one object.
type keyed interface {
	scoped
	objectKey() *string
}

// uploadRef is a request about a multipart upload under way.
type uploadRef interface {
	keyed
	uploadID() *string
}

func (r *listObjectsRequest) scope() (*string, *string)       { return r.AccessLevel, r.IdentityID }
func (r *presignUploadRequest) scope() (*string, *string)     { return r.AccessLevel, r.IdentityID }
func (r *presignDownloadRequest) scope() (*string, *string)   { return r.AccessLevel, r.IdentityID }
func (r *createMultipartRequest) scope() (*string, *string)   { return r.AccessLevel, r.IdentityID }
func (r *multipartRequest) scope() (*string, *string)         { return r.AccessLevel, r.IdentityID }
func (r *presignPartsRequest) scope() (*string, *string)      { return r.AccessLevel, r.IdentityID }
func (r *completeMultipartRequest) scope() (*string, *string) { return r.AccessLevel, r.IdentityID }
func (r *deleteObjectsRequest) scope() (*string, *string)     { return r.AccessLevel, r.IdentityID }

func (r *presignUploadRequest) objectKey() *string     { return r.Key }
func (r *presignDownloadRequest) objectKey() *string   { return r.Key }
func (r *createMultipartRequest) objectKey() *string   { return r.Key }
func (r *multipartRequest) objectKey() *string         { return r.Key }
func (r *presignPartsRequest) objectKey() *string      { return r.Key }
func (r *completeMultipartRequest) objectKey() *string { return r.Key }

func (r *multipartRequest) uploadID() *string         { return r.UploadID }
func (r *presignPartsRequest) uploadID() *string      { return r.UploadID }
func (r *completeMultipartRequest) uploadID() *string { return r.UploadID }

// beginObjects decodes the body into req, finds the resource's bucket and
// checks the access level. The checks run before the target is called, so
// a refused request changes nothing.
func (s *Server) beginObjects(c echo.Context, req scoped) (objectRequest, error) {
	if s.Objects == nil {
		return objectRequest{}, errors.New("handlers: the server has no Objects to serve the file browser with")
	}
	if err := decode(c, req); err != nil {
		return objectRequest{}, err
	}
	under, lvl, err := objectScope(req.scope())
	if err != nil {
		return objectRequest{}, err
	}
	bucket, err := s.resourceBucket(c)
	return objectRequest{bucket: bucket, under: under, level: lvl}, err
}

// beginKey is beginObjects for a request about one object: its key
// checked too.
func (s *Server) beginKey(c echo.Context, req keyed) (o objectRequest, key string, err error) {
	if o, err = s.beginObjects(c, req); err != nil {
		return
	}
	key, err = o.checkKey("key", req.objectKey())
	return
}

// beginUpload is beginKey for a request about an upload under way: its
// upload id checked too.
func (s *Server) beginUpload(c echo.Context, req uploadRef) (o objectRequest, key, id string, err error) {
	if o, key, err = s.beginKey(c, req); err != nil {
		return
	}
	id, err = checkUploadID(req.uploadID())
	return
}

// objectScope is the key prefix of an access level, with Amplify's layout:
// public/, protected/{identityId}/, private/{identityId}/, uploads/, or the
// whole bucket for "all". Without an identity, protected and private are
// the folders of every identity.
func objectScope(level, identity *string) (under, name string, err error) {
	if level == nil {
		return "", "", errMissingField.with("accessLevel")
	}
	id := ""
	if identity != nil {
		id = *identity
		if err := checkIdentityID(id); err != nil {
			return "", "", err
		}
	}
	switch *level {
	case "public", "uploads", "all":
		if id != "" {
			return "", "", errFieldValue.with("identityId", id, "only accessLevel protected and private take an identity")
		}
		if *level == "all" {
			return "", *level, nil
		}
		return *level + "/", *level, nil
	case "protected", "private":
		if id == "" {
			return *level + "/", *level, nil
		}
		return *level + "/" + id + "/", *level, nil
	}
	return "", "", errFieldValue.with("accessLevel", *level, "must be one of public, protected, private, uploads, all")
}

// checkIdentityID admits what Cognito identity ids are made of
// ("us-east-1:0a1b…"), so an id is always exactly one path segment.
func checkIdentityID(id string) error {
	if id == "" || len(id) > maxIdentityID || id == "." || id == ".." {
		return errFieldValue.with("identityId", id, "must be 1 to 128 letters, digits, '-', '_', ':' or '.', and not \".\" or \"..\"")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_:.", r)) {
			return errFieldValue.with("identityId", id, "must be 1 to 128 letters, digits, '-', '_', ':' or '.', and not \".\" or \"..\"")
		}
	}
	return nil
}

// checkPath holds a key or prefix to what cannot escape its place on any
// target: a posix gateway maps keys to file paths and a path-style URL
// puts the bucket in the path, so a key is at most 1024 bytes of UTF-8,
// with no control characters, no backslash, no leading "/", no "." or ".."
// segment and no empty segment inside it; then it must be under the
// access level's prefix.
func checkPath(field, v, under, level string) error {
	if len(v) > MaxKeyBytes {
		return errFieldValue.with(field, v, "must be at most 1024 bytes")
	}
	if !utf8.ValidString(v) {
		return errFieldValue.with(field, v, "must be valid UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return errFieldValue.with(field, v, "must not contain control characters")
		}
	}
	if strings.ContainsRune(v, '\\') {
		return errFieldValue.with(field, v, "must not contain a backslash")
	}
	if strings.HasPrefix(v, "/") {
		return errFieldValue.with(field, v, "must not start with \"/\"")
	}
	segs := strings.Split(v, "/")
	for i, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			return errFieldValue.with(field, v, "must not contain \".\" or \"..\" as a path segment")
		case seg == "" && i < len(segs)-1 && v != "":
			return errFieldValue.with(field, v, "must not contain an empty path segment (\"//\")")
		}
	}
	if !strings.HasPrefix(v, under) {
		return errFieldValue.with(field, v, "must be under \""+under+"\" (accessLevel "+level+")")
	}
	return nil
}

// checkKey is checkPath for a key that names an object: given, and more
// than its level's folder.
func (o objectRequest) checkKey(field string, v *string) (string, error) {
	if v == nil {
		return "", errMissingField.with(field)
	}
	if err := checkPath(field, *v, o.under, o.level); err != nil {
		return "", err
	}
	if *v == o.under || *v == "" {
		return "", errFieldValue.with(field, *v, "must name an object under \""+o.under+"\", not the folder itself")
	}
	return *v, nil
}

// expiry is the life of a presigned URL the request asks for.
func expiry(v *int) (time.Duration, error) {
	if v == nil {
		return DefaultURLExpiry, nil
	}
	// Compared in seconds: a huge count would wrap around as a Duration
	// and could land back in range.
	if *v < int(MinURLExpiry/time.Second) || *v > int(MaxURLExpiry/time.Second) {
		return 0, errFieldRange.with("expiresIn", *v, int(MinURLExpiry/time.Second), int(MaxURLExpiry/time.Second))
	}
	return time.Duration(*v) * time.Second, nil
}

// checkUploadID passes an upload id along only if it is one opaque token:
// the target checks it belongs to the key. No target issues ids with a
// path separator or that are a dot segment, while a posix target (Versity)
// joins the id to a directory path: "../.." there would reach outside the
// bucket, so such an id never leaves the server.
func checkUploadID(v *string) (string, error) {
	if v == nil || *v == "" {
		return "", errMissingField.with("uploadId")
	}
	if len(*v) > maxToken || *v == "." || *v == ".." ||
		strings.ContainsFunc(*v, func(r rune) bool { return r < 0x21 || r == 0x7f || r == '/' || r == '\\' }) {
		return "", errFieldValue.with("uploadId", *v, "must be the uploadId CreateConsoleMultipartUpload answered")
	}
	return *v, nil
}

// contentType checks a type the browser names for an upload: S3 stores it
// and serves it back, so it must be a plain header value.
func contentType(v *string) (string, error) {
	if v == nil {
		return "", nil
	}
	if len(*v) > 256 || strings.ContainsFunc(*v, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
		return "", errFieldValue.with("contentType", *v, "must be at most 256 printable ASCII characters")
	}
	return *v, nil
}

// presignedWire puts a presigned URL on the wire.
func presignedWire(bucket, key string, p s3iam.Presigned, expires time.Duration) presignedResponse {
	out := presignedResponse{BucketName: bucket, Key: key, URL: p.URL, Method: p.Method, Headers: []headerWire{},
		ExpiresAt: wireTime(time.Now().Add(expires))}
	for k, v := range p.Header {
		out.Headers = append(out.Headers, headerWire{Name: k, Value: v})
	}
	return out
}

func (s *Server) listObjects(c echo.Context) error {
	var req listObjectsRequest
	o, err := s.beginObjects(c, &req)
	if err != nil {
		return err
	}
	prefix := o.under
	if req.Prefix != nil {
		prefix = *req.Prefix
		if err := checkPath("prefix", prefix, o.under, o.level); err != nil {
			return err
		}
	}
	delimiter := "/"
	if req.Delimiter != nil {
		if delimiter = *req.Delimiter; delimiter != "/" && delimiter != "" {
			return errFieldValue.with("delimiter", delimiter, "must be \"/\" or empty")
		}
	}
	token := ""
	if req.ContinuationToken != nil {
		token = *req.ContinuationToken
		if len(token) > maxToken || !utf8.ValidString(token) {
			return errFieldValue.with("continuationToken", token, "must be the nextContinuationToken of the previous page")
		}
	}
	max := MaxListKeys
	if req.MaxKeys != nil {
		if max = *req.MaxKeys; max < 1 || max > MaxListKeys {
			return errFieldRange.with("maxKeys", max, 1, MaxListKeys)
		}
	}
	var page s3iam.ObjectPage
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		page, err = s.Objects.ListObjects(ctx, o.bucket, prefix, delimiter, token, int32(max))
		return err
	})
	if err != nil {
		return err
	}
	resp := listObjectsResponse{BucketName: o.bucket, Prefix: prefix, Folders: page.Folders,
		Objects: make([]objectWire, len(page.Objects)), NextContinuationToken: page.Next}
	for i, ob := range page.Objects {
		resp.Objects[i] = objectWire{Key: ob.Key, Size: ob.Size, LastModified: wireTime(ob.LastModified), ETag: ob.ETag, ContentType: typeOfKey(ob.Key)}
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) presignUpload(c echo.Context) error {
	var req presignUploadRequest
	o, key, err := s.beginKey(c, &req)
	if err != nil {
		return err
	}
	ct, err := contentType(req.ContentType)
	if err != nil {
		return err
	}
	expires, err := expiry(req.ExpiresIn)
	if err != nil {
		return err
	}
	var p s3iam.Presigned
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		p, err = s.Objects.PresignPut(ctx, o.bucket, key, ct, expires)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, presignedWire(o.bucket, key, p, expires))
}

func (s *Server) presignDownload(c echo.Context) error {
	var req presignDownloadRequest
	o, key, err := s.beginKey(c, &req)
	if err != nil {
		return err
	}
	expires, err := expiry(req.ExpiresIn)
	if err != nil {
		return err
	}
	// One HEAD, so a link is never handed out for an object that is not
	// there, and the browser learns the object's stored type.
	var info s3iam.ObjectInfo
	var p s3iam.Presigned
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		if info, err = s.Objects.HeadObject(ctx, o.bucket, key); err != nil {
			return err
		}
		p, err = s.Objects.PresignGet(ctx, o.bucket, key, req.Attachment != nil && *req.Attachment, expires)
		return err
	})
	if err != nil {
		if s3iam.IsNoSuchKey(err) {
			return errObjectNotFound.with(key, o.bucket)
		}
		return err
	}
	resp := presignedWire(o.bucket, key, p, expires)
	resp.Size, resp.LastModified, resp.ContentType = &info.Size, wireTime(info.LastModified), info.ContentType
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) createMultipart(c echo.Context) error {
	var req createMultipartRequest
	o, key, err := s.beginKey(c, &req)
	if err != nil {
		return err
	}
	ct, err := contentType(req.ContentType)
	if err != nil {
		return err
	}
	var id string
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		id, err = s.Objects.CreateMultipartUpload(ctx, o.bucket, key, ct)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, multipartResponse{BucketName: o.bucket, Key: key, UploadID: id})
}

func (s *Server) presignParts(c echo.Context) error {
	var req presignPartsRequest
	o, key, id, err := s.beginUpload(c, &req)
	if err != nil {
		return err
	}
	if len(req.PartNumbers) == 0 || len(req.PartNumbers) > MaxPartsPerCall {
		return errFieldRule.with("partNumbers", "must list 1 to 1000 part numbers")
	}
	for _, n := range req.PartNumbers {
		if n < 1 || n > MaxMultipartParts {
			return errFieldRange.with("partNumbers element", n, 1, MaxMultipartParts)
		}
	}
	expires, err := expiry(req.ExpiresIn)
	if err != nil {
		return err
	}
	resp := presignPartsResponse{BucketName: o.bucket, Key: key, UploadID: id, Parts: make([]partURLWire, len(req.PartNumbers)),
		ExpiresAt: wireTime(time.Now().Add(expires))}
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) error {
		for i, n := range req.PartNumbers {
			p, err := s.Objects.PresignUploadPart(ctx, o.bucket, key, id, int32(n), expires)
			if err != nil {
				return err
			}
			resp.Parts[i] = partURLWire{PartNumber: n, URL: p.URL, Method: p.Method}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) completeMultipart(c echo.Context) error {
	var req completeMultipartRequest
	o, key, id, err := s.beginUpload(c, &req)
	if err != nil {
		return err
	}
	if len(req.Parts) == 0 || len(req.Parts) > MaxMultipartParts {
		return errFieldRule.with("parts", "must list 1 to 10000 parts")
	}
	parts := make([]s3iam.Part, len(req.Parts))
	for i, p := range req.Parts {
		switch {
		case p.PartNumber < 1 || p.PartNumber > MaxMultipartParts:
			return errFieldRange.with("parts element's partNumber", p.PartNumber, 1, MaxMultipartParts)
		case i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber:
			return errFieldRule.with("parts", "part numbers must be in ascending order, each once")
		case p.ETag == "" || len(p.ETag) > 1024 || strings.ContainsFunc(p.ETag, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return errFieldRule.with("parts element's eTag", "each part needs the ETag its upload was answered with")
		}
		parts[i] = s3iam.Part{Number: int32(p.PartNumber), ETag: p.ETag}
	}
	var etag string
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) (err error) {
		etag, err = s.Objects.CompleteMultipartUpload(ctx, o.bucket, key, id, parts)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, completeMultipartResponse{BucketName: o.bucket, Key: key, ETag: etag})
}

func (s *Server) abortMultipart(c echo.Context) error {
	var req multipartRequest
	o, key, id, err := s.beginUpload(c, &req)
	if err != nil {
		return err
	}
	err = s.callTarget(c.Request().Context(), func(ctx context.Context) error {
		return s.Objects.AbortMultipartUpload(ctx, o.bucket, key, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, multipartResponse{BucketName: o.bucket, Key: key, UploadID: id})
}

func (s *Server) deleteObjects(c echo.Context) error {
	var req deleteObjectsRequest
	o, err := s.beginObjects(c, &req)
	if err != nil {
		return err
	}
	if (req.Key == nil) == (req.Prefix == nil) {
		return errFieldRule.with("request", "give exactly one of key (one object) and prefix (a folder)")
	}
	resp := deleteObjectsResponse{BucketName: o.bucket, Errors: []deleteErrorWire{}}
	report := func(failed []s3iam.DeleteFailure, tried int) {
		resp.Deleted += tried - len(failed)
		for _, f := range failed {
			resp.Errors = append(resp.Errors, deleteErrorWire{Key: f.Key, Code: f.Code, Message: f.Message})
		}
	}
	ctx := c.Request().Context()
	if req.Key != nil {
		key, err := o.checkKey("key", req.Key)
		if err != nil {
			return err
		}
		err = s.callTarget(ctx, func(ctx context.Context) error {
			failed, err := s.Objects.DeleteObjects(ctx, o.bucket, []string{key})
			if err == nil {
				report(failed, 1)
			}
			return err
		})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, resp)
	}
	prefix := *req.Prefix
	if err := checkPath("prefix", prefix, o.under, o.level); err != nil {
		return err
	}
	if !strings.HasSuffix(prefix, "/") {
		return errFieldValue.with("prefix", prefix, "must name a folder: end in \"/\"")
	}
	// A page of keys, then their deletion, until the listing ends: each
	// call is one page, so the folder's size bounds the time, not memory.
	token := ""
	for {
		var page s3iam.ObjectPage
		if err := s.callTarget(ctx, func(ctx context.Context) (err error) {
			page, err = s.Objects.ListObjects(ctx, o.bucket, prefix, "", token, s3iam.MaxDeleteKeys)
			return err
		}); err != nil {
			return err
		}
		if len(page.Objects) > 0 {
			keys := make([]string, len(page.Objects))
			for i, ob := range page.Objects {
				keys[i] = ob.Key
			}
			if err := s.callTarget(ctx, func(ctx context.Context) error {
				failed, err := s.Objects.DeleteObjects(ctx, o.bucket, keys)
				if err == nil {
					report(failed, len(keys))
				}
				return err
			}); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return c.JSON(http.StatusOK, resp)
		}
		token = page.Next
	}
}

// keyTypes are the content types the browser is shown for a key's
// extension: a fixed table, like consoleContentTypes, so the answer does not
// depend on the machine's MIME files.
var keyTypes = map[string]string{
	".apng": "image/apng", ".avif": "image/avif", ".bmp": "image/bmp", ".gif": "image/gif", ".heic": "image/heic",
	".ico": "image/vnd.microsoft.icon", ".jpeg": "image/jpeg", ".jpg": "image/jpeg", ".png": "image/png",
	".svg": "image/svg+xml", ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp",
	".css": "text/css", ".csv": "text/csv", ".htm": "text/html", ".html": "text/html", ".js": "text/javascript",
	".log": "text/plain", ".md": "text/markdown", ".mjs": "text/javascript", ".txt": "text/plain", ".xml": "application/xml",
	".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json",
	".pdf": "application/pdf", ".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
	".wasm": "application/wasm",
	".mp3":  "audio/mpeg", ".ogg": "audio/ogg", ".wav": "audio/wav", ".flac": "audio/flac",
	".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
}

// typeOfKey is the content type shown for key, application/octet-stream
// when its extension says nothing.
func typeOfKey(key string) string {
	if t, ok := keyTypes[strings.ToLower(path.Ext(key))]; ok {
		return t
	}
	return "application/octet-stream"
}
