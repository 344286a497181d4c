package framework

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// KubectlTimeout bounds one Kubectl call.
const KubectlTimeout = 2 * time.Minute

// NewHubCluster starts a hub cluster for a test in a t.TempDir() and stops it
// in t.Cleanup, also when the test fails (then the logs' tails are logged).
// It skips (fails with CI=true) when the kube binaries are missing.
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
	h, err := StartHubCluster(ctx, opts)
	if err != nil {
		t.Fatalf("starting hub cluster: %v", err)
	}
	t.Logf("hub cluster %s ready in %v (dir %s, kube-apiserver pid %d, etcd pid %d)",
		h.URL, time.Since(start).Round(time.Millisecond), h.Dir, h.APIServerPID, h.EtcdPID)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- kube-apiserver log (tail) ---\n%s", h.APIServer.LogTail(60))
			t.Logf("--- etcd log (tail) ---\n%s", h.Etcd.Process.LogTail(20))
		}
		if err := h.Stop(); err != nil {
			t.Errorf("stopping hub cluster: %v", err)
		}
	})
	return h
}

// NewEtcd starts an etcd for a test and stops it in t.Cleanup.
func NewEtcd(t testing.TB) *Etcd {
	t.Helper()
	binDir := RequireKubeBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := StartEtcd(ctx, EtcdOptions{Dir: t.TempDir(), BinDir: binDir, UnsafeNoFsync: true})
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
	// A discovery cache per kubeconfig directory: never shared between
	// clusters that happen to reuse a port.
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(filepath.Dir(kubeconfig), ".kube-cache")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, KubectlBinary), full...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	err = cmd.Run()
	t.Logf("kubectl %v: err=%v", args, err)
	return out.String(), errOut.String(), err
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
	p, err := StartPorticoHub(ctx, hub, opts)
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
