// Package embedded runs an S3 gateway and an AWS-compatible IAM API inside
// this process, so that amplifybackendd works with no configuration at all:
// jobs provision buckets and write bucket and role policies against a real
// S3/IAM implementation on loopback instead of needing AWS or another server.
//
// Both halves come from Versity's gateway (github.com/versity/versitygw,
// Apache-2.0):
//
//   - the S3 gateway (embedgw.RunVersityGW) serves a posix backend rooted at
//     Config.Dir/s3, storing object and bucket metadata (policies, tags, CORS)
//     in user extended attributes, so the filesystem under Dir must support
//     user xattrs (ext4, xfs and btrfs do; Start checks);
//   - the IAM API (Versity's iamapi and iamapi/private packages, wired as
//     embedgw.RunIAMAPI wires them) keeps users, access keys, roles and
//     inline policies under Config.Dir/iam and speaks the AWS IAM query
//     protocol, so the ordinary aws-sdk-go-v2 iam client talks to it.
//
// With Config.TLSCert and TLSKey both listeners serve HTTPS through Versity's
// own option (s3api.WithTLS, iamapi.WithTLS), which reads the certificate
// from one store at each handshake; Server.ReloadTLS replaces what that
// store holds, so a renewed certificate reaches new connections and open
// ones are left alone.
//
// Roles live in a bbolt file of their own (Dir/iam/roles.db, one record per
// role, writes fsynced) in front of Versity's file store, which keeps every
// user and role in one JSON document that each call parses and each write
// rewrites: at two roles per Amplify environment, that document made every
// IAM call slower as environments accumulated and came to dominate the
// process's CPU. Users, access keys, OIDC providers and sessions, which stay
// few, remain in Versity's store. roleStore keeps the file store's semantics
// call for call (a test runs both side by side), and a data directory from
// before it has its roles moved over at start.
//
// Versity 1.8 has no customer managed policies; the same bbolt file holds
// them (managed.go), served through Versity's own action table behind its
// signature check, with AWS's quotas (6,144 characters, 5 versions, 10
// attached per role), because an environment's grants outgrow a role's
// 10,240 characters of inline policies.
//
// Versity answers Put/Get/DeleteBucketLifecycleConfiguration 501 in its
// router, before any backend call, so this package mounts its own routes for
// them ahead of Versity's (lifecycle.go) that run Versity's own
// authentication and authorization chain, refuse what S3 refuses (with S3's
// error codes, naming the rule and the field) and keep the configuration, as
// GET returns it, in Dir/buckets.db. That bbolt file, rather than an extended
// attribute as Versity uses for policies, because on ext4 all attributes of
// a directory share one 4 KiB block that the bucket policy nearly fills,
// while a configuration may hold 1,000 rules. The same file records each
// bucket's creation time: the posix backend reports the directory's
// modification time, which moves with every object written at the top of
// the bucket. The gateway's backend is the posix backend wrapped
// (bucketBackend) so CreateBucket records the time (and clears any
// configuration a bucket of that name once had), DeleteBucket forgets both
// and ListBuckets answers the recorded time. At start, buckets made before
// the file existed get the directory's birth time (statx; its modification
// time where the filesystem keeps none) and records of vanished buckets are
// dropped.
//
// Of the lifecycle actions only AbortIncompleteMultipartUpload is carried
// out: a sweeper goroutine, living as long as the gateway, lists every
// Config.LifecycleSweep (default hourly, and once at start) the in-progress
// uploads of each bucket with an enabled rule and aborts those the rule's
// prefix covers that were initiated more than DaysAfterInitiation days ago,
// a day lasting Config.LifecycleDay (default 24 h; tests shorten it).
// Versity's Initiated is the upload directory's modification time, so an
// upload still receiving parts counts from its last part, and the abort is
// conditional on that time (IfMatchInitiatedTime) so a part arriving after
// the listing keeps the upload until the next sweep. Expiration and
// transitions are stored and returned but not acted on.
//
// Identity is shared: the IAM API also serves Versity's private endpoints
// (derive a signing key, evaluate an identity policy, resolve an identity) on
// a unix socket under Dir (IAMConfig.PrivatePorts; no TLS is needed on a unix
// socket), and the gateway's IAM backend is Versity's standalone-IAM client
// of that socket (auth.NewIAMServiceStandalone, what
// embedgw.Config.StandaloneIAMEndpoint would build). A user made with
// CreateUser and CreateAccessKey can therefore sign S3 requests to the
// gateway, and the inline policies given to it with PutUserPolicy are
// enforced there, together with bucket policies. The whole installation is
// one account: every bucket is owned by the root key (Config.AccessKey),
// which bypasses all policy checks as an account root does on AWS. Anonymous
// requests are served exactly where a bucket policy with Principal "*" allows
// them.
//
// The IAM API stores roles and their inline policies and validates them as
// AWS does (a Cognito trust policy needs a Condition on
// cognito-identity.amazonaws.com:aud). Versity enforces a role's policies
// only for sessions from its own AssumeRoleWithWebIdentity with a registered
// OIDC provider; there is no Cognito here, so Amplify's roles are stored and
// validated but not exercised. What S3 enforces for Amplify's guests is the
// bucket policy.
//
// Versity applies a bucket's CORS rules itself, preflights included: the
// rule jobs write lets any origin upload. For buckets without rules
// (imported, or made by hand) Config.CORSAllowOrigin, the admin console's
// origin, goes to Versity's fallback (embedgw.Config.CORSAllowOrigin): it
// answers that origin's preflights and exposes ETag, so the console's file
// browser can upload to any bucket, multipart included.
//
// Constraints inherited from Versity, which callers must respect:
//
//   - one gateway and one IAM API per process: a second Start while the first
//     Server runs fails, before it touches anything;
//   - the posix backend changes the process's working directory to its root
//     (os.Chdir), so every path the rest of the program uses must be absolute,
//     and Config.Dir must be absolute;
//   - the IAM API's own SigV4 signing region is fixed to us-east-1, as on AWS;
//   - the gateway prints one line ("standalone IAM service ...: version ...")
//     on stdout when it connects to the IAM API, with no option to stay
//     quiet: Start points the process's stdout at the null device for that
//     call (quiet.go); everything else (banners, per-request logs) is
//     silenced by options;
//   - Versity binds its listeners itself and never reports the port it got,
//     so a port 0 is resolved to a free port before starting (and re-picked
//     if another process takes it first); nor does it take a listener, so a
//     caller that checks its addresses early can only probe them;
//   - Versity builds its listeners' servers (fiber over fasthttp) with no
//     read, write or idle timeouts and no option to set them, and stops each
//     with fasthttp's graceful shutdown and a 10 s timeout, which waited in
//     full for any connection that had not finished a request. Start reaches
//     the fasthttp server under each fiber.App through the unexported field
//     that holds the app (fiberapp.go; Versity offers no other way, and Start
//     fails if a release moves it), sets Config.S3Timeouts and IAMTimeouts on
//     it before it serves (timeouts.go), and has package drain close unused
//     connections when ctx ends; requests in flight still finish.
package embedded
