// Package handlers serves the AmplifyBackend storage API over HTTP with Echo.
//
// It owns everything that is about the wire: routes (matched on the escaped
// path, each segment unescaped once), the exact JSON request and response
// shapes, validation of request fields with messages that name the field and
// the rule, SigV4 verification (the canonical request built directly, with
// aws-sdk-go-v2's signer as the reference its tests compare against),
// pagination tokens, and the mapping of errors
// to AWS error documents. Handlers only return errors; one error handler
// renders them (errors.go), so every failure has the same headers
// (X-Amzn-ErrorType, x-amzn-RequestId) and a JSON body with __type.
//
// A signed route checks what the headers alone can condemn (Authorization's
// form, the key, the service scope, the clock window) before it reads a byte
// of the body, then reads the body as it arrives, hashing it on the way,
// under the 1 MiB cap and a budget all connections share (body.go): a
// client without a key cannot make the server wait for or hold a body, and
// one with a key cannot make it hold more than the budget, past which calls
// get 429 at once.
//
// Mutations go to the jobs package, which commits the job before the
// handler answers; reads go straight to the store. The answers of
// GetBackendStorage and GetBackendJob are kept encoded until the store's
// next write (readcache.go), so a repeated read skips the transaction but
// never sees less than what was already answered. A read that meets a
// damaged store file answers 500 InternalFailure with no internal text; the
// store logs which file and what it met. GET /admin-api/backup streams an
// online copy of the store for `amplifybackendd backup` (backup.go).
package handlers
