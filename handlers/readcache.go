package handlers

import (
	"errors"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// readCache keeps the encoded answers of the frequent single-record reads
// (GetBackendStorage, GetBackendJob), each tagged with the store generation
// it was read at. An answer is reused only while the store's generation is
// unchanged, so it can never be older than a write already answered; any
// write anywhere invalidates everything, which keeps the rule simple at the
// cost of misses under write load, when reads are not the bottleneck.
//
// A hit skips the read transaction and the encoding, about a tenth of a
// signed read's CPU. The signature is still checked on every request, and
// the cache sits after the handler's own validation.
type readCache struct {
	mu      sync.RWMutex
	answers map[readKey]cachedAnswer
}

// readKey names one read: the operation and the record it reads, exactly
// as requested (the answer echoes the names back).
type readKey struct {
	op, app, env, name string
	// onApp: the caller may read the app's own records too (a job that
	// holds the app); answers differ by it, so it keys them apart.
	onApp bool
}

type cachedAnswer struct {
	generation uint64
	body       []byte
}

// maxCachedReads bounds the cache; past it, an arbitrary entry makes room.
// Only reads that found their record are kept, so the keys are records
// that exist.
const maxCachedReads = 4096

func (c *readCache) get(k readKey, generation uint64) ([]byte, bool) {
	c.mu.RLock()
	a, ok := c.answers[k]
	c.mu.RUnlock()
	if !ok || a.generation != generation {
		return nil, false
	}
	return a.body, true
}

func (c *readCache) put(k readKey, generation uint64, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answers == nil {
		c.answers = make(map[readKey]cachedAnswer)
	}
	if _, ok := c.answers[k]; !ok && len(c.answers) >= maxCachedReads {
		for old := range c.answers {
			delete(c.answers, old)
			break
		}
	}
	c.answers[k] = cachedAnswer{generation: generation, body: body}
}

// answerRead answers a single-record read with 200 and read's answer,
// reusing the encoded answer of an earlier identical read while the store
// is unchanged. read's errors are answered as usual and not kept.
func answerRead[T jsonAppender](s *Server, c echo.Context, k readKey, read func() (T, error)) error {
	if indented(c) {
		v, err := read()
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	}
	// Read before the transaction, so the answer is at least as new as
	// the generation it is kept under.
	generation := s.Store.Generation()
	if body, ok := s.reads.get(k, generation); ok {
		return writeEncoded(c, http.StatusOK, body)
	}
	v, err := read()
	if err != nil {
		return err
	}
	body := append(v.appendJSON(nil), '\n')
	s.reads.put(k, generation, body)
	return writeEncoded(c, http.StatusOK, body)
}

// viewInScope runs a read of one record; when the record is missing it
// reports which level is: the app, the environment, or the record itself.
// The scope is only checked on a miss, so a hit costs one lookup.
func (s *Server) viewInScope(c echo.Context, appID, env string, read func(tx *store.Tx) error) error {
	return s.Store.View(c.Request().Context(), func(tx *store.Tx) error {
		err := read(tx)
		if errors.Is(err, store.ErrNotFound) {
			if scopeErr := tx.CheckScope(appID, env); scopeErr != nil {
				return scopeErr
			}
		}
		return err
	})
}
