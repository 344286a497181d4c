package localfed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Defaults of HubClusterOptions.
const (
	DefaultServiceClusterIPRange = "10.96.0.0/16"
	DefaultServiceAccountIssuer  = "https://kubernetes.default.svc.cluster.local"
	// FrontProxyClientName is the CN of the aggregator's client certificate
	// and the only name --requestheader-allowed-names accepts.
	FrontProxyClientName = "front-proxy-client"
	// AdminUser is the user of the admin kubeconfig (group system:masters).
	AdminUser = "admin"
)

// StaticToken is one line of the kube-apiserver's --token-auth-file.
type StaticToken struct {
	Token  string
	User   string
	UID    string // default: User
	Groups []string
}

// HubClusterOptions configures StartHubCluster.
type HubClusterOptions struct {
	// Dir holds everything: pki/, etcd/, tokens.csv, kubeconfig, users/ and
	// the logs. Required. Key material already in Dir/pki is reused, so a
	// long-lived cluster can be restarted on the same Dir.
	Dir string
	// Detach runs etcd, kube-apiserver and kube-controller-manager in their
	// own sessions so they outlive the caller (`make up`).
	Detach bool
	// BinDir holds etcd, kube-apiserver and kube-controller-manager (default:
	// KubeBinDir()).
	BinDir string
	// SecurePort of the kube-apiserver on 127.0.0.1 (0: a free port);
	// EtcdClientPort and EtcdPeerPort likewise for etcd.
	SecurePort                   int
	EtcdClientPort, EtcdPeerPort int
	// StaticTokens are added to the token auth file (besides AdminToken).
	StaticTokens []StaticToken
	// AuthorizationModes default to ["Node", "RBAC"].
	AuthorizationModes []string
	// ServiceClusterIPRange defaults to DefaultServiceClusterIPRange.
	ServiceClusterIPRange string
	// UnsafeEtcdNoFsync runs etcd with --unsafe-no-fsync (tests only).
	UnsafeEtcdNoFsync bool
	// ExtraAPIServerArgs are appended to kube-apiserver's arguments (a
	// later flag wins over an earlier one).
	ExtraAPIServerArgs []string
	// StartTimeout bounds the wait for the kube-apiserver's /readyz, and then
	// for kube-controller-manager's /healthz (default 90s each).
	StartTimeout time.Duration
}

// HubCluster is a running etcd + kube-apiserver with the aggregation layer
// configured, and kube-controller-manager beside them.
type HubCluster struct {
	Dir  string
	URL  string // https://127.0.0.1:<Port>
	Port int
	// KubeconfigPath is <Dir>/kubeconfig: user "admin" in system:masters
	// with a client certificate.
	KubeconfigPath string
	RestConfig     *rest.Config
	// ClientCA signs the apiserver's serving cert and every client cert it
	// accepts (--client-ca-file).
	ClientCA *CA
	// FrontProxyCA signs the aggregator's client cert
	// (--requestheader-client-ca-file). An aggregated server gets this CA
	// from the configmap kube-system/extension-apiserver-authentication.
	FrontProxyCA *CA
	// AdminToken is a bearer token for user "admin" in system:masters.
	AdminToken   string
	StaticTokens []StaticToken
	BinDir       string

	Etcd         *Etcd
	APIServer    *Process
	EtcdPID      int
	APIServerPID int
	// ControllerManager is kube-controller-manager (ControllerManagerControllers
	// only) on 127.0.0.1:ControllerManagerPort; ControllerManagerStartup is how
	// long it took to report healthy after the kube-apiserver was ready.
	ControllerManager        *Process
	ControllerManagerPID     int
	ControllerManagerPort    int
	ControllerManagerStartup time.Duration
}

// StartHubCluster starts etcd, kube-apiserver and kube-controller-manager and
// waits until the apiserver is ready, the namespace "default" exists and the
// controller manager is healthy. ctx bounds the start-up only; the processes
// run until Stop (or, detached, StopPID).
func StartHubCluster(ctx context.Context, opts HubClusterOptions) (_ *HubCluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("StartHubCluster: Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = KubeBinDir(); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	h := &HubCluster{Dir: dir, BinDir: binDir, KubeconfigPath: filepath.Join(dir, "kubeconfig")}
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return nil, err
	}

	// PKI: a cluster CA for serving and client certs, a separate front-proxy
	// CA for the aggregator, a service-account signing key.
	if h.ClientCA, err = LoadOrCreateCA("portico-hub-cluster-ca", filepath.Join(pki, "ca.crt"), filepath.Join(pki, "ca.key")); err != nil {
		return nil, err
	}
	if h.FrontProxyCA, err = LoadOrCreateCA("portico-hub-front-proxy-ca", filepath.Join(pki, "front-proxy-ca.crt"), filepath.Join(pki, "front-proxy-ca.key")); err != nil {
		return nil, err
	}
	serviceRange := opts.ServiceClusterIPRange
	if serviceRange == "" {
		serviceRange = DefaultServiceClusterIPRange
	}
	sans := []net.IP{net.IPv4(127, 0, 0, 1)}
	if ip := firstServiceIP(serviceRange); ip != nil {
		sans = append(sans, ip)
	}
	certPEM, keyPEM, err := h.ClientCA.IssueServing("kube-apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, sans)
	if err != nil {
		return nil, err
	}
	if err := WritePEMFiles(filepath.Join(pki, "apiserver.crt"), certPEM, filepath.Join(pki, "apiserver.key"), keyPEM); err != nil {
		return nil, err
	}
	if certPEM, keyPEM, err = h.FrontProxyCA.IssueClient(FrontProxyClientName, nil); err != nil {
		return nil, err
	}
	if err := WritePEMFiles(filepath.Join(pki, "front-proxy-client.crt"), certPEM, filepath.Join(pki, "front-proxy-client.key"), keyPEM); err != nil {
		return nil, err
	}
	saKey, saPub := filepath.Join(pki, "sa.key"), filepath.Join(pki, "sa.pub")
	if !fileExists(saKey) || !fileExists(saPub) {
		keyPEM, pubPEM, err := NewPrivateKeyPEM()
		if err != nil {
			return nil, err
		}
		if err := WritePEMFiles(saPub, pubPEM, saKey, keyPEM); err != nil {
			return nil, err
		}
	}
	adminCert, adminKey, err := h.ClientCA.IssueClient(AdminUser, []string{"system:masters"})
	if err != nil {
		return nil, err
	}

	// Static tokens.
	if h.AdminToken, err = randomToken(); err != nil {
		return nil, err
	}
	h.StaticTokens = append([]StaticToken{{Token: h.AdminToken, User: AdminUser, Groups: []string{"system:masters"}}}, opts.StaticTokens...)
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := writeTokenFile(tokenFile, h.StaticTokens); err != nil {
		return nil, err
	}

	encryption := filepath.Join(dir, "encryption.yaml")
	if err := EnsureEncryptionConfig(encryption, "secrets"); err != nil {
		return nil, err
	}
	etcd, err := StartEtcd(ctx, EtcdOptions{
		Dir:           filepath.Join(dir, "etcd"),
		BinDir:        binDir,
		ClientPort:    opts.EtcdClientPort,
		PeerPort:      opts.EtcdPeerPort,
		Detach:        opts.Detach,
		UnsafeNoFsync: opts.UnsafeEtcdNoFsync,
	})
	if err != nil {
		return nil, err
	}
	h.Etcd, h.EtcdPID = etcd, etcd.PID
	defer func() {
		if err != nil {
			_ = h.Stop()
		}
	}()

	authz := opts.AuthorizationModes
	if len(authz) == 0 {
		authz = []string{"Node", "RBAC"}
	}
	logPath := filepath.Join(dir, "kube-apiserver.log")
	for attempt := 0; ; attempt++ {
		port := opts.SecurePort
		if port == 0 {
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		h.Port = port
		h.URL = "https://127.0.0.1:" + strconv.Itoa(port)
		args := []string{
			"--etcd-servers=" + etcd.ClientURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// kube-apiserver 1.37 refuses a loopback advertise address with an
			// endpoint reconciler (it would write it into the Endpoints of the
			// "kubernetes" Service); nothing here needs those Endpoints.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
			"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
			"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
			"--token-auth-file=" + tokenFile,
			"--authorization-mode=" + strings.Join(authz, ","),
			"--service-account-issuer=" + DefaultServiceAccountIssuer,
			"--service-account-key-file=" + saPub,
			"--service-account-signing-key-file=" + saKey,
			"--service-cluster-ip-range=" + serviceRange,
			// Aggregation layer.
			"--requestheader-client-ca-file=" + filepath.Join(pki, "front-proxy-ca.crt"),
			"--requestheader-allowed-names=" + FrontProxyClientName,
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file=" + filepath.Join(pki, "front-proxy-client.crt"),
			"--proxy-client-key-file=" + filepath.Join(pki, "front-proxy-client.key"),
			"--cert-dir=" + filepath.Join(pki, "generated"),
			// Secrets (CA and certificate keys) are encrypted in etcd.
			"--encryption-provider-config=" + encryption,
		}
		args = append(args, opts.ExtraAPIServerArgs...)
		logOffset := fileSize(logPath)
		p, err := StartProcess(ProcessOptions{
			Name:    "kube-apiserver",
			Path:    filepath.Join(binDir, KubeAPIServerBinary),
			Args:    args,
			LogPath: logPath,
			Detach:  opts.Detach,
		})
		if err != nil {
			return nil, err
		}
		h.APIServer, h.APIServerPID = p, p.PID
		h.RestConfig = &rest.Config{
			Host: h.URL,
			TLSClientConfig: rest.TLSClientConfig{
				CAData:   h.ClientCA.CertPEM,
				CertData: adminCert,
				KeyData:  adminKey,
			},
			QPS:   50,
			Burst: 100,
		}
		waitErr := h.waitReady(ctx, timeout)
		if waitErr == nil {
			break
		}
		_ = p.Stop()
		err = fmt.Errorf("kube-apiserver did not become ready: %w\n--- %s (tail) ---\n%s", waitErr, logPath, p.LogTail(40))
		if attempt >= 2 || opts.SecurePort != 0 || !logSinceContains(logPath, logOffset, "address already in use") {
			return nil, err
		}
	}
	if err = writeKubeconfig(h.KubeconfigPath, h.URL, h.ClientCA.CertPEM, AdminUser, adminCert, adminKey); err != nil {
		return nil, err
	}
	kcmStart := time.Now()
	if err = h.startControllerManager(ctx, timeout, opts.Detach); err != nil {
		return nil, err
	}
	h.ControllerManagerStartup = time.Since(kcmStart)
	return h, nil
}

// waitReady waits for /readyz and then for the namespace "default", which
// the apiserver creates shortly after it is ready.
func (h *HubCluster) waitReady(ctx context.Context, timeout time.Duration) error {
	client, err := rest.HTTPClientFor(h.RestConfig)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	get := func(path string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+path, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s: %s", path, resp.Status, lastLines(string(body), 8))
			}
			return nil
		}
	}
	start := time.Now()
	if err := WaitUntil(ctx, timeout, get("/readyz"), h.APIServer); err != nil {
		return err
	}
	return WaitUntil(ctx, timeout-time.Since(start), get("/api/v1/namespaces/default"), h.APIServer)
}

// RestartAPIServer starts kube-apiserver again, as it was started, once it has
// exited (after a Kill or Stop), and waits until it is ready.
func (h *HubCluster) RestartAPIServer(ctx context.Context, timeout time.Duration) error {
	p, err := h.APIServer.Respawn()
	if err != nil {
		return err
	}
	h.APIServer, h.APIServerPID = p, p.PID
	return h.waitReady(ctx, timeout)
}

// PIDs returns the PIDs of the processes (kube-controller-manager,
// kube-apiserver, etcd).
func (h *HubCluster) PIDs() []int {
	var pids []int
	if h.ControllerManagerPID != 0 {
		pids = append(pids, h.ControllerManagerPID)
	}
	if h.APIServerPID != 0 {
		pids = append(pids, h.APIServerPID)
	}
	if h.EtcdPID != 0 {
		pids = append(pids, h.EtcdPID)
	}
	return pids
}

// Stop stops kube-controller-manager, kube-apiserver, then etcd. Safe to call
// more than once.
func (h *HubCluster) Stop() error {
	if h == nil {
		return nil
	}
	var errs []error
	if h.ControllerManager != nil {
		errs = append(errs, h.ControllerManager.Stop())
	}
	if h.APIServer != nil {
		errs = append(errs, h.APIServer.Stop())
	}
	if h.Etcd != nil {
		errs = append(errs, h.Etcd.Stop())
	}
	return errors.Join(errs...)
}

// KubectlPath is the kubectl built alongside the kube-apiserver.
func (h *HubCluster) KubectlPath() string { return filepath.Join(h.BinDir, KubectlBinary) }

// UserRestConfig returns a rest.Config authenticating as user in groups
// with a client certificate from ClientCA.
func (h *HubCluster) UserRestConfig(user string, groups []string) (*rest.Config, error) {
	certPEM, keyPEM, err := h.ClientCA.IssueClient(user, groups)
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(h.RestConfig)
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cfg, nil
}

// UserKubeconfig writes <Dir>/users/<user>.kubeconfig authenticating as user
// in groups with a client certificate from ClientCA, and returns its path.
func (h *HubCluster) UserKubeconfig(user string, groups []string) (string, error) {
	certPEM, keyPEM, err := h.ClientCA.IssueClient(user, groups)
	if err != nil {
		return "", err
	}
	path := filepath.Join(h.Dir, "users", unsafeFileChars.ReplaceAllString(user, "_")+".kubeconfig")
	if err := writeKubeconfig(path, h.URL, h.ClientCA.CertPEM, user, certPEM, keyPEM); err != nil {
		return "", err
	}
	return path, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func writeKubeconfig(path, server string, caPEM []byte, user string, certPEM, keyPEM []byte) error {
	return writeKubeconfigFor(path, server, caPEM, user, &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM})
}

// writeTokenKubeconfig writes a kubeconfig that authenticates with a bearer token.
func writeTokenKubeconfig(path, server string, caPEM []byte, user, token string) error {
	return writeKubeconfigFor(path, server, caPEM, user, &clientcmdapi.AuthInfo{Token: token})
}

func writeKubeconfigFor(path, server string, caPEM []byte, user string, auth *clientcmdapi.AuthInfo) error {
	const name = "portico-hub"
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			name: {Server: server, CertificateAuthorityData: caPEM},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			user: auth,
		},
		Contexts: map[string]*clientcmdapi.Context{
			name: {Cluster: name, AuthInfo: user, Namespace: "default"},
		},
		CurrentContext: name,
	}
	data, err := clientcmd.Write(cfg)
	if err != nil {
		return err
	}
	return WriteFile(path, data, 0o600)
}

func writeTokenFile(path string, tokens []StaticToken) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, t := range tokens {
		if t.Token == "" || t.User == "" {
			return fmt.Errorf("static token for %q: Token and User are required", t.User)
		}
		uid := t.UID
		if uid == "" {
			uid = t.User
		}
		rec := []string{t.Token, t.User, uid}
		if len(t.Groups) > 0 {
			rec = append(rec, strings.Join(t.Groups, ","))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return WriteFile(path, buf.Bytes(), 0o600)
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// firstServiceIP returns the first usable address of the service range (the
// "kubernetes" Service's ClusterIP), or nil.
func firstServiceIP(cidr string) net.IP {
	_, n, err := net.ParseCIDR(strings.Split(cidr, ",")[0])
	if err != nil {
		return nil
	}
	ip := append(net.IP(nil), n.IP...)
	ip[len(ip)-1]++
	return ip
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
