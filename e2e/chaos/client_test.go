package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// maxAttempts is how often a call is sent before the client gives up: the
// AWS SDKs make 3 to 5 attempts; a few more carry a call across a replica's
// restart.
const maxAttempts = 8

// rotation sends signed API calls to a set of replicas in turn, as a client
// behind a round-robin load balancer would, and retries 5xx, 429 and
// connection errors on the next replica as the AWS SDKs do.
type rotation struct {
	urls  []string
	idx   []int // which replica each url is
	creds aws.Credentials
	http  *http.Client
	next  atomic.Uint64
	tally *tally
}

// answer is one reply (or its absence) to a call.
type answer struct {
	status  int // 0: no answer came
	errType string
	body    map[string]any
	raw     []byte
	replica int
	// ambiguous: an attempt before this answer ended with no answer or a
	// 5xx, so the call may have been applied without the client knowing.
	ambiguous bool
}

func (a answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

// tally counts what every client saw, for the run's summary.
type tally struct {
	mu       sync.Mutex
	attempts int
	byStatus map[int]int // 0: connection errors
	gaveUp   int
}

func (t *tally) add(status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts++
	t.byStatus[status]++
}

func newRotation(c *cluster, replicas ...int) *rotation {
	if len(replicas) == 0 {
		for i := range c.replicas {
			replicas = append(replicas, i)
		}
	}
	r := &rotation{creds: c.creds, idx: replicas, tally: &tally{byStatus: map[int]int{}},
		http: &http.Client{Timeout: time.Minute}}
	for _, i := range replicas {
		r.urls = append(r.urls, c.replicas[i].api)
	}
	return r
}

// call sends the call until an answer neither 5xx nor 429 comes, or
// maxAttempts are spent (the last answer is returned, status 0 if none).
func (c *rotation) call(ctx context.Context, method, path string, body any) answer {
	var last answer
	ambiguous := false
	for attempt := range maxAttempts {
		n := int(c.next.Add(1) % uint64(len(c.urls)))
		a, err := c.send(ctx, n, method, path, body)
		a.ambiguous = ambiguous
		if err == nil && a.status < 500 && a.status != http.StatusTooManyRequests {
			return a
		}
		last = a
		if err != nil || a.status >= 500 {
			ambiguous = true
		}
		if ctx.Err() != nil {
			break
		}
		// Capped exponential backoff with full jitter, as the SDKs' standard
		// retryer waits; it paces retries and orders nothing.
		time.Sleep(time.Duration(rand.Int64N(int64(min(time.Second, 50*time.Millisecond<<attempt)))))
	}
	c.tally.mu.Lock()
	c.tally.gaveUp++
	c.tally.mu.Unlock()
	last.ambiguous = true
	return last
}

// send makes one attempt at the n-th url of the rotation.
func (c *rotation) send(ctx context.Context, n int, method, path string, body any) (answer, error) {
	a := answer{replica: c.idx[n]}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return a, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.urls[n]+path, bytes.NewReader(raw))
	if err != nil {
		return a, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := testserver.SignRequest(req, raw, c.creds, time.Now()); err != nil {
		return a, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tally.add(0)
		return a, err
	}
	defer resp.Body.Close()
	a.raw, err = io.ReadAll(resp.Body)
	c.tally.add(resp.StatusCode)
	if err != nil {
		return a, err
	}
	a.status = resp.StatusCode
	a.errType = resp.Header.Get("X-Amzn-ErrorType")
	if len(a.raw) > 0 {
		if err := json.Unmarshal(a.raw, &a.body); err != nil {
			return a, fmt.Errorf("answer is not JSON (%d): %s", a.status, a.raw)
		}
	}
	return a, nil
}

// jobStatus polls a job through the rotation until it leaves RUNNING, and
// returns its status ("" when stop closes first, or after waitBound).
func (c *rotation) jobStatus(ctx context.Context, stop <-chan struct{}, env, id string) string {
	ctx, cancel := context.WithTimeout(ctx, waitBound)
	defer cancel()
	for {
		a := c.call(ctx, http.MethodGet, fmt.Sprintf("/backend/%s/job/%s/%s", app, env, id), nil)
		if s := a.str("status"); a.status == http.StatusOK && s != "RUNNING" {
			return s
		}
		select {
		case <-stop:
			return ""
		case <-ctx.Done():
			return ""
		case <-time.After(100 * time.Millisecond): // a client's polling pace
		}
	}
}
