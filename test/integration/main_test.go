//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// The package shares one hub cluster with one portico-hub (started by the
// first test that asks for it, stopped by TestMain after every test ran).
// Tests on the shared environment use their own namespaces and names and do
// not restart anything; tests that restart portico-hub or need another etcd
// start their own environment.

type sharedEnv struct {
	dir string
	hub *framework.HubCluster
	ph  *framework.PorticoHub
	// pc is the clientset of the Portico API, kube the hub cluster's, dyn a
	// dynamic client: all authenticate as the hub's admin and go through the
	// hub cluster's kube-apiserver.
	pc   *versioned.Clientset
	kube *kubernetes.Clientset
	dyn  *dynamic.DynamicClient
}

var (
	sharedOnce sync.Once
	shared     *sharedEnv
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		stopShared(shared, code != 0)
	}
	os.Exit(code)
}

// hubEnv returns the shared environment, starting it on first use. It skips the
// test when the kube binaries are missing (fails with CI=true).
func hubEnv(t *testing.T) *sharedEnv {
	t.Helper()
	framework.RequireKubeBinaries(t)
	sharedOnce.Do(func() {
		start := time.Now()
		shared, sharedErr = startShared()
		if sharedErr == nil {
			t.Logf("shared hub cluster %s and portico-hub %s started in %v (dir %s)",
				shared.hub.URL, shared.ph.URL(), time.Since(start).Round(time.Millisecond), shared.dir)
		}
	})
	if sharedErr != nil {
		t.Fatalf("starting the shared environment: %v", sharedErr)
	}
	return shared
}

func startShared() (_ *sharedEnv, err error) {
	binDir, err := localfed.KubeBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "portico-integration-")
	if err != nil {
		return nil, err
	}
	e := &sharedEnv{dir: dir}
	defer func() {
		if err != nil {
			stopShared(e, true)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if e.hub, err = localfed.StartHubCluster(ctx, localfed.HubClusterOptions{
		Dir: filepath.Join(dir, "hub"), BinDir: binDir, UnsafeEtcdNoFsync: true,
	}); err != nil {
		return nil, fmt.Errorf("hub cluster: %w", err)
	}
	// API only: the hub's controllers write the status of access points,
	// member clusters and pools and allocate VirtualIPs. The tests here
	// exercise the API itself: they write status through /status, count
	// field managers, compare resourceVersions and print columns of objects
	// nothing has reconciled, so no controller may write concurrently.
	// Controllers are tested with their own portico-hub.
	if e.ph, err = localfed.StartPorticoHub(ctx, e.hub, localfed.PorticoHubOptions{
		Dir: filepath.Join(dir, "portico-hub"), ExtraArgs: []string{"--controllers="},
	}); err != nil {
		return nil, fmt.Errorf("portico-hub: %w", err)
	}
	if e.pc, err = versioned.NewForConfig(e.hub.RestConfig); err != nil {
		return nil, err
	}
	if e.kube, err = kubernetes.NewForConfig(e.hub.RestConfig); err != nil {
		return nil, err
	}
	if e.dyn, err = dynamic.NewForConfig(e.hub.RestConfig); err != nil {
		return nil, err
	}
	return e, nil
}

// stopShared stops portico-hub and the hub cluster. After a failure it prints
// the logs' tails and keeps the directory.
func stopShared(e *sharedEnv, failed bool) {
	if failed {
		if e.ph != nil {
			fmt.Fprintf(os.Stderr, "--- shared portico-hub log (tail) ---\n%s\n", e.ph.Process.LogTail(80))
		}
		if e.hub != nil {
			fmt.Fprintf(os.Stderr, "--- shared kube-apiserver log (tail) ---\n%s\n", e.hub.APIServer.LogTail(40))
			fmt.Fprintf(os.Stderr, "--- shared kube-controller-manager log (tail) ---\n%s\n", e.hub.ControllerManager.LogTail(30))
		}
	}
	if e.ph != nil {
		if err := e.ph.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the shared portico-hub: %v\n", err)
		}
	}
	if e.hub != nil {
		if err := e.hub.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the shared hub cluster: %v\n", err)
		}
	}
	if failed {
		fmt.Fprintf(os.Stderr, "kept the shared environment's files in %s\n", e.dir)
		return
	}
	_ = os.RemoveAll(e.dir)
}

// kubectl runs kubectl as the hub's admin.
func (e *sharedEnv) kubectl(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return framework.Kubectl(t, e.hub.KubeconfigPath, args...)
}

// mustKubectl runs kubectl as the hub's admin and fails the test on error.
func (e *sharedEnv) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	return mustKubectlAs(t, e.hub.KubeconfigPath, args...)
}

func mustKubectlAs(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, stderr, err := framework.Kubectl(t, kubeconfig, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// applyYAML runs `kubectl <args> -f -` with doc on stdin, as the hub's admin.
func (e *sharedEnv) applyYAML(t *testing.T, doc string, args ...string) (string, string, error) {
	t.Helper()
	return kubectlStdin(t, e.hub.KubeconfigPath, doc, args...)
}

func kubectlStdin(t *testing.T, kubeconfig, doc string, args ...string) (string, string, error) {
	t.Helper()
	return framework.KubectlWithInput(t, kubeconfig, strings.NewReader(doc), append(args, "-f", "-")...)
}

// mustApplyYAML is applyYAML that fails the test on error.
func (e *sharedEnv) mustApplyYAML(t *testing.T, doc string, args ...string) string {
	t.Helper()
	out, stderr, err := e.applyYAML(t, doc, args...)
	if err != nil {
		t.Fatalf("kubectl %s -f - : %v\nstdout:\n%s\nstderr:\n%s\ninput:\n%s", strings.Join(args, " "), err, out, stderr, doc)
	}
	return out
}

// newNamespace creates a namespace with a unique name in the hub cluster. It is
// not deleted: the environment is thrown away at the end, and deleting would
// only add the namespace controller's work to the tests still running.
func (e *sharedEnv) newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	if _, err := e.kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// startKubectl starts kubectl in the background (for -w and wait); the caller
// reads its output from the returned buffers after it exits, or from the
// pipe.
func startKubectl(t *testing.T, ctx context.Context, kubeconfig string, args ...string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	binDir := framework.RequireKubeBinaries(t)
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(filepath.Dir(kubeconfig), ".kube-cache")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, localfed.KubectlBinary), full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("started kubectl %v (pid %d)", args, cmd.Process.Pid)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stdout, &stderr
}

// uniqueName returns prefix-<8 random hex digits>, a valid DNS label.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

var ipCounter atomic.Uint32

func init() {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ipCounter.Store(binary.BigEndian.Uint32(b) % (1 << 20))
}

// nextIPv4 returns a new address of 100.64.0.0/10 each call (VirtualIPs are
// named by their address, so every test needs its own).
func nextIPv4() string {
	n := 100<<24 | 64<<16 | (ipCounter.Add(1) % (1 << 22))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b).String()
}

// kubectlTable is kubectl's human-readable output split into cells by the
// header's column positions (cells may be empty, so splitting on spaces is
// not enough).
type kubectlTable struct {
	header []string
	rows   [][]string
}

func parseTable(t *testing.T, out string) kubectlTable {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) == "" {
		t.Fatalf("no table in output %q", out)
	}
	head := lines[0]
	var starts []int
	for i := 0; i < len(head); i++ {
		if head[i] != ' ' && (i == 0 || head[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	var tb kubectlTable
	split := func(line string) []string {
		cells := make([]string, len(starts))
		for i, from := range starts {
			to := len(line)
			if i+1 < len(starts) {
				to = min(starts[i+1], len(line))
			}
			if from < to {
				cells[i] = strings.TrimSpace(line[from:to])
			}
		}
		return cells
	}
	tb.header = split(head)
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) != "" {
			tb.rows = append(tb.rows, split(line))
		}
	}
	return tb
}

// row returns the row whose first cell is name, or nil.
func (tb kubectlTable) row(name string) map[string]string {
	for _, r := range tb.rows {
		if r[0] == name {
			m := map[string]string{}
			for i, h := range tb.header {
				m[h] = r[i]
			}
			return m
		}
	}
	return nil
}

func (tb kubectlTable) names() []string {
	var names []string
	for _, r := range tb.rows {
		names = append(names, r[0])
	}
	return names
}
