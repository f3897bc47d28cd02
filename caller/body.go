package caller

import (
	"bytes"
	"crypto/sha256"
	"errors"
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

// firstBodyGrowth is the first heap buffer of a body that outgrows the
// inline one; growth doubles from there.
const firstBodyGrowth = 4 << 10

// Body is a request's body once read whole. It replaces r.Body, so
// whatever reads the body still can, and it carries the bytes to the
// signature check and the handlers without an entry in a router's
// per-request map (two allocations a request).
type Body struct {
	bytes.Reader
	// Caller is who signed the request, once Verify has checked it; the
	// request's log line reads it here rather than from a per-request map.
	Caller Caller
	data   []byte
	// sum is the SHA-256 of data, computed as it was read.
	sum [sha256.Size]byte
	// held is what this body took from budget; Release gives it back.
	held   int64
	budget *bodyBudget
	// probe takes the read that checks for bytes past the end; as a field
	// it needs no allocation of its own.
	probe [1]byte
	// small holds a body that fits, so the usual request body (a create
	// with every permission is about 250 bytes) costs no allocation beyond
	// this struct, and is hashed without a hasher of its own.
	small [512]byte
}

// Close implements io.Closer; the bytes are already read.
func (*Body) Close() error { return nil }

// Bytes is the whole body.
func (b *Body) Bytes() []byte { return b.data }

// Release gives what the body holds back to the budget all requests share.
// Call it once the request ends; the bytes must not be used after it.
func (b *Body) Release() {
	b.budget.put(b.held)
	b.held = 0
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
// refuses a body over MaxBodyBytes, and refuses at once when growing the
// buffer would pass the budget for bodies. A refused body holds nothing;
// the caller releases an accepted one when the request ends.
func (v *Verifier) readBody(r *http.Request) (*Body, *Error) {
	b := &Body{budget: &v.bodies}
	err := b.read(r)
	if err != nil {
		b.Release()
		return nil, err
	}
	b.Reset(b.data)
	r.Body = b
	return b, nil
}

func (b *Body) read(r *http.Request) *Error {
	if r.ContentLength > MaxBodyBytes {
		return &Error{Check: BodyTooLarge}
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
						return &Error{Check: BodyTooLarge}
					}
				} else if err == io.EOF {
					err = nil
				}
				break
			}
			grown := min(max(2*cap(buf), firstBodyGrowth), limit)
			if !b.budget.take(int64(grown) - b.held) {
				return &Error{Check: BodyBudgetSpent, Budget: b.budget.limit}
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
		return &Error{Check: BodyUnreadable, Err: err}
	}
	b.data = buf
	if h != nil {
		h.Sum(b.sum[:0])
	} else {
		b.sum = sha256.Sum256(buf)
	}
	return nil
}
