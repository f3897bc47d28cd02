package handlers

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync/atomic"
)

// MaxBodyBytes is the largest request body accepted; larger ones are refused
// before they are read whole.
const MaxBodyBytes = 1 << 20

// DefaultBodyBudget is how many bytes of request bodies all connections
// together may hold when Config.BodyBudget is not set: 64 bodies of the
// largest size, far more than the small JSON documents the API takes.
const DefaultBodyBudget = 64 << 20

// BodyBudgetLimit is the limitType of the TooManyRequestsException a
// request gets when the body budget is spent.
const BodyBudgetLimit = "RequestBodyMemory"

// firstBodyGrowth is the first heap buffer of a body that outgrows the
// inline one; growth doubles from there.
const firstBodyGrowth = 4 << 10

// requestBody is a request's body once read whole. It replaces r.Body, so
// whatever reads the body still can, and it carries the bytes to the
// signature check and the handlers without an entry in Echo's per-request
// map (two allocations a request).
type requestBody struct {
	bytes.Reader
	data []byte
	// sum is the SHA-256 of data, computed as it was read.
	sum [sha256.Size]byte
	// held is what this body took from the server's budget; it goes back
	// when the request ends.
	held int64
	// probe takes the read that checks for bytes past the end; as a field
	// it needs no allocation of its own.
	probe [1]byte
	// small holds a body that fits, so the usual request body (a create
	// with every permission is about 250 bytes) costs no allocation beyond
	// this struct, and is hashed without a hasher of its own.
	small [512]byte
}

// Close implements io.Closer; the bytes are already read.
func (*requestBody) Close() error { return nil }

// bodyOf is the body readBody read.
func bodyOf(r *http.Request) []byte {
	if b, ok := r.Body.(*requestBody); ok {
		return b.data
	}
	return nil
}

// bodyBudget bounds the bytes all requests together hold in bodies read
// into memory. A request that cannot take its share is refused at once
// rather than made to wait: waiting would keep its connection, and what it
// already sent, for as long as others hold theirs.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes, reporting false (and reserving nothing) when that
// would pass the limit.
func (b *bodyBudget) take(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// put returns n bytes taken before.
func (b *bodyBudget) put(n int64) { b.used.Add(-n) }

// readBody reads r's body as its bytes arrive, into a buffer that grows
// with what was received rather than with what Content-Length announces (a
// client may announce 1 MiB and send nothing), hashing it on the way. It
// refuses a body over MaxBodyBytes, and answers 429 at once when growing
// the buffer would pass the server's budget for bodies. The caller returns
// the body's share with s.bodies.put(b.held) when the request ends, also
// after an error.
func (s *Server) readBody(r *http.Request) (*requestBody, error) {
	b := &requestBody{}
	if r.ContentLength > MaxBodyBytes {
		return b, tooLarge()
	}
	// Past limit only a probe for the end is read: a known length is
	// trusted as a ceiling, never as a size to allocate.
	limit := MaxBodyBytes
	if r.ContentLength > 0 {
		limit = int(r.ContentLength)
	}
	buf := b.small[:0]
	// h hashes a body that outgrew the inline buffer as it arrives; a body
	// that fits is hashed in one call at the end, sparing the hasher's
	// allocation on the usual request.
	var h hash.Hash
	var err error
	for r.Body != nil && r.Body != http.NoBody {
		if len(buf) == cap(buf) {
			if len(buf) >= limit {
				var n int
				if n, err = io.ReadFull(r.Body, b.probe[:]); n > 0 {
					if r.ContentLength > 0 {
						err = errors.New("body longer than its Content-Length")
					} else {
						return b, tooLarge()
					}
				} else if err == io.EOF {
					err = nil
				}
				break
			}
			grown := min(max(2*cap(buf), firstBodyGrowth), limit)
			if !s.bodies.take(int64(grown) - b.held) {
				return b, &APIError{Status: http.StatusTooManyRequests, Type: TooManyRequests, LimitType: BodyBudgetLimit,
					Message: fmt.Sprintf("The server holds as many request bodies as it may (%d bytes in all); retry shortly.", s.bodies.limit)}
			}
			b.held = int64(grown)
			if h == nil {
				h = sha256.New()
				h.Write(buf)
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		var n int
		n, err = r.Body.Read(buf[len(buf):cap(buf)])
		if h != nil {
			h.Write(buf[len(buf) : len(buf)+n])
		}
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
	}
	if err == nil && r.ContentLength > 0 && int64(len(buf)) != r.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return b, badRequest("The request body could not be read.")
	}
	b.data = buf
	if h != nil {
		h.Sum(b.sum[:0])
	} else {
		b.sum = sha256.Sum256(buf)
	}
	b.Reset(b.data)
	r.Body = b
	return b, nil
}

func tooLarge() *APIError {
	return badRequest("The request body is larger than 1 MiB.")
}
