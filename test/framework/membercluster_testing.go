package framework

import (
	"context"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed"
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
	m, err := localfed.StartMemberCluster(ctx, opts)
	if err != nil {
		t.Fatalf("starting member cluster %s: %v", opts.Name, err)
	}
	tm := m.Timings
	t.Logf("member cluster %s (%s) ready in %v: control plane %v (kube-controller-manager %v of it), CRDs %v, istio-system objects %v (dir %s, pids: kube-apiserver %d, etcd %d, kube-controller-manager %d)",
		m.Name, m.URL, tm.Total.Round(time.Millisecond), tm.APIServer.Round(time.Millisecond), m.ControllerManagerStartup.Round(time.Millisecond),
		tm.IstioCRDs.Round(time.Millisecond), tm.Objects.Round(time.Millisecond), m.Dir, m.APIServerPID, m.EtcdPID, m.ControllerManagerPID)
	stopClusterOnCleanup(t, "member cluster "+m.Name, m.HubCluster)
	return m
}
