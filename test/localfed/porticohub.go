package localfed

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Portico's aggregated API as the hub cluster sees it.
const (
	PorticoNamespace      = "portico-system"
	PorticoServiceName    = "portico-hub"
	PorticoServiceAccount = "portico-hub"
)

// PorticoGroupVersions are the API groups portico-hub serves.
var PorticoGroupVersions = []schema.GroupVersion{
	{Group: "cluster.portico.dev", Version: "v1alpha1"},
	{Group: "traffic.portico.dev", Version: "v1alpha1"},
}

// hubManifests are the files of manifests/hub that a local hub applies: everything
// but the Deployment, its volume, Service and APIServices, which a local process
// replaces.
var hubManifests = []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml", "admission-policy.yaml", "aggregated-roles.yaml"}

// PorticoHubOptions configure a portico-hub process.
type PorticoHubOptions struct {
	// Dir holds its certificates, kubeconfig, log and (embedded etcd) data.
	Dir string
	// EtcdServers, when set, selects an external etcd instead of the embedded one.
	EtcdServers []string
	// Detach lets the process outlive the caller (make up).
	Detach bool
	// Port to serve on; 0 picks a free one.
	Port int
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// Env is added to its environment (GOMEMLIMIT, for one).
	Env []string
	// HostGrants is --host-grants. Empty means off: most tests are about
	// something else and claim hosts freely; make up and the tests of host
	// grants run with enforce.
	HostGrants string
	// EncryptionConfig is the EncryptionConfiguration file (created when
	// missing); default Dir/encryption.yaml. Replicas sharing an etcd must
	// share it.
	EncryptionConfig string
	// CADir holds the CA (ca.crt, ca.key) that signs the serving certificate
	// (default Dir). Replicas behind one Front share it: the APIServices
	// trust one CA.
	CADir string
	// Front, when set, receives this replica as a backend, and the
	// APIServices point at the Front instead of at this replica alone.
	Front *Front
}

// PorticoHub is a running portico-hub registered with a hub cluster.
type PorticoHub struct {
	Options PorticoHubOptions
	Port    int
	Process *Process
	// CA signed its serving certificate; the APIServices trust it.
	CA  *CA
	hub *HubCluster
}

var buildOnce sync.Map // binary name -> *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// BuildBinary builds ./cmd/<name> into _output/bin once per process (go build is
// incremental) and returns its path.
func BuildBinary(name string) (string, error) {
	v, _ := buildOnce.LoadOrStore(name, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			r.err = err
			return
		}
		r.path = filepath.Join(root, "_output", "bin", name)
		cmd := exec.Command("go", "build", "-o", r.path, "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	})
	return r.path, r.err
}

// StartPorticoHub installs portico-hub's RBAC from manifests/hub into the hub
// cluster, starts portico-hub as the portico-system/portico-hub ServiceAccount
// (delegated authentication and authorization), with ClusterAccessPoints
// encrypted at rest (Dir/encryption.yaml), registers both APIServices and
// waits until the hub cluster reports them Available.
func StartPorticoHub(ctx context.Context, hub *HubCluster, opts PorticoHubOptions) (*PorticoHub, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	bin, err := BuildBinary("portico-hub")
	if err != nil {
		return nil, err
	}
	if err := installHubRBAC(ctx, hub); err != nil {
		return nil, err
	}
	kubeconfig, err := serviceAccountKubeconfig(ctx, hub, filepath.Join(opts.Dir, "kubeconfig"))
	if err != nil {
		return nil, err
	}
	caDir := opts.CADir
	if caDir == "" {
		caDir = opts.Dir
	}
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return nil, err
	}
	ca, err := LoadOrCreateCA("portico-hub-ca", filepath.Join(caDir, "ca.crt"), filepath.Join(caDir, "ca.key"))
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueServing(PorticoServiceName,
		[]string{AggregatedServerName(PorticoServiceName, PorticoNamespace), "localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(opts.Dir, "serving.crt"), filepath.Join(opts.Dir, "serving.key")
	if err := WritePEMFiles(certFile, certPEM, keyFile, keyPEM); err != nil {
		return nil, err
	}
	p := &PorticoHub{Options: opts, CA: ca, hub: hub, Port: opts.Port}
	if p.Port == 0 {
		if p.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	encryption := opts.EncryptionConfig
	if encryption == "" {
		encryption = filepath.Join(opts.Dir, "encryption.yaml")
	}
	if err := EnsureEncryptionConfig(encryption, PorticoEncryptedResources...); err != nil {
		return nil, err
	}
	args := []string{
		"--encryption-provider-config=" + encryption,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.Port),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--data-dir=" + filepath.Join(opts.Dir, "data"),
	}
	for _, s := range opts.EtcdServers {
		args = append(args, "--etcd-servers="+s)
	}
	hostGrants := opts.HostGrants
	if hostGrants == "" {
		hostGrants = "off"
	}
	args = append(args, "--host-grants="+hostGrants)
	args = append(args, opts.ExtraArgs...)
	if p.Process, err = StartProcess(ProcessOptions{
		Name: "portico-hub", Path: bin, Args: args, Env: opts.Env, Detach: opts.Detach,
		LogPath: filepath.Join(opts.Dir, "portico-hub.log"),
	}); err != nil {
		return nil, err
	}
	if err := p.register(ctx); err != nil {
		_ = p.Process.Stop()
		return nil, fmt.Errorf("%w\n--- portico-hub log ---\n%s", err, p.Process.LogTail(40))
	}
	return p, nil
}

func (p *PorticoHub) register(ctx context.Context) error {
	if err := p.waitReady(ctx, 2*time.Minute); err != nil {
		return err
	}
	api := AggregatedAPI{
		Namespace: PorticoNamespace, ServiceName: PorticoServiceName, Port: p.Port,
		CABundle: p.CA.CertPEM, GroupVersions: PorticoGroupVersions,
	}
	if f := p.Options.Front; f != nil {
		f.Add(p.Port)
		api.Port = f.Port
	}
	if err := p.hub.RegisterAggregatedAPI(ctx, api); err != nil {
		return err
	}
	if err := p.hub.WaitForAPIServicesAvailable(ctx, api.APIServiceNames()...); err != nil {
		return err
	}
	return p.waitServedThroughHub(ctx, time.Minute)
}

// waitServedThroughHub waits until the hub cluster proxies discovery of every
// group to portico-hub: an APIService can be Available a moment before the
// aggregator's handler for it is in place.
func (p *PorticoHub) waitServedThroughHub(ctx context.Context, timeout time.Duration) error {
	kc, err := kubernetes.NewForConfig(p.hub.RestConfig)
	if err != nil {
		return err
	}
	served := func(context.Context) error {
		for _, gv := range PorticoGroupVersions {
			if _, err := kc.Discovery().ServerResourcesForGroupVersion(gv.String()); err != nil {
				return fmt.Errorf("%s not served through the hub cluster: %w", gv, err)
			}
		}
		return nil
	}
	return WaitUntil(ctx, timeout, served, p.Process)
}

// waitReady polls portico-hub's /readyz.
func (p *PorticoHub) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.CA.CertPool(), ServerName: "localhost"},
	}}
	defer client.CloseIdleConnections()
	ready := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}
	if err := WaitUntil(ctx, timeout, ready, p.Process); err != nil {
		return fmt.Errorf("portico-hub not ready: %w", err)
	}
	return nil
}

// URL is portico-hub's own address (the hub cluster proxies to it).
func (p *PorticoHub) URL() string { return "https://127.0.0.1:" + strconv.Itoa(p.Port) }

// Stop stops the process (SIGTERM, then SIGKILL after the grace period).
func (p *PorticoHub) Stop() error { return p.Process.Stop() }

// Restart stops portico-hub and starts it again with the same options and data.
func (p *PorticoHub) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return err
	}
	opts := p.Options
	opts.Port = p.Port
	np, err := StartPorticoHub(ctx, p.hub, opts)
	if err != nil {
		return err
	}
	*p = *np
	return nil
}

func installHubRBAC(ctx context.Context, hub *HubCluster) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	args := []string{"--kubeconfig", hub.KubeconfigPath, "apply", "--server-side", "--field-manager=portico-local"}
	for _, f := range hubManifests {
		args = append(args, "-f", filepath.Join(root, "manifests", "hub", f))
	}
	// What the edge nodes share (namespace portico-edge, the lb-agents' read
	// role); kubectl portico join-edge adds each node's own identity.
	for _, f := range []string{"namespace.yaml", "rbac.yaml"} {
		args = append(args, "-f", filepath.Join(root, "manifests", "lb-agent", "hub", f))
	}
	cmd := exec.CommandContext(ctx, hub.KubectlPath(), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("applying manifests/hub RBAC: %v\n%s", err, out)
	}
	return nil
}

// serviceAccountKubeconfig writes a kubeconfig with a token of portico-hub's
// ServiceAccount, so the local process has exactly the rights manifests/hub grants.
func serviceAccountKubeconfig(ctx context.Context, hub *HubCluster, path string) (string, error) {
	kc, err := kubernetes.NewForConfig(hub.RestConfig)
	if err != nil {
		return "", err
	}
	tr, err := kc.CoreV1().ServiceAccounts(PorticoNamespace).CreateToken(ctx, PorticoServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(365 * 24 * 3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", PorticoNamespace, PorticoServiceAccount, err)
	}
	return path, writeTokenKubeconfig(path, hub.URL, hub.RestConfig.CAData, "portico-hub", tr.Status.Token)
}
