package framework

import (
	"context"
	"testing"
	"time"
)

// NewMemberCluster starts a member cluster named name for a test in a
// t.TempDir() and stops it in t.Cleanup, also when the test fails (then the
// logs' tails are logged). It skips (fails with CI=true) when the kube binaries
// are missing.
func NewMemberCluster(t testing.TB, name string) *MemberCluster {
	t.Helper()
	return NewMemberClusterWithOptions(t, MemberClusterOptions{Name: name})
}

// NewMemberClusterWithOptions is NewMemberCluster with options. An empty Dir
// gets a t.TempDir(); Detach is ignored; etcd runs without fsync.
func NewMemberClusterWithOptions(t testing.TB, opts MemberClusterOptions) *MemberCluster {
	t.Helper()
	binDir := RequireKubeBinaries(t)
	if opts.BinDir == "" {
		opts.BinDir = binDir
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir() // registered first, so removed after Stop
	}
	opts.Detach = false
	opts.UnsafeEtcdNoFsync = true
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, err := StartMemberCluster(ctx, opts)
	if err != nil {
		t.Fatalf("starting member cluster %s: %v", opts.Name, err)
	}
	tm := m.Timings
	t.Logf("member cluster %s (%s) ready in %v: kube-apiserver %v, Istio CRDs %v, istio-system objects %v (dir %s, kube-apiserver pid %d, etcd pid %d)",
		m.Name, m.URL, tm.Total.Round(time.Millisecond), tm.APIServer.Round(time.Millisecond), tm.IstioCRDs.Round(time.Millisecond),
		tm.Objects.Round(time.Millisecond), m.Dir, m.APIServerPID, m.EtcdPID)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- member cluster %s: kube-apiserver log (tail) ---\n%s", m.Name, m.APIServer.LogTail(40))
			t.Logf("--- member cluster %s: etcd log (tail) ---\n%s", m.Name, m.Etcd.Process.LogTail(20))
		}
		if err := m.Stop(); err != nil {
			t.Errorf("stopping member cluster %s: %v", m.Name, err)
		}
	})
	return m
}
