// Package etcdtest runs a real etcd cluster inside a test process, so the
// etcd engine of the store (and, later, replicas sharing it) are tested
// against etcd itself, not a fake: go.etcd.io/etcd/server/v3/embed, one
// member per Member, each with its data directory under t.TempDir() and
// its ports on the loopback interface.
//
// Only tests import it: the server is a large dependency the
// amplifybackendd binary does not link.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// startTimeout bounds how long a member may take to join its cluster; it
// only turns a hung start into a failure, it times nothing.
const startTimeout = time.Minute

// Cluster is a running etcd cluster of one or more members.
type Cluster struct {
	t       testing.TB
	members []*Member
}

// Member is one etcd server of a Cluster, which a test may stop and
// restart (its data directory and ports are kept).
type Member struct {
	t      testing.TB
	cfg    *embed.Config
	client url.URL
	mu     sync.Mutex
	etcd   *embed.Etcd // nil while stopped
}

// Start starts an n-member cluster and waits until every member serves.
// Cleanup stops what is still running.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := start(t, t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartIn starts an n-member cluster with its data under dir, for a
// cluster a whole test binary shares (started from TestMain, or once by
// the first test that needs it): its caller stops it with Stop. Its
// members are not to be restarted.
func StartIn(dir string, n int) (*Cluster, error) { return start(nil, dir, n) }

// portAttempts bounds the starts of a cluster whose ports were taken
// between freeURL choosing them and the members listening on them (other
// processes on the machine pick free ports too).
const portAttempts = 3

func start(t testing.TB, dir string, n int) (*Cluster, error) {
	for attempt := 1; ; attempt++ {
		// A fresh directory each time: a member that started before
		// another failed has bootstrapped its data for the old ports.
		c, err := startOnce(t, fmt.Sprintf("%s/%d", dir, attempt), n)
		if err == nil || attempt == portAttempts || !portTaken(err) {
			return c, err
		}
	}
}

// portTaken reports whether err is a listen on a port already in use.
func portTaken(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func startOnce(t testing.TB, dir string, n int) (*Cluster, error) {
	c := &Cluster{t: t}
	var initial []string
	peers := make([]url.URL, n)
	clients := make([]url.URL, n)
	for i := range n {
		var err error
		if peers[i], err = freeURL(); err != nil {
			return nil, err
		}
		if clients[i], err = freeURL(); err != nil {
			return nil, err
		}
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peers[i].String()))
	}
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = fmt.Sprintf("%s/m%d", dir, i)
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peers[i]}, []url.URL{peers[i]}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clients[i]}, []url.URL{clients[i]}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "etcdtest"
		cfg.LogLevel = "fatal" // its shutdown logs errors of closed listeners; failures reach the test as errors
		c.members = append(c.members, &Member{t: t, cfg: cfg, client: clients[i]})
	}
	// Members of a new cluster wait for each other, so all start before
	// any is waited on.
	errs := make(chan error, n)
	for _, m := range c.members {
		go func() { errs <- m.start() }()
	}
	var failed []error
	for range n {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		c.Stop()
		return nil, errors.Join(failed...)
	}
	return c, nil
}

// Stop stops every member still running.
func (c *Cluster) Stop() {
	for _, m := range c.members {
		m.Stop()
	}
}

// freeURL returns a loopback URL on a port free when asked.
func freeURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, err
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

// Members returns the cluster's members, in the order Endpoints lists
// them.
func (c *Cluster) Members() []*Member { return c.members }

// Endpoints returns every member's client address (host:port).
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client.Host)
	}
	return eps
}

// Client returns a client of every member, closed at cleanup.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: startTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// start starts the member and waits until it serves.
func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: start %s: %w", m.cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcdtest: %s: %w", m.cfg.Name, err)
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("etcdtest: %s did not become ready within %v", m.cfg.Name, startTimeout)
	}
	m.etcd = e
	return nil
}

// Stop stops the member; its data stays for Restart. Stopping a stopped
// member does nothing.
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
}

// Restart starts a stopped member again on its data and ports; it rejoins
// its cluster.
func (m *Member) Restart() {
	m.t.Helper()
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	if err := m.start(); err != nil {
		m.t.Fatal(err)
	}
}
