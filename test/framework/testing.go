package framework

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// KubectlTimeout bounds one Kubectl call.
const KubectlTimeout = 2 * time.Minute

// RequireKubeBinaries returns localfed.KubeBinDir or ends the test: it skips
// when the binaries are missing, and fails instead when the environment has
// CI=true, so a CI run never passes without really running the test.
func RequireKubeBinaries(t testing.TB) string {
	t.Helper()
	dir, err := localfed.KubeBinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kube binaries are required in CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return dir
}

// NewHubCluster starts a hub cluster (etcd, kube-apiserver and
// kube-controller-manager) for a test in a t.TempDir() and stops it in
// t.Cleanup, also when the test fails (then the logs' tails are logged).
func NewHubCluster(t testing.TB) *HubCluster {
	t.Helper()
	return NewHubClusterWithOptions(t, HubClusterOptions{})
}

// NewHubClusterWithOptions is NewHubCluster with options. An empty Dir gets
// a t.TempDir(); Detach is ignored (a test's processes never outlive it);
// etcd runs without fsync.
func NewHubClusterWithOptions(t testing.TB, opts HubClusterOptions) *HubCluster {
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
	start := time.Now()
	h, err := localfed.StartHubCluster(ctx, opts)
	if err != nil {
		t.Fatalf("starting hub cluster: %v", err)
	}
	t.Logf("hub cluster %s ready in %v, kube-controller-manager healthy %v after kube-apiserver (dir %s, pids: kube-apiserver %d, etcd %d, kube-controller-manager %d)",
		h.URL, time.Since(start).Round(time.Millisecond), h.ControllerManagerStartup.Round(time.Millisecond), h.Dir, h.APIServerPID, h.EtcdPID, h.ControllerManagerPID)
	stopClusterOnCleanup(t, "hub cluster", h)
	return h
}

// stopClusterOnCleanup stops the cluster's processes when the test ends and,
// when it failed, logs the tails of their logs first.
func stopClusterOnCleanup(t testing.TB, name string, h *HubCluster) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s: kube-apiserver log (tail) ---\n%s", name, h.APIServer.LogTail(60))
			t.Logf("--- %s: kube-controller-manager log (tail) ---\n%s", name, h.ControllerManager.LogTail(30))
			t.Logf("--- %s: etcd log (tail) ---\n%s", name, h.Etcd.Process.LogTail(20))
		}
		if err := h.Stop(); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
	})
}

// NewEtcd starts an etcd for a test and stops it in t.Cleanup.
func NewEtcd(t testing.TB) *Etcd {
	t.Helper()
	binDir := RequireKubeBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := localfed.StartEtcd(ctx, localfed.EtcdOptions{Dir: t.TempDir(), BinDir: binDir, UnsafeNoFsync: true})
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- etcd log (tail) ---\n%s", e.Process.LogTail(30))
		}
		if err := e.Stop(); err != nil {
			t.Errorf("stopping etcd: %v", err)
		}
	})
	return e
}

// Kubectl runs the built kubectl with --kubeconfig=kubeconfig and args and
// returns its stdout, stderr and error (an *exec.ExitError when it exits
// non-zero). It does not fail the test itself.
func Kubectl(t testing.TB, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return KubectlWithInput(t, kubeconfig, nil, args...)
}

// KubectlWithInput is Kubectl with stdin (e.g. for `apply -f -`).
func KubectlWithInput(t testing.TB, kubeconfig string, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	binDir := RequireKubeBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	stdout, stderr, err = localfed.RunKubectl(ctx, binDir, kubeconfig, stdin, args...)
	t.Logf("kubectl %v: err=%v", args, err)
	return stdout, stderr, err
}

// NewPorticoHub starts portico-hub against hub for a test (embedded etcd in a
// t.TempDir() unless opts say otherwise) and stops it in t.Cleanup.
func NewPorticoHub(t testing.TB, hub *HubCluster, opts PorticoHubOptions) *PorticoHub {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Detach = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	p, err := localfed.StartPorticoHub(ctx, hub, opts)
	if err != nil {
		t.Fatalf("starting portico-hub: %v", err)
	}
	t.Logf("portico-hub %s serving through the hub cluster in %v", p.URL(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- portico-hub log (tail) ---\n%s", p.Process.LogTail(60))
		}
		if err := p.Stop(); err != nil {
			t.Errorf("stopping portico-hub: %v", err)
		}
	})
	return p
}
