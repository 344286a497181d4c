package localfed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	discoveryv1ac "k8s.io/client-go/applyconfigurations/discovery/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// What a member cluster holds besides the Istio CRDs: the stand-ins of an Istio
// installation whose pods do not run (no kubelet, no workload controllers).
const (
	IstioNamespace = "istio-system"
	// IngressGatewayService is the Service istio-system/istio-ingressgateway,
	// selecting IngressGatewayLabels, ports 80 and 443.
	IngressGatewayService = "istio-ingressgateway"
	// IngressGatewayEndpointSlice is its EndpointSlice, listing the gateway
	// "pods" addresses (MemberClusterOptions.GatewayAddresses).
	IngressGatewayEndpointSlice = "istio-ingressgateway-stand-in"
	// IstiodDeployment is istio-system/istiod (0 replicas); its image tag is
	// the Istio version the member-agent reports.
	IstiodDeployment = "istiod"
	// StandInAnnotation explains, on the objects that stand in for pods, that
	// nothing runs behind them.
	StandInAnnotation = "portico.dev/stand-in"
	// memberFieldManager owns what StartMemberCluster writes.
	memberFieldManager = "portico-test-framework"
)

// IngressGatewayLabels select the ingress gateway pods, as in Istio's default
// installation (what a Gateway's selector `istio: ingressgateway` matches).
var IngressGatewayLabels = map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}

// MemberClusterOptions configure StartMemberCluster.
type MemberClusterOptions struct {
	// Dir holds the cluster's files (as HubClusterOptions.Dir). Required.
	Dir string
	// Name of the cluster (a DNS label, e.g. zone-a-1). Required. It names the
	// kubeconfig's context, cluster and user.
	Name string
	// Detach lets the cluster's processes outlive the caller (`make up`).
	Detach bool
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and kubectl
	// (default: KubeBinDir()).
	BinDir string
	// SecurePort, EtcdClientPort, EtcdPeerPort: as in HubClusterOptions (0: free ports).
	SecurePort                   int
	EtcdClientPort, EtcdPeerPort int
	// GatewayAddresses are the ingress gateway "pod" addresses the EndpointSlice
	// lists, all ready. Default: 10.<n>.0.10 and 10.<n>.0.11, n in 100..199 derived
	// from Name (pass them explicitly when two clusters must differ). Loopback
	// addresses are refused by the API server.
	GatewayAddresses []string
	// IstioCRDsFile is the CRD bundle to install (default: the istio.io/api
	// module's kubernetes/customresourcedefinitions.gen.yaml, see IstioCRDs).
	IstioCRDsFile string
	// IstioVersion is istiod's image tag (default: the istio.io/api module's
	// version without "v", e.g. 1.31.1).
	IstioVersion string
	// NoIstiod skips the istio-system/istiod Deployment.
	NoIstiod bool
	// GatewayAPICRDs also installs the Gateway API's standard-channel CRDs
	// (GatewayAPICRDs). With them the CRD install takes about twice as long
	// (their CEL rules are many), so only what uses the Gateway API asks.
	GatewayAPICRDs bool
	// UnsafeEtcdNoFsync runs etcd with --unsafe-no-fsync (tests only).
	UnsafeEtcdNoFsync bool
	// StartTimeout bounds the wait for the kube-apiserver (default 90s).
	StartTimeout time.Duration
}

// MemberClusterTimings are the durations of StartMemberCluster's phases.
type MemberClusterTimings struct {
	APIServer time.Duration // etcd, kube-apiserver and kube-controller-manager until ready
	IstioCRDs time.Duration // kubectl apply --server-side of the Istio (and Gateway API) CRDs + Established
	Objects   time.Duration // istio-system, the gateway Service and EndpointSlice, istiod
	Total     time.Duration
}

// MemberCluster is a running member cluster: a real etcd, kube-apiserver and
// kube-controller-manager (the same machinery as the hub cluster; its
// aggregation flags are unused) with Istio's CRDs (and, when asked, the
// Gateway API's) and the stand-ins of an Istio installation.
type MemberCluster struct {
	// HubCluster holds the processes, URL, KubeconfigPath and RestConfig
	// (admin, system:masters). Its kubeconfig's context is named Name.
	*HubCluster
	Name             string
	GatewayAddresses []string
	// IstioVersion is the tag of istiod's image ("" with NoIstiod).
	IstioVersion string
	Timings      MemberClusterTimings
}

// GatewayEndpoint is one address of the ingress gateway's EndpointSlice.
type GatewayEndpoint struct {
	Address string
	Ready   bool
}

// StartMemberCluster starts a member cluster and installs, in this order, the
// Istio CRDs, with GatewayAPICRDs the Gateway API's standard-channel CRDs
// (kubectl apply --server-side), the namespace istio-system, the
// Service istio-ingressgateway with an EndpointSlice listing GatewayAddresses
// (standing in for gateway pods, which do not run here) and, unless NoIstiod,
// a Deployment istiod with 0 replicas whose image tag is the Istio version. All
// of it is applied server-side, so restarting on the same Dir is fine.
func StartMemberCluster(ctx context.Context, opts MemberClusterOptions) (_ *MemberCluster, err error) {
	start := time.Now()
	if opts.Dir == "" || opts.Name == "" {
		return nil, errors.New("StartMemberCluster: Dir and Name are required")
	}
	if errs := validation.IsDNS1123Label(opts.Name); len(errs) > 0 {
		return nil, fmt.Errorf("StartMemberCluster: invalid name %q: %s", opts.Name, strings.Join(errs, "; "))
	}
	addrs := opts.GatewayAddresses
	if len(addrs) == 0 {
		addrs = DefaultGatewayAddresses(opts.Name)
	}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() || ip.IsLoopback() {
			return nil, fmt.Errorf("StartMemberCluster: gateway address %q: need an IPv4 address outside 127.0.0.0/8", a)
		}
	}
	crds, istioVersion := opts.IstioCRDsFile, opts.IstioVersion
	if crds == "" || istioVersion == "" {
		file, modVersion, err := IstioCRDs()
		if err != nil {
			return nil, err
		}
		if crds == "" {
			crds = file
		}
		if istioVersion == "" {
			istioVersion = strings.TrimPrefix(modVersion, "v")
		}
	}
	if opts.NoIstiod {
		istioVersion = ""
	}

	h, err := StartHubCluster(ctx, HubClusterOptions{
		Dir: opts.Dir, Detach: opts.Detach, BinDir: opts.BinDir,
		SecurePort: opts.SecurePort, EtcdClientPort: opts.EtcdClientPort, EtcdPeerPort: opts.EtcdPeerPort,
		UnsafeEtcdNoFsync: opts.UnsafeEtcdNoFsync, StartTimeout: opts.StartTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("member cluster %s: %w", opts.Name, err)
	}
	m := &MemberCluster{HubCluster: h, Name: opts.Name, GatewayAddresses: addrs, IstioVersion: istioVersion}
	m.Timings.APIServer = time.Since(start)
	defer func() {
		if err != nil {
			_ = m.Stop()
		}
	}()
	if err := writeNamedKubeconfig(h.KubeconfigPath, opts.Name, h.URL, h.RestConfig.CAData, h.RestConfig.CertData, h.RestConfig.KeyData); err != nil {
		return nil, err
	}

	files, what := []string{crds}, "Istio"
	if opts.GatewayAPICRDs {
		gatewayCRDs, _, err := GatewayAPICRDs()
		if err != nil {
			return nil, err
		}
		files, what = append(files, gatewayCRDs...), "Istio and Gateway API"
	}
	phase := time.Now()
	if err := installCRDs(ctx, h.KubectlPath(), h.KubeconfigPath, what, files...); err != nil {
		return nil, fmt.Errorf("member cluster %s: %w", opts.Name, err)
	}
	m.Timings.IstioCRDs = time.Since(phase)

	phase = time.Now()
	if err := m.installIstioStandIns(ctx); err != nil {
		return nil, fmt.Errorf("member cluster %s: %w", opts.Name, err)
	}
	m.Timings.Objects = time.Since(phase)
	m.Timings.Total = time.Since(start)
	return m, nil
}

// Stop stops the cluster's processes. Safe to call more than once, and on nil.
func (m *MemberCluster) Stop() error {
	if m == nil {
		return nil
	}
	return m.HubCluster.Stop()
}

// Kubernetes returns a clientset for the cluster (admin).
func (m *MemberCluster) Kubernetes() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(m.RestConfig)
}

// DefaultGatewayAddresses are the gateway addresses of a cluster named name
// when none are given: 10.<n>.0.10 and 10.<n>.0.11 with n in 100..199.
func DefaultGatewayAddresses(name string) []string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	n := 100 + h.Sum32()%100
	return []string{fmt.Sprintf("10.%d.0.10", n), fmt.Sprintf("10.%d.0.11", n)}
}

var istioCRDs struct {
	once          sync.Once
	file, version string
	err           error
}

// IstioCRDs returns the path of the Istio CRD bundle shipped in the istio.io/api
// module this repository requires (kubernetes/customresourcedefinitions.gen.yaml,
// found with `go list -m -json istio.io/api`) and that module's version.
func IstioCRDs() (file, version string, err error) {
	istioCRDs.once.Do(func() {
		istioCRDs.file, istioCRDs.version, istioCRDs.err = findIstioCRDs()
	})
	return istioCRDs.file, istioCRDs.version, istioCRDs.err
}

func findIstioCRDs() (string, string, error) {
	dir, version, err := moduleDir("istio.io/api")
	if err != nil {
		return "", "", err
	}
	file := filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(file); err != nil {
		return "", "", fmt.Errorf("Istio CRDs of istio.io/api %s: %w", version, err)
	}
	return file, version, nil
}

var gatewayAPICRDs struct {
	once    sync.Once
	files   []string
	version string
	err     error
}

// GatewayAPIKinds are the resources whose CRDs GatewayAPICRDs returns.
var GatewayAPIKinds = []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "referencegrants"}

// GatewayAPICRDs returns the paths of the Gateway API CRDs (standard channel,
// config/crd/standard, of the kinds GatewayAPIKinds) shipped in the
// sigs.k8s.io/gateway-api module this repository requires, and that module's
// version. In the pinned version all of them, TLSRoute and TCPRoute
// included, are in the standard channel at v1.
func GatewayAPICRDs() (files []string, version string, err error) {
	gatewayAPICRDs.once.Do(func() {
		dir, version, err := moduleDir("sigs.k8s.io/gateway-api")
		gatewayAPICRDs.version, gatewayAPICRDs.err = version, err
		if err != nil {
			return
		}
		for _, k := range GatewayAPIKinds {
			f := filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_"+k+".yaml")
			if _, err := os.Stat(f); err != nil {
				gatewayAPICRDs.err = fmt.Errorf("Gateway API CRDs of sigs.k8s.io/gateway-api %s: %w", version, err)
				return
			}
			gatewayAPICRDs.files = append(gatewayAPICRDs.files, f)
		}
	})
	return gatewayAPICRDs.files, gatewayAPICRDs.version, gatewayAPICRDs.err
}

// moduleDir returns the module cache directory and the version of a module
// this repository requires (`go list -m -json`).
func moduleDir(module string) (dir, version string, err error) {
	root, err := RepoRoot()
	if err != nil {
		return "", "", err
	}
	cmd := exec.Command("go", "list", "-m", "-json", module)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m -json %s: %v: %s", module, err, stderr.String())
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", "", fmt.Errorf("go list -m -json %s: %w", module, err)
	}
	if mod.Dir == "" {
		return "", "", fmt.Errorf("%s %s is not in the module cache (run `go mod download %s`)", module, mod.Version, module)
	}
	return mod.Dir, mod.Version, nil
}

// InstallIstioCRDs applies the CRD bundle with kubectl (server-side: the bundle
// is too large for the last-applied annotation) and waits until every CRD is
// Established.
func InstallIstioCRDs(ctx context.Context, kubectl, kubeconfig, crdsFile string) error {
	return installCRDs(ctx, kubectl, kubeconfig, "Istio", crdsFile)
}

// installCRDs applies CRD bundles with kubectl and waits until every CRD is
// Established; what names them in errors.
func installCRDs(ctx context.Context, kubectl, kubeconfig, what string, crdsFiles ...string) error {
	args := []string{"--kubeconfig=" + kubeconfig, "apply", "--server-side", "--force-conflicts",
		"--field-manager=" + memberFieldManager, "-o", "name"}
	for _, f := range crdsFiles {
		args = append(args, "-f", f)
	}
	cmd := exec.CommandContext(ctx, kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("installing the %s CRDs: kubectl %s: %v\n%s", what, strings.Join(args[1:], " "), err, lastLines(stderr.String(), 20))
	}
	var names []string
	for _, line := range strings.Fields(string(out)) {
		if name, ok := strings.CutPrefix(line, "customresourcedefinition.apiextensions.k8s.io/"); ok {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("installing the %s CRDs: kubectl applied no CRD from %v", what, crdsFiles)
	}
	// Polling with a client is much faster than `kubectl wait -f` (which parses the
	// 1 MB bundle again).
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	pending := names
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var still []string
		for _, name := range pending {
			crd, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err != nil || !crdEstablished(crd) {
				still = append(still, name)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%s CRDs not Established: %v: %w", what, pending, err)
	}
	return nil
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func (m *MemberCluster) installIstioStandIns(ctx context.Context) error {
	kc, err := m.Kubernetes()
	if err != nil {
		return err
	}
	apply := metav1.ApplyOptions{FieldManager: memberFieldManager, Force: true}
	if _, err := kc.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(IstioNamespace), apply); err != nil {
		return fmt.Errorf("namespace %s: %w", IstioNamespace, err)
	}
	svc := corev1ac.Service(IngressGatewayService, IstioNamespace).
		WithLabels(IngressGatewayLabels).
		WithAnnotations(map[string]string{StandInAnnotation: "no gateway pods run in this cluster; the EndpointSlice " +
			IngressGatewayEndpointSlice + " lists stand-in addresses for them"}).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(IngressGatewayLabels).
			WithPorts(
				corev1ac.ServicePort().WithName("http2").WithProtocol(corev1.ProtocolTCP).WithPort(80).WithTargetPort(intstr.FromInt32(8080)),
				corev1ac.ServicePort().WithName("https").WithProtocol(corev1.ProtocolTCP).WithPort(443).WithTargetPort(intstr.FromInt32(8443)),
			))
	if _, err := kc.CoreV1().Services(IstioNamespace).Apply(ctx, svc, apply); err != nil {
		return fmt.Errorf("service %s/%s: %w", IstioNamespace, IngressGatewayService, err)
	}
	eps := make([]GatewayEndpoint, len(m.GatewayAddresses))
	for i, a := range m.GatewayAddresses {
		eps[i] = GatewayEndpoint{Address: a, Ready: true}
	}
	if err := m.SetGatewayEndpoints(ctx, eps); err != nil {
		return err
	}
	if m.IstioVersion == "" {
		return nil
	}
	labels := map[string]string{"app": "istiod", "istio": "pilot", "istio.io/rev": "default"}
	dep := appsv1ac.Deployment(IstiodDeployment, IstioNamespace).
		WithLabels(labels).
		WithAnnotations(map[string]string{StandInAnnotation: "no istiod runs in this cluster (0 replicas); the image tag gives the Istio version"}).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(0).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "istiod", "istio.io/rev": "default"})).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels).
				WithSpec(corev1ac.PodSpec().WithContainers(
					corev1ac.Container().WithName("discovery").WithImage("istio/pilot:" + m.IstioVersion),
				))))
	if _, err := kc.AppsV1().Deployments(IstioNamespace).Apply(ctx, dep, apply); err != nil {
		return fmt.Errorf("deployment %s/%s: %w", IstioNamespace, IstiodDeployment, err)
	}
	return nil
}

// SetGatewayEndpoints replaces the addresses of the ingress gateway's
// EndpointSlice (ports 8080 http2 and 8443 https, the Service's target ports).
func (m *MemberCluster) SetGatewayEndpoints(ctx context.Context, endpoints []GatewayEndpoint) error {
	kc, err := m.Kubernetes()
	if err != nil {
		return err
	}
	slice := discoveryv1ac.EndpointSlice(IngressGatewayEndpointSlice, IstioNamespace).
		WithLabels(map[string]string{
			discoveryv1.LabelServiceName: IngressGatewayService,
			discoveryv1.LabelManagedBy:   "portico.dev-test-framework",
		}).
		WithAnnotations(map[string]string{StandInAnnotation: "no gateway pods run in this cluster: this EndpointSlice " +
			"stands in for the istio-ingressgateway pods and lists the addresses they would have"}).
		WithAddressType(discoveryv1.AddressTypeIPv4).
		WithPorts(
			discoveryv1ac.EndpointPort().WithName("http2").WithProtocol(corev1.ProtocolTCP).WithPort(8080),
			discoveryv1ac.EndpointPort().WithName("https").WithProtocol(corev1.ProtocolTCP).WithPort(8443),
		)
	for _, ep := range endpoints {
		slice.WithEndpoints(discoveryv1ac.Endpoint().
			WithAddresses(ep.Address).
			WithConditions(discoveryv1ac.EndpointConditions().WithReady(ep.Ready).WithServing(ep.Ready).WithTerminating(false)))
	}
	if _, err := kc.DiscoveryV1().EndpointSlices(IstioNamespace).Apply(ctx, slice,
		metav1.ApplyOptions{FieldManager: memberFieldManager, Force: true}); err != nil {
		return fmt.Errorf("endpointslice %s/%s: %w", IstioNamespace, IngressGatewayEndpointSlice, err)
	}
	return nil
}

// writeNamedKubeconfig writes an admin kubeconfig whose cluster, user
// (<name>-admin) and context are named after the cluster, so that kubeconfigs
// of several clusters merge (KUBECONFIG=a:b, kubectl --context zone-a-1).
func writeNamedKubeconfig(path, name, server string, caPEM, certPEM, keyPEM []byte) error {
	user := name + "-" + AdminUser
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{name: {Server: server, CertificateAuthorityData: caPEM}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {ClientCertificateData: certPEM, ClientKeyData: keyPEM}},
		Contexts:       map[string]*clientcmdapi.Context{name: {Cluster: name, AuthInfo: user, Namespace: "default"}},
		CurrentContext: name,
	}
	data, err := clientcmd.Write(cfg)
	if err != nil {
		return err
	}
	return WriteFile(path, data, 0o600)
}
