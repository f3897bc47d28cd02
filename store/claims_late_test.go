package store

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amplifybackendd/amplifybackendd/internal/etcdtest"
)

// lateProxy forwards TCP connections to an etcd member and can hold
// back what the member answers (delivered once released) and cut what
// the client sends (never delivered): the view of a process whose answers
// reach it late, as after a stall of the process or a long pause of its
// machine.
type lateProxy struct {
	ln      net.Listener
	backend string
	hold    atomic.Bool
	cut     atomic.Bool
	held    chan struct{} // closed by release
	mu      sync.Mutex
	conns   []net.Conn
}

func newLateProxy(t *testing.T, backend string) *lateProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lateProxy{ln: ln, backend: backend, held: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go p.accept()
	return p
}

func (p *lateProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go p.up(c, b)
		go p.down(b, c)
	}
}

// up forwards the client's bytes until cut, then holds them.
func (p *lateProxy) up(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			to.Close()
			return
		}
		if p.cut.Load() {
			continue // never delivered
		}
		if _, err := to.Write(buf[:n]); err != nil {
			return
		}
	}
}

// release delivers what hold held back, and forwards again.
func (p *lateProxy) release() {
	p.hold.Store(false)
	close(p.held)
}

// down forwards the member's bytes; while held, in order once released.
func (p *lateProxy) down(from, to net.Conn) {
	q := make(chan []byte, 1<<16)
	go func() {
		for b := range q {
			if _, err := to.Write(b); err != nil {
				io.Copy(io.Discard, from)
				return
			}
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := from.Read(buf)
		if err != nil {
			close(q)
			return
		}
		if p.hold.Load() {
			<-p.held
		}
		q <- buf[:n]
	}
}

// TestLeaseTermEndsBeforeEtcdExpiresIt: a store whose renewal reached
// etcd, but whose answer arrived late (held back, then delivered after the
// store was cut off from etcd: what a replica resumed after a stall finds
// waiting), has ended its lease term, and so every execution under its
// claims, by the time etcd expires the lease and another replica may claim
// the jobs. The term is counted from when the renewal was sent, as etcd's
// expiry is, not from when its answer arrived: it ran up to half a TTL past
// the lease, the replica acting on the target for jobs another replica
// then held.
func TestLeaseTermEndsBeforeEtcdExpiresIt(t *testing.T) {
	t.Parallel()
	const ttl = 8 * time.Second
	c := etcdtest.Start(t, 1)
	proxy := newLateProxy(t, c.Endpoints()[0])
	ctx := context.Background()
	prefix := fmt.Sprintf("/claimtest%d", etcdPrefixes.Add(1))
	s, err := OpenEtcd(ctx, EtcdOptions{Endpoints: []string{proxy.ln.Addr().String()}, Prefix: prefix, LeaseTTL: ttl, RequestTimeout: time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &claimFixture{t: t, ctx: ctx, stores: []*Store{s}, cli: c.Client(t)}
	claim := f.claim(s, f.pendingJob(s, "late"))
	term := claim.lease

	// renewed waits until etcd renews the lease: its time to live, as etcd
	// counts it, goes up.
	last := int64(-1)
	renewed := func() {
		t.Helper()
		for range 1200 { // 60 s: a guard against a hang, timing nothing
			resp, err := f.cli.TimeToLive(ctx, clientv3.LeaseID(term.id))
			if err != nil {
				t.Fatal(err)
			}
			up := last >= 0 && resp.TTL > last
			last = resp.TTL
			if up {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("the lease is not renewed")
	}
	renewed()
	answered := time.Now() // the store has that renewal's answer
	proxy.hold.Store(true) // its next answers wait
	renewed()              // the next renewal reached etcd
	proxy.cut.Store(true)  // and none after it will
	// The answers held are delivered while the term is still running on
	// the last answer the store had.
	time.Sleep(time.Until(answered.Add(ttl*3/4 - 500*time.Millisecond)))
	proxy.release()

	for range 1200 {
		resp, err := f.cli.TimeToLive(ctx, clientv3.LeaseID(term.id))
		if err != nil {
			t.Fatal(err)
		}
		if resp.TTL <= 0 {
			break // expired (or revoked by the store, whose term then ended)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-term.Done():
	default:
		expired := time.Now()
		select {
		case <-term.Done():
			t.Fatalf("the lease term ended %v after etcd expired the lease: its claims were another replica's to take meanwhile", time.Since(expired).Round(time.Millisecond))
		case <-time.After(time.Minute):
			t.Fatal("the lease term never ended")
		}
	}
}

// TestLeaseLiveByTheClock: a term whose end has passed is not live, though
// the goroutine that closes Done has not run yet (after a stall of the
// process, it may not have): the jobs check Live before each call to the
// target (Claim.Held), so a replica resumed past its lease acts no more.
func TestLeaseLiveByTheClock(t *testing.T) {
	term := &Lease{done: make(chan struct{})}
	term.extend(time.Now().Add(time.Minute))
	if !term.Live() {
		t.Fatal("a term a minute from its end is not live")
	}
	term.extend(time.Now().Add(-time.Millisecond))
	if term.Live() || (&Claim{key: "k", lease: term}).Held() {
		t.Fatal("a term past its end is live, Done still open")
	}
	term.extend(time.Now().Add(time.Minute))
	close(term.done)
	if term.Live() {
		t.Fatal("a term whose Done is closed is live")
	}
}
