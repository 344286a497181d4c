package localfed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

const (
	// ModulePath is the Go module whose root RepoRoot looks for.
	ModulePath = "github.com/portico-dev/portico"
	// KubeVersion is the Kubernetes version hack/build-kube.sh builds.
	KubeVersion = "v1.37.1"
	// KubeBinDirEnv overrides the directory KubeBinDir returns.
	KubeBinDirEnv = "PORTICO_KUBE_BIN_DIR"
)

// Names of the binaries expected in KubeBinDir.
const (
	EtcdBinary                  = "etcd"
	KubeAPIServerBinary         = "kube-apiserver"
	KubeControllerManagerBinary = "kube-controller-manager"
	KubectlBinary               = "kubectl"
)

// RepoRoot returns the root of the Portico repository: the first directory,
// walking up from the working directory (then from the executable, then from
// this source file), that holds a go.mod declaring ModulePath.
func RepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			if isModuleRoot(dir) {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("repository root not found: no go.mod declaring module %s above %v", ModulePath, starts)
}

func isModuleRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// ErrKubeBinariesMissing is wrapped by the error KubeBinDir returns when a
// binary is missing.
var ErrKubeBinariesMissing = errors.New("kube binaries missing")

// KubeBinDir returns <repo root>/_output/kube/<KubeVersion>/bin (or the
// directory named by $PORTICO_KUBE_BIN_DIR) after checking that etcd,
// kube-apiserver, kube-controller-manager and kubectl are there and executable.
func KubeBinDir() (string, error) {
	dir := os.Getenv(KubeBinDirEnv)
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "_output", "kube", KubeVersion, "bin")
	}
	var missing []string
	for _, name := range []string{EtcdBinary, KubeAPIServerBinary, KubeControllerManagerBinary, KubectlBinary} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: %s not found in %s; build them with hack/build-kube.sh (make tools)",
			ErrKubeBinariesMissing, strings.Join(missing, ", "), dir)
	}
	return dir, nil
}
