package localfed

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// RunKubectl runs binDir/kubectl with --kubeconfig=kubeconfig, stdin (may be
// nil) and args, and returns its stdout, stderr and error (an *exec.ExitError
// when it exits non-zero). Each kubeconfig's directory gets its own discovery
// cache, never shared between clusters that happen to reuse a port; $KUBECONFIG
// is ignored.
func RunKubectl(ctx context.Context, binDir, kubeconfig string, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(filepath.Dir(kubeconfig), ".kube-cache")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, KubectlBinary), full...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
