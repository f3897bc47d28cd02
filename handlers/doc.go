// Package handlers serves the AmplifyBackend storage API, and the operations
// on whole environments and apps, over HTTP with Echo.
//
// It owns everything that is about the wire: routes (matched on the escaped
// path, each segment unescaped once), the exact JSON request and response
// shapes, decoding and validation of requests with messages that name the
// field and the rule (decode.go), pagination tokens, and the AWS errors.
// Every error the API answers is an entry of one catalog (catalog.go): its
// type, status, message template and extra members. Handlers only return
// errors, their own (a catalog entry with its values) or the typed errors
// of the caller, jobs and store packages, which carry what they concern
// and none of the words; one error handler (errors.go) finds the entry for
// each and renders it, so every failure has the same headers
// (X-Amzn-ErrorType, x-amzn-RequestId) and a JSON body with __type. A
// failed call to the storage target while answering (ListS3Buckets, the
// file browser) is 504 GatewayTimeoutException, 429 when the target
// throttles, or 400 with the target's words when it refused what the
// client asked; anything the catalog does not know is a logged 500
// InternalFailure with no internal text.
//
// Every operation of the service model has its route (model.go): the ones
// this server does not implement (auth, API, config) answer a 400
// BadRequestException naming the operation, a modeled error SDKs raise as such; only a method and path that match no
// operation are UnknownOperationException. Names (app ids, environments,
// resources, job ids) are never "." or "..": clients sign a path with its
// dot segments removed, so only refusing them keeps a verified signature
// bound to the request it was made for (decode.go, checkName).
//
// Who is calling is the caller package's business: every signed route, and
// every path no route matches, goes through one middleware that has it
// verify the request (the SigV4 signature, the body read under the 1 MiB
// cap and the budget all connections share) before the handler runs, and
// hands its refusals to the error handler. The route's operation is then
// authorized (authorize.go) before the handler runs: one table, keyed by
// operation name, says which ARNs each call touches (from the path, a few
// body fields read leniently, or the store for RemoveAllBackends, for the
// environments that use a bucket an import names or a clone's source
// imported, and for those a cancelled job holds), and the
// caller's policy must allow amplifybackend:<Operation> on all of them, or
// the call is a 403 AccessDeniedException, counted and logged, whatever
// else is wrong with it. ListS3Buckets and ListConsoleApps are filtered to
// what the caller may see instead (visible.go). A separate middleware counts the
// call as in flight for the job runner, whose workers yield the CPU to API
// calls while enough of them are.
//
// Every request ends in the first middleware (begin, server.go), which gave
// it its x-amzn-RequestId: it has the error answered there, so the status
// is known, then logs the request's one line (request id, operation,
// verified access key id, status, duration, and the cause of a refusal or
// failure) and counts it in Config.Metrics by operation and code. The
// operation is the matched route's name, never a path, so the label set is
// bounded; a signature refusal is also counted by the check that failed.
//
// Mutations go to the jobs package, which commits the job before the
// handler answers; reads go straight to the store. The answers of
// GetBackendStorage and GetBackendJob are kept encoded until the store's
// next write (readcache.go), so a repeated read skips the transaction but
// never sees less than what was already answered. A read that meets a
// damaged store file answers 500 InternalFailure with no internal text; the
// store logs which file and what it met. GET /admin-api/backup streams an
// online copy of the store for `amplifybackendd backup` (backup.go); a
// store kept in etcd has no file to copy, and the route says so (400).
//
// The token operations (CreateToken, GetToken, DeleteToken) serve console
// sign-in through the signin package (signin.go); the one unsigned API
// route, POST /console-api/sign-in, exchanges a challenge for temporary
// credentials, which the signature check then knows like any key.
//
// The console's file browser (objects.go) is eight signed routes under a
// storage resource's /console-api/ path. They hold every key to the
// resource's bucket and the access level the body names before calling the
// target (Config.Objects), so a refused request changes nothing; they
// list one S3 page per call and hand the browser presigned URLs, so files
// never pass through this server and the target's credentials never leave
// it. The console's Content-Security-Policy admits the target's S3 origin
// for those URLs. Their tests (package objectstest) run against a gateway
// of their own, apart from this package's.
package handlers
