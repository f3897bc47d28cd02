// Package s3iam is the one place amplifybackendd talks to S3 and IAM. The
// job layer's reconcile steps call it to observe and change a bucket or a
// role; it hides the SDK behind small, idempotent operations and decides, in
// one function, what a failure means.
//
// # Contract
//
// Every method takes a context, wraps its error with the operation and the
// bucket or role it concerned (keeping the SDK error reachable with
// errors.As), and turns answers that mean "already in the wanted state" into
// success: deleting a policy that is not there, reading tags from a bucket
// that has none. Creating a bucket we already own is no error either, but
// CreateBucket reports that it did not create it: whose it is, the caller
// decides. The Ensure* methods read
// first and write only on drift, reporting whether they wrote; they merge
// rather than replace, so settings written by others (foreign tags, CORS
// rules, lifecycle rules) survive.
//
// The console's file browser also reaches objects through this package
// (objects.go): one ListObjectsV2 page per call, URLs presigned with the
// target's credentials for a browser to PUT, GET and upload parts with
// (signed without the SDK's optional checksums, which a browser could not
// send), multipart create, complete and abort (an upload already gone is
// aborted), and DeleteObjects reporting each key it did not delete.
//
// # Errors
//
// Classify sorts any error this package returns into Transient (retry with
// backoff: throttling, 5xx, broken connections, timeouts), NotImplemented
// (the target lacks the feature: 501, NotImplemented, IAM disabled) and
// Permanent (everything else, notably 4xx); Throttled picks out the transient
// failures that are the target asking for fewer requests, which the API
// passes on to its own clients as 429; Refused picks out answers that say
// the request itself was wrong (an unknown upload, a part that does not
// fit), which the API passes on as its client's mistake. APIMessage gives the target's own
// "Code: message" for texts shown to users. The SDK clients retry at most
// three attempts themselves; longer patience is the job layer's business.
//
// # Targets
//
// With no endpoints configured the SDK's own resolution applies (AWS, or
// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_IAM). Any explicit S3 endpoint is
// treated as non-AWS: path-style addressing, and checksums only where an
// operation requires one (S3 clones differ in their support for the flexible
// checksums the SDK otherwise adds to every upload). IAM requests to an
// explicit endpoint are signed for us-east-1, IAM's global signing region,
// which Versity enforces.
//
// Measured on the embedded Versity gateway v1.8.0 (the tests run against it):
// default encryption and PublicAccessBlock answer 501 NotImplemented on GET
// and PUT, so EnsureDefaultEncryption returns an error that Classify calls
// NotImplemented; lifecycle configuration (which package embedded adds in
// front of Versity's 501; rules come back as written, foreign ones
// included), CORS (rule IDs and order kept), tagging and bucket policies
// (stored verbatim) work; a missing bucket is NotFound on HEAD and NoSuchBucket
// elsewhere; DeleteBucketPolicy without a policy succeeds. The IAM API
// stores role policies, returns them URL-encoded, answers NoSuchEntity for
// missing roles and policies and caps a role's inline policies at 10,240
// bytes in all, whitespace included (409 LimitExceeded); role names are
// case-insensitive, and tags given to CreateRole come back with GetRole.
//
// Measured on Ceph RGW 16.2.15 from Debian (e2e/ceph runs against one, with S3,
// IAM and STS on one port):
//   - IAM errors come in the S3 shape, <Error><Code>NoSuchEntity</Code>…, with
//     an empty message (for DeleteRolePolicy after a success document). The
//     SDK reads only the query protocol's <ErrorResponse> and would call them
//     all UnknownError; a middleware on the IAM client (s3StyleIAMErrors)
//     rewrites them so NoSuchEntity, EntityAlreadyExists and
//     MalformedPolicyDocument are recognised like AWS's.
//   - Policy documents come back raw (not URL-encoded) and ARNs have an empty
//     account: arn:aws:iam:::role/NAME, arn:aws:iam:::user/UID. Any SigV4
//     region is accepted, for IAM and S3 alike.
//   - A policy variable in a Resource (${cognito-identity.amazonaws.com:sub},
//     ${aws:username}) is refused with MalformedPolicyDocument; in condition
//     values it is stored and then compared literally, never expanded.
//     PutRolePolicy therefore writes such documents without the resources
//     that hold variables (never granting more; see PutRolePolicy).
//   - There is no ?encryption subresource: GET answers a ListBucketResult
//     (read as "no default encryption") and PUT 400 InvalidArgument, which
//     Classify calls NotImplemented for PutBucketEncryption.
//   - A LocationConstraint other than the zonegroup's api_name ("default") is
//     InvalidLocationConstraint, us-east-1 included; CreateBucket then
//     creates the bucket without one (non-AWS endpoints only). Creating a
//     bucket we own answers 200.
//   - Roles take tags at creation, but GetRole writes each as
//     <Key><Key>k</Key></Key><Value><Value>v</Value></Value>, which the SDK
//     reads as none; a middleware (rgwRoleTags) rewrites it into the query
//     protocol's <member> shape. Values are stored as sent, so a space the
//     SDK sends as '+' comes back as '+'.
//   - CORS (methods come back reordered), tagging (NoSuchTagSet when none),
//     lifecycle (the rule comes back with an empty Prefix instead of a
//     Filter) and bucket policies with Principal "*" work; DeleteBucketPolicy
//     without a policy succeeds.
//
// With Config.Metrics, a middleware on both clients' stacks (observe.go)
// counts and times every call as one, however often the SDK retried it,
// under the SDK's operation name and with Classify's class of its error as
// the outcome.
package s3iam
