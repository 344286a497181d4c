package framework

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// NewEtcdCluster starts an etcd cluster of members (3 when 0) for a test and
// stops it in t.Cleanup.
func NewEtcdCluster(t testing.TB, members int) *EtcdCluster {
	t.Helper()
	binDir := RequireKubeBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := localfed.StartEtcdCluster(ctx, localfed.EtcdClusterOptions{Dir: t.TempDir(), Members: members, BinDir: binDir, UnsafeNoFsync: true})
	if err != nil {
		t.Fatalf("starting etcd cluster: %v", err)
	}
	t.Logf("etcd cluster of %d members healthy in %v: %v", len(c.Members), time.Since(start).Round(time.Millisecond), c.ClientURLs())
	t.Cleanup(func() {
		if t.Failed() {
			for i, m := range c.Members {
				if m != nil {
					t.Logf("--- etcd member %d log (tail) ---\n%s", i, m.Process.LogTail(20))
				}
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping etcd cluster: %v", err)
		}
	})
	return c
}

// NewFront starts a Front (the equivalent of a Service with several endpoints)
// and closes it in t.Cleanup.
func NewFront(t testing.TB) *Front {
	t.Helper()
	f, err := localfed.StartFront()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// HAHub is the highly available hub topology: portico-hub replicas on an etcd
// cluster, behind one Front that the hub cluster's APIServices point at.
type HAHub struct {
	Hub      *HubCluster
	Etcd     *EtcdCluster
	Front    *Front
	Replicas []*PorticoHub
}

// NewHAHub starts replicas portico-hub replicas (sharing a CA and an
// encryption key) on an etcd cluster of etcdMembers, one after the other,
// behind a Front. opts are every replica's options (Dir, EtcdServers, CADir,
// EncryptionConfig and Front are set here).
func NewHAHub(t testing.TB, hub *HubCluster, etcdMembers, replicas int, opts PorticoHubOptions) *HAHub {
	t.Helper()
	h := &HAHub{Hub: hub, Etcd: NewEtcdCluster(t, etcdMembers), Front: NewFront(t)}
	shared := t.TempDir()
	opts.EtcdServers = h.Etcd.ClientURLs()
	opts.CADir = shared
	opts.EncryptionConfig = filepath.Join(shared, "encryption.yaml")
	opts.Front = h.Front
	for i := 0; i < replicas; i++ {
		o := opts
		o.Dir = ""
		h.Replicas = append(h.Replicas, NewPorticoHub(t, hub, o))
	}
	return h
}
