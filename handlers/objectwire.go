package handlers

// Wire types of the file browser's routes (objects.go), described in
// openapi.yaml under the console tag. Keys are always whole S3 keys
// ("public/photos/a.jpg"), as listings return them; accessLevel and
// identityId say which part of the bucket the request is confined to.

// listObjectsRequest asks for one page of a resource's bucket.
type listObjectsRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	// Prefix defaults to the access level's own prefix.
	Prefix *string `json:"prefix"`
	// Delimiter defaults to "/" (folders); "" lists every key under the
	// prefix.
	Delimiter         *string `json:"delimiter"`
	ContinuationToken *string `json:"continuationToken"`
	MaxKeys           *int    `json:"maxKeys"`
}

type listObjectsResponse struct {
	BucketName string `json:"bucketName"`
	// Prefix is the key prefix listed.
	Prefix string `json:"prefix"`
	// Folders are the common prefixes under the delimiter, each ending in it.
	Folders []string     `json:"folders"`
	Objects []objectWire `json:"objects"`
	// NextContinuationToken is S3's own token for the next page; absent on
	// the last page.
	NextContinuationToken string `json:"nextContinuationToken,omitempty"`
}

// objectWire is one object of a listing.
type objectWire struct {
	Key          string `json:"key"`
	Size         int64  `json:"size"`
	LastModified string `json:"lastModified"`
	ETag         string `json:"eTag"`
	// ContentType is inferred from the key's extension: a listing carries
	// no content types, and asking for each would cost a call per object.
	ContentType string `json:"contentType"`
}

// presignUploadRequest asks for a URL to PUT one object with.
type presignUploadRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	Key         *string `json:"key"`
	ContentType *string `json:"contentType"`
	ExpiresIn   *int    `json:"expiresIn"`
}

// presignDownloadRequest asks for a URL to GET (or share) one object with.
type presignDownloadRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	Key         *string `json:"key"`
	ExpiresIn   *int    `json:"expiresIn"`
	// Attachment makes the browser save the file rather than show it.
	Attachment *bool `json:"attachment"`
}

// presignedResponse is a presigned URL and what its request must carry.
type presignedResponse struct {
	BucketName string `json:"bucketName"`
	Key        string `json:"key"`
	URL        string `json:"url"`
	Method     string `json:"method"`
	// Headers must be sent with the request exactly as given.
	Headers   []headerWire `json:"headers"`
	ExpiresAt string       `json:"expiresAt"`
	// Size, LastModified and ContentType are the object's, for a download.
	Size         *int64 `json:"size,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	ContentType  string `json:"contentType,omitempty"`
}

type headerWire struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// createMultipartRequest starts a multipart upload.
type createMultipartRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	Key         *string `json:"key"`
	ContentType *string `json:"contentType"`
}

// multipartRequest names an upload: aborting it takes nothing else.
type multipartRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	Key         *string `json:"key"`
	UploadID    *string `json:"uploadId"`
}

type multipartResponse struct {
	BucketName string `json:"bucketName"`
	Key        string `json:"key"`
	UploadID   string `json:"uploadId"`
}

// presignPartsRequest asks for URLs to PUT some parts of an upload with.
type presignPartsRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	Key         *string `json:"key"`
	UploadID    *string `json:"uploadId"`
	PartNumbers []int   `json:"partNumbers"`
	ExpiresIn   *int    `json:"expiresIn"`
}

type presignPartsResponse struct {
	BucketName string        `json:"bucketName"`
	Key        string        `json:"key"`
	UploadID   string        `json:"uploadId"`
	Parts      []partURLWire `json:"parts"`
	ExpiresAt  string        `json:"expiresAt"`
}

type partURLWire struct {
	PartNumber int    `json:"partNumber"`
	URL        string `json:"url"`
	Method     string `json:"method"`
}

// completeMultipartRequest lists the uploaded parts, with the ETag S3
// answered each PUT with.
type completeMultipartRequest struct {
	AccessLevel *string    `json:"accessLevel"`
	IdentityID  *string    `json:"identityId"`
	Key         *string    `json:"key"`
	UploadID    *string    `json:"uploadId"`
	Parts       []partWire `json:"parts"`
}

type partWire struct {
	PartNumber int    `json:"partNumber"`
	ETag       string `json:"eTag"`
}

type completeMultipartResponse struct {
	BucketName string `json:"bucketName"`
	Key        string `json:"key"`
	ETag       string `json:"eTag"`
}

// deleteObjectsRequest names one object (key) or a folder (prefix, ending
// in "/"): exactly one of the two.
type deleteObjectsRequest struct {
	AccessLevel *string `json:"accessLevel"`
	IdentityID  *string `json:"identityId"`
	Key         *string `json:"key"`
	Prefix      *string `json:"prefix"`
}

type deleteObjectsResponse struct {
	BucketName string `json:"bucketName"`
	// Deleted counts the keys deleted.
	Deleted int `json:"deleted"`
	// Errors are the keys the target did not delete, each with its reason.
	Errors []deleteErrorWire `json:"errors"`
}

type deleteErrorWire struct {
	Key     string `json:"key"`
	Code    string `json:"code"`
	Message string `json:"message"`
}
