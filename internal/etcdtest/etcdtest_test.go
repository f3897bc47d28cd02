package etcdtest

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestThreeMembersSurviveOneStopped: a three-member cluster keeps taking
// writes with one member stopped, and the member, restarted, rejoins and
// serves what was written meanwhile.
func TestThreeMembersSurviveOneStopped(t *testing.T) {
	t.Parallel()
	c := Start(t, 3)
	ctx := context.Background()
	cli := c.Client(t)
	stopped := c.Members()[0]
	stopped.Stop()
	if _, err := cli.Put(ctx, "k", "written with a member down"); err != nil {
		t.Fatal(err)
	}
	stopped.Restart()
	// A client of the restarted member alone: its linearizable read waits
	// until the member has caught up with the leader.
	only, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	resp, err := only.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "written with a member down" {
		t.Fatalf("the restarted member read %v", resp.Kvs)
	}
}
