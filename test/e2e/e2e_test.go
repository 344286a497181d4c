//go:build e2e

// Package e2e is the end-to-end tier (build tag e2e, make e2e): it brings up the
// local federation of `make up` — the same code, package localup — in a
// temporary directory, drives the quickstart with the real kubectl (apply
// manifests/examples/checkout.yaml, wait for Ready), and checks every claim
// of the access point's status against the real part it stands for:
//
//   - the Gateway, VirtualService and certificate Secret in each member
//     kube-apiserver, the certificate's SANs and serial (status.certificate);
//   - the VIP's route in BIRD with one next hop per edge node (status.vip);
//   - IPVS in each edge VM, through its LoadBalancerNode and its /metrics;
//   - the A record served by BIND (status.dns).
//
// Then it breaks and restores parts: a stopped member-agent makes its cluster
// Unavailable, a stopped edge VM leaves BIRD and status.vip.announcedBy, a crashed
// one leaves BIRD after the hold time and announcedBy when its Lease expires;
// restored, the access point is Ready again.
// Everything started is stopped and every network namespace removed at the end,
// also on failure. It needs root, BIRD 2, BIND 9 and qemu (installed with apt-get
// when missing): without them it skips, and fails with CI=true.
package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
	"github.com/portico-dev/portico/test/localfed/localup"
)

// The quickstart's access point.
const (
	namespace = "shop"
	name      = "checkout"
	host      = "checkout.portico.test"
	// backends: two gateway endpoints per zone.
	backends = 4
)

type env struct {
	f       *localup.Federation
	portico versioned.Interface
	root    string
}

func TestQuickstart(t *testing.T) {
	e := setup(t)
	apply := e.kubectl(t, "apply", "-f", filepath.Join(e.root, "manifests", "examples", "checkout.yaml"))
	t.Logf("kubectl apply:\n%s", apply)
	start := time.Now()
	e.kubectl(t, "wait", "fap/"+name, "--for=condition=Ready", "--timeout=60s") // the quickstart, as written (make up's kubeconfig defaults to shop)
	t.Logf("MEASURE kubectl apply -> access point Ready: %v", time.Since(start).Round(100*time.Millisecond))
	// Ready needs one announcing node; the others follow within seconds.
	fap := e.fap(t)
	if fap.Status.VIP == nil {
		t.Fatalf("Ready without status.vip: %s", toJSON(fap.Status))
	}
	e.waitEdge(t, fap.Status.VIP.Address, 30*time.Second, e.f.Nodes...)
	t.Logf("MEASURE kubectl apply -> announced by every edge node: %v", time.Since(start).Round(100*time.Millisecond))
	// Health checks and the agents' reports also land within seconds: every
	// backend healthy, every cluster on revision 1. The subtests check the
	// settled status.
	framework.Eventually(t, 30*time.Second, "every VIP backend healthy and every cluster on revision 1", func() (bool, string) {
		fap = e.fap(t)
		vip, r := fap.Status.VIP, fap.Status.Rollout
		return vip != nil && vip.HealthyBackends == backends && r != nil && r.UpdatedClusters == int32(len(clusterNames())),
			fmt.Sprintf("vip %+v, rollout %+v", vip, r)
	})
	t.Logf("MEASURE kubectl apply -> every backend healthy and every cluster updated: %v", time.Since(start).Round(100*time.Millisecond))
	t.Logf("status:\n%s", toJSON(fap.Status))
	t.Logf("kubectl get fap -o wide:\n%s", e.kubectl(t, "get", "fap", "-n", namespace, "-o", "wide"))

	t.Run("Conditions", func(t *testing.T) { e.checkConditions(t, fap) })
	t.Run("MemberClusters", func(t *testing.T) { e.checkMembers(t, fap) })
	t.Run("VIPRouteInBIRD", func(t *testing.T) { e.checkRoute(t, fap) })
	t.Run("IPVSInEdgeVMs", func(t *testing.T) { e.checkIPVS(t, fap) })
	t.Run("DNSAnswer", func(t *testing.T) { e.checkDNS(t, fap) })
	t.Run("KubectlPortico", func(t *testing.T) { e.checkPlugin(t, fap) })
	t.Run("HubCluster", func(t *testing.T) { e.checkHubCluster(t, fap) })
	t.Run("FollowKubefed", e.testFollowKubefed)
	t.Run("Failures", e.testFailures)
	t.Run("CrashedEdgeVM", e.testCrash)
}

func setup(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "it needs root (network namespaces, tap devices, BIRD, qemu)")
	}
	framework.RequireKubeBinaries(t)
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	removeStaleNetns(t)
	dir := t.TempDir()
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		if err := localup.Down(dir); err != nil {
			t.Errorf("stopping the federation: %v", err)
		}
		for _, line := range localup.Status(dir) {
			t.Errorf("left behind: %s", line)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t.Logf("starting the local federation in %s", dir)
	f, err := localup.Up(ctx, localup.Options{Dir: dir, NetnsPrefix: netnsPrefix(), Logf: t.Logf})
	if errors.Is(err, localup.ErrMissing) {
		skipOrFail(t, err.Error())
	}
	if err != nil {
		t.Fatalf("starting the local federation: %v", err)
	}
	t.Logf("MEASURE local federation up in %v", f.Took.Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, f)
		}
	})
	pc, err := versioned.NewForConfig(f.Hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	return &env{f: f, portico: pc, root: root}
}

// netnsPrefix names the namespaces of a run after its process, so that a run
// killed before its cleanup (a test timeout) can be recognized later.
func netnsPrefix() string { return fmt.Sprintf("pe2e-%d", os.Getpid()) }

var staleNetns = regexp.MustCompile(`^pe2e-(\d+)-`)

// removeStaleNetns removes the namespaces of earlier runs whose process is gone.
func removeStaleNetns(t *testing.T) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		m := staleNetns.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("removing the stale network namespace %s: %v: %s", e.Name(), err, out)
		} else {
			t.Logf("removed the stale network namespace %s", e.Name())
		}
	}
}

// skipOrFail ends the test when a real part is missing: a skip saying what to
// install, or a failure in CI.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("the e2e tier cannot run in CI: %s", why)
	}
	t.Skipf("skipping the e2e tier: %s (make up installs BIRD 2, BIND 9 and qemu when run as root)", why)
}

func logTails(t *testing.T, f *localup.Federation) {
	t.Logf("--- hub cluster kube-apiserver log (tail) ---\n%s", f.Hub.APIServer.LogTail(30))
	t.Logf("--- hub cluster kube-controller-manager log (tail) ---\n%s", f.Hub.ControllerManager.LogTail(30))
	t.Logf("--- portico-hub log (tail) ---\n%s", f.PorticoHub.Process.LogTail(40))
	for _, m := range f.Members {
		t.Logf("--- member-agent %s log (tail) ---\n%s", m.Zone.Cluster, m.Agent.Process.LogTail(20))
	}
	for _, n := range f.Nodes {
		t.Logf("--- VM %s console (tail) ---\n%s", n.Name(), localfed.LogTail(n.ConsoleLog(), 30))
	}
	t.Logf("--- BIRD log (tail) ---\n%s", f.BIRD.Process.LogTail(20))
}

func (e *env) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := framework.Kubectl(t, e.f.Kubeconfig(), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (e *env) fap(t *testing.T) *trafficv1alpha1.FederatedAccessPoint {
	t.Helper()
	fap, err := e.portico.TrafficV1alpha1().FederatedAccessPoints(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fap
}

// checkHubCluster: the hub cluster behaves as a real one: LoadBalancerGroups
// count their nodes (kubectl get lbg), the first revision is rolled out
// everywhere at once, and deleting a namespace that holds an access point
// completes (kube-controller-manager's namespace controller, the access
// point's finalizer and its revisions' garbage collection).
func (e *env) checkHubCluster(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	ctx := context.Background()
	perZone := map[string]int32{}
	for _, n := range e.f.Nodes {
		perZone[n.Zone.Name]++
	}
	groups, err := e.portico.ClusterV1alpha1().LoadBalancerGroups().List(ctx, metav1.ListOptions{})
	if err != nil || len(groups.Items) == 0 {
		t.Fatalf("LoadBalancerGroups: %d (%v)", len(groups.Items), err)
	}
	table := e.kubectl(t, "get", "lbg")
	t.Logf("kubectl get lbg:\n%s", table)
	for _, g := range groups.Items {
		want := perZone[g.Spec.Zone]
		if g.Status.Nodes != want || g.Status.ReadyNodes != want {
			t.Errorf("LoadBalancerGroup %s: nodes %d ready %d, want %d edge nodes of zone %s", g.Name, g.Status.Nodes, g.Status.ReadyNodes, want, g.Spec.Zone)
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(g.Name) + `\s.*\s` + fmt.Sprintf("%d/%d", want, want) + `\s`).MatchString(table) {
			t.Errorf("kubectl get lbg does not show %d/%d nodes for %s", want, want, g.Name)
		}
	}
	if r := fap.Status.Rollout; r == nil || r.Phase != trafficv1alpha1.RolloutComplete || r.Revision != 1 || r.UpdatedClusters != int32(len(clusterNames())) {
		t.Errorf("status.rollout %+v, want revision 1 Complete on every cluster", r)
	}

	// make up grants *.portico.test to shop, and nothing else.
	stolen := `{"apiVersion":"traffic.portico.dev/v1alpha1","kind":"FederatedAccessPoint","metadata":{"name":"stolen","namespace":"shop"},"spec":{"hosts":["checkout.other.test"]}}`
	if out, stderr, err := framework.KubectlWithInput(t, e.f.Kubeconfig(), strings.NewReader(stolen), "create", "-f", "-"); err == nil ||
		!strings.Contains(stderr, `no HostGrant gives host "checkout.other.test" to namespace "shop"`) {
		t.Errorf("claiming an ungranted host: err=%v\n%s%s", err, out, stderr)
	}

	const scratch = "e2e-scratch"
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: traffic.portico.dev/v1alpha1
kind: HostGrant
metadata:
  name: %[1]s
spec:
  hosts: [scratch.portico.test]
  namespaces: [%[1]s]
---
apiVersion: traffic.portico.dev/v1alpha1
kind: FederatedAccessPoint
metadata:
  name: scratch
  namespace: %[1]s
spec:
  hosts: [scratch.portico.test]
  template:
    virtualServices:
    - name: scratch
      spec:
        hosts: [scratch.portico.test]
        gateways: [scratch]
        http:
        - route:
          - destination: {host: scratch.%[1]s.svc.cluster.local}
`, scratch)
	path := filepath.Join(t.TempDir(), "scratch.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, "apply", "-f", path)
	e.kubectl(t, "wait", "-n", scratch, "fap/scratch", "--for=condition=Applied", "--timeout=60s")
	if out := e.kubectl(t, "get", "apr", "-n", scratch, "-o", "name"); !strings.Contains(out, "scratch-1") {
		t.Errorf("no AccessPointRevision scratch-1: %q", out)
	}
	start := time.Now()
	e.kubectl(t, "delete", "namespace", scratch, "--timeout=90s")
	t.Logf("MEASURE kubectl delete namespace with an access point: %v", time.Since(start).Round(100*time.Millisecond))
	e.kubectl(t, "delete", "hostgrant", scratch)
	for _, c := range clusterNames() {
		if _, err := e.portico.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(c)).Get(ctx, scratch+".scratch", metav1.GetOptions{}); err == nil {
			t.Errorf("the deleted access point's ClusterAccessPoint is still in %s", c)
		}
	}
}

func (e *env) checkConditions(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	for _, typ := range []string{trafficv1alpha1.AccessPointPlaced, trafficv1alpha1.AccessPointVIPAllocated, trafficv1alpha1.AccessPointApplied,
		trafficv1alpha1.AccessPointLoadBalancerReady, trafficv1alpha1.AccessPointCertificateReady, trafficv1alpha1.AccessPointDNSReady,
		trafficv1alpha1.ConditionReady} {
		c := meta.FindStatusCondition(fap.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != fap.Generation {
			t.Errorf("condition %s: %+v; want True for generation %d", typ, c, fap.Generation)
		}
	}
	if fap.Status.ObservedGeneration != fap.Generation || fap.Status.Revision == "" {
		t.Errorf("status.observedGeneration %d (generation %d), revision %q", fap.Status.ObservedGeneration, fap.Generation, fap.Status.Revision)
	}
}

// checkMembers checks, in each member kube-apiserver, the Gateway, the
// VirtualService and the certificate Secret named by the Gateway's HTTPS
// server (in the ingress gateway's namespace, where Istio reads it), against
// status.clusters and status.certificate.
func (e *env) checkMembers(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	ctx := context.Background()
	cert := fap.Status.Certificate
	if cert == nil || cert.Serial == "" || cert.Version < 1 || cert.NotAfter == nil {
		t.Fatalf("status.certificate %+v: want a serial, a version and notAfter", cert)
	}
	if got := slices.Sorted(slices.Values(cert.InstalledClusters)); !slices.Equal(got, clusterNames()) {
		t.Errorf("status.certificate.installedClusters %v, want %v", got, clusterNames())
	}
	if len(fap.Status.Clusters) != len(localup.Zones) {
		t.Errorf("status.clusters has %d entries, want %d", len(fap.Status.Clusters), len(localup.Zones))
	}
	for _, s := range fap.Status.Clusters {
		if s.Phase != trafficv1alpha1.ClusterPhaseApplied || s.ObservedRevision != fap.Status.Revision ||
			s.Objects.Applied != s.Objects.Total || s.Objects.Total == 0 || s.GatewayEndpoints != 2 {
			t.Errorf("status.clusters entry %+v: want Applied at revision %s, all objects applied, 2 gateway endpoints", s, fap.Status.Revision)
		}
	}
	for _, m := range e.f.Members {
		t.Run(m.Zone.Cluster, func(t *testing.T) {
			istio := istioclient.NewForConfigOrDie(m.Cluster.RestConfig)
			gw, err := istio.NetworkingV1().Gateways(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("Gateway: %v", err)
			}
			credential := ""
			for _, s := range gw.Spec.Servers {
				if !slices.Equal(s.Hosts, []string{host}) {
					t.Errorf("Gateway server %s: hosts %v, want [%s]", s.Port.GetName(), s.Hosts, host)
				}
				if s.Port.GetProtocol() == "HTTPS" {
					credential = s.GetTls().GetCredentialName()
				}
			}
			if credential == "" || len(gw.Spec.Servers) != 2 {
				t.Fatalf("Gateway servers %v: want HTTP on 80 and HTTPS on 443 with a credentialName", gw.Spec.Servers)
			}
			vs, err := istio.NetworkingV1().VirtualServices(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("VirtualService: %v", err)
			}
			if !slices.Equal(vs.Spec.Hosts, []string{host}) || !slices.Equal(vs.Spec.Gateways, []string{name}) {
				t.Errorf("VirtualService hosts %v gateways %v", vs.Spec.Hosts, vs.Spec.Gateways)
			}
			// Istio reads a Gateway's credentialName from the namespace of the
			// gateway workload: istio-system for the ingress gateway.
			kube := kubernetes.NewForConfigOrDie(m.Cluster.RestConfig)
			secret, err := kube.CoreV1().Secrets(localfed.IstioNamespace).Get(ctx, credential, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("the Gateway's credentialName %s in the ingress gateway's namespace %s: %v", credential, localfed.IstioNamespace, err)
			}
			e.checkCertificate(t, secret, cert)
		})
	}
}

func clusterNames() []string {
	var out []string
	for _, z := range localup.Zones {
		out = append(out, z.Cluster)
	}
	slices.Sort(out)
	return out
}

// checkCertificate parses the Secret's tls.crt: its SANs are the hosts, its
// serial and expiry those of the status, and it chains to the local CA.
func (e *env) checkCertificate(t *testing.T, secret *corev1.Secret, want *trafficv1alpha1.CertificateStatus) {
	if secret.Type != corev1.SecretTypeTLS || len(secret.Data[corev1.TLSPrivateKeyKey]) == 0 {
		t.Errorf("Secret %s: type %s, %d bytes of tls.key", secret.Name, secret.Type, len(secret.Data[corev1.TLSPrivateKeyKey]))
	}
	block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
	if block == nil {
		t.Fatalf("Secret %s: no PEM certificate in tls.crt", secret.Name)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(leaf.DNSNames, []string{host}) {
		t.Errorf("certificate SANs %v, want [%s]", leaf.DNSNames, host)
	}
	if got := leaf.SerialNumber.Text(16); !strings.EqualFold(got, want.Serial) {
		t.Errorf("certificate serial %s, status.certificate.serial %s", got, want.Serial)
	}
	if !leaf.NotAfter.Equal(want.NotAfter.Time) {
		t.Errorf("certificate notAfter %v, status.certificate.notAfter %v", leaf.NotAfter, want.NotAfter.Time)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: e.f.CA.CertPool()}); err != nil {
		t.Errorf("certificate does not verify for %s against the local CA: %v", host, err)
	}
}

func nodeAddresses(nodes ...*localup.LBNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Address())
	}
	slices.Sort(out)
	return out
}

func nodeNames(nodes ...*localup.LBNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name())
	}
	slices.Sort(out)
	return out
}

// checkRoute checks status.vip against BIRD: the VIP from the pool, one next
// hop per edge node, merged into a multipath route in the router's kernel.
func (e *env) checkRoute(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	vip := fap.Status.VIP
	if vip == nil {
		t.Fatal("no status.vip")
	}
	addr, err := netip.ParseAddr(vip.Address)
	if err != nil || !netip.MustParsePrefix(localup.PoolCIDR).Contains(addr) || vip.Pool != localup.PoolName {
		t.Fatalf("status.vip %+v: want an address of pool %s (%s)", vip, localup.PoolName, localup.PoolCIDR)
	}
	if got, want := slices.Sorted(slices.Values(vip.AnnouncedBy)), nodeNames(e.f.Nodes...); !slices.Equal(got, want) {
		t.Errorf("status.vip.announcedBy %v, want %v", got, want)
	}
	if vip.HealthyBackends != backends || vip.TotalBackends != backends {
		t.Errorf("status.vip backends %d healthy of %d, want %d of %d", vip.HealthyBackends, vip.TotalBackends, backends, backends)
	}
	hops, err := e.f.BIRD.NextHops(vip.Address + "/32")
	if err != nil || !slices.Equal(hops, nodeAddresses(e.f.Nodes...)) {
		t.Errorf("BIRD's next hops for %s: %v (%v), want %v", vip.Address, hops, err, nodeAddresses(e.f.Nodes...))
	}
	b, err := exec.Command("ip", "-n", e.f.RouterNetns, "route", "show", vip.Address).CombinedOutput()
	out := string(b)
	if err != nil || strings.Count(out, "nexthop via") != len(e.f.Nodes) {
		t.Errorf("router kernel route for %s: %q (%v); want a multipath route via every edge node", vip.Address, out, err)
	}
	t.Logf("BIRD: %s via %v; kernel: %s", vip.Address, hops, strings.Join(strings.Fields(out), " "))
}

// checkIPVS checks, for each edge VM, that its lb-agent programmed IPVS for the
// VIP (a service per port, a tunnel destination per backend) and announces it,
// as its LoadBalancerNode status and its /metrics report.
func (e *env) checkIPVS(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	vip := fap.Status.VIP.Address
	ports := len(fap.Spec.LoadBalancer.Ports)
	for _, n := range e.f.Nodes {
		t.Run(n.Name(), func(t *testing.T) {
			lbn, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), n.Name(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s := lbn.Status
			if lbn.Spec.Address != n.Address() || lbn.Spec.Group != n.Zone.Name || !slices.Contains(s.Announced, vip) ||
				s.Dataplane.Type != "ipvs" || s.Dataplane.Services != int32(ports) || s.Dataplane.Destinations != int32(ports*backends) ||
				!meta.IsStatusConditionTrue(s.Conditions, clusterv1alpha1.ConditionReady) {
				t.Errorf("LoadBalancerNode %s: spec %+v status %s; want group %s, %s announced, ipvs with %d services and %d destinations, Ready",
					n.Name(), lbn.Spec, toJSON(s), n.Zone.Name, vip, ports, ports*backends)
			}
			metrics := e.metrics(t, n)
			want := []string{
				fmt.Sprintf("portico_lb_dataplane_services %d", ports),
				fmt.Sprintf("portico_lb_dataplane_destinations %d", ports*backends),
				"portico_lb_announced_vips 1",
				fmt.Sprintf(`portico_lb_bgp_session_established{peer="%s"} 1`, n.Zone.RouterAddress()),
			}
			for _, z := range localup.Zones {
				for _, a := range z.GatewayAddresses() {
					want = append(want, fmt.Sprintf(`portico_lb_backend_healthy{backend="%s:80",type="tcp"} 1`, a))
				}
			}
			for _, w := range want {
				if !strings.Contains(metrics, w) {
					t.Errorf("%s's /metrics lacks %q", n.Name(), w)
				}
			}
		})
	}
}

// metrics fetches the node's /metrics from inside the router namespace.
func (e *env) metrics(t *testing.T, n *localup.LBNode) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			return localup.DialIn(e.f.RouterNetns, addr)
		},
	}}
	resp, err := client.Get("http://" + n.MetricsAddress() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics of %s: %v", n.Name(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// checkDNS asks BIND for the access point's name: the A record is the VIP.
func (e *env) checkDNS(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	d := fap.Status.DNS
	if d == nil || !d.Published || d.Provider != localup.DNSProviderName || !slices.Equal(d.FQDNs, []string{host}) {
		t.Errorf("status.dns %+v: want %s published through %s", d, host, localup.DNSProviderName)
	}
	rrs, err := e.f.DNS.Query(host, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range rrs {
		got = append(got, rr.(*dns.A).A.String())
	}
	if !slices.Equal(got, []string{fap.Status.VIP.Address}) {
		t.Errorf("BIND answers %s A %v, want the VIP [%s]", host, got, fap.Status.VIP.Address)
	}
}

// testFailures stops a member-agent and an edge VM, checks that the status
// follows, and restores both.
func (e *env) testFailures(t *testing.T) {
	ctx := context.Background()
	vip := e.fap(t).Status.VIP.Address
	cluster := localup.Zones[1].Cluster
	if err := e.f.StopAgent(cluster); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	framework.Eventually(t, 2*time.Minute, cluster+" Unavailable in the access point's status", func() (bool, string) {
		fap := e.fap(t)
		for _, s := range fap.Status.Clusters {
			if s.Name == cluster {
				return s.Phase == trafficv1alpha1.ClusterPhaseUnavailable && !meta.IsStatusConditionTrue(fap.Status.Conditions, trafficv1alpha1.ConditionReady),
					fmt.Sprintf("phase %s, Ready %v", s.Phase, meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.ConditionReady))
			}
		}
		return false, "no status entry"
	})
	t.Logf("MEASURE member-agent stopped -> %s Unavailable: %v", cluster, time.Since(start).Round(time.Second))
	// What kubectl portico says of it: status fails --fail-not-ready, describe
	// shows the cluster Unavailable.
	if out, err := e.plugin(t, "status", "--fail-not-ready"); err == nil || !strings.Contains(out, "ClustersUnavailable") {
		t.Errorf("kubectl portico status --fail-not-ready with %s down: err=%v\n%s", cluster, err, out)
	}
	if out, _ := e.plugin(t, "describe", "fap", name); !regexp.MustCompile(`MemberCluster ` + cluster + ` .*False +Unavailable`).MatchString(out) {
		t.Errorf("kubectl portico describe does not show %s Unavailable:\n%s", cluster, out)
	}

	a, b := e.f.Nodes[0], e.f.Nodes[1]
	start = time.Now()
	if err := e.f.StopNode(b.Name(), true); err != nil {
		t.Fatal(err)
	}
	e.waitEdge(t, vip, time.Minute, a)
	t.Logf("MEASURE edge VM %s stopped -> next hop gone from BIRD and announcedBy: %v", b.Name(), time.Since(start).Round(100*time.Millisecond))

	if err := e.f.StartAgent(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := e.f.StartNode(b.Name()); err != nil {
		t.Fatal(err)
	}
	if err := e.f.WaitLBNodes(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.waitEdge(t, vip, time.Minute, a, b)
	e.kubectl(t, "wait", "fap/"+name, "-n", namespace, "--for=condition=Ready", "--timeout=120s")
	t.Logf("MEASURE restored -> Ready: %v", time.Since(start).Round(100*time.Millisecond))
	e.checkRoute(t, e.fap(t))
}

// testCrash kills an edge VM's qemu: BIRD drops its next hop when the hold
// time expires, and status.vip.announcedBy drops the node when its lb-agent's
// Lease expires.
func (e *env) testCrash(t *testing.T) {
	vip := e.fap(t).Status.VIP.Address
	a, b := e.f.Nodes[0], e.f.Nodes[1]
	start := time.Now()
	if err := e.f.StopNode(a.Name(), false); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, time.Minute, "BIRD dropping "+a.Name(), func() (bool, string) {
		hops, err := e.f.BIRD.NextHops(vip + "/32")
		return err == nil && slices.Equal(hops, nodeAddresses(b)), fmt.Sprintf("next hops %v (%v)", hops, err)
	})
	t.Logf("MEASURE edge VM %s killed -> next hop gone from BIRD: %v (BGP hold time)", a.Name(), time.Since(start).Round(100*time.Millisecond))
	e.waitEdge(t, vip, 2*time.Minute, b)
	t.Logf("MEASURE edge VM %s killed -> gone from status.vip.announcedBy: %v (lb-agent Lease)", a.Name(), time.Since(start).Round(100*time.Millisecond))

	if err := e.f.StartNode(a.Name()); err != nil {
		t.Fatal(err)
	}
	if err := e.f.WaitLBNodes(context.Background(), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.waitEdge(t, vip, time.Minute, a, b)
	e.kubectl(t, "wait", "fap/"+name, "--for=condition=Ready", "--timeout=60s") // the quickstart, as written (make up's kubeconfig defaults to shop)
}

// waitEdge waits until BIRD's next hops for vip and status.vip.announcedBy are
// exactly nodes.
func (e *env) waitEdge(t *testing.T, vip string, timeout time.Duration, nodes ...*localup.LBNode) {
	t.Helper()
	framework.Eventually(t, timeout, fmt.Sprintf("%s via %v in BIRD and announced by %v", vip, nodeAddresses(nodes...), nodeNames(nodes...)), func() (bool, string) {
		hops, err := e.f.BIRD.NextHops(vip + "/32")
		by := slices.Sorted(slices.Values(e.fap(t).Status.VIP.AnnouncedBy))
		return err == nil && slices.Equal(hops, nodeAddresses(nodes...)) && slices.Equal(by, nodeNames(nodes...)),
			fmt.Sprintf("next hops %v (%v), announcedBy %v", hops, err, by)
	})
}

func toJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// testFollowKubefed runs the README's kubefed walkthrough as written: an
// access point following a FederatedDeployment is Ready on zone-a-1 only, and
// moves to zone-b-1 with the deployment's placement.
func (e *env) testFollowKubefed(t *testing.T) {
	dir := filepath.Join(e.root, "manifests", "examples", "kubefed")
	e.kubectl(t, "apply", "-f", dir+"/")
	t.Cleanup(func() { _, _, _ = framework.Kubectl(t, e.f.Kubeconfig(), "delete", "-f", dir+"/", "--wait=false") })
	e.kubectl(t, "wait", "fap/web", "--for=condition=Ready", "--timeout=60s")
	gatewayOn := func(what string, want string) {
		t.Helper()
		framework.Eventually(t, 30*time.Second, what, func() (bool, string) {
			state, ok := "", true
			for _, m := range e.f.Members {
				_, err := istioclient.NewForConfigOrDie(m.Cluster.RestConfig).NetworkingV1().Gateways(namespace).Get(context.Background(), "web", metav1.GetOptions{})
				ok = ok && (err == nil) == (m.Zone.Cluster == want)
				state += fmt.Sprintf("%s: %v; ", m.Zone.Cluster, err)
			}
			return ok, state
		})
	}
	gatewayOn("the Gateway web on zone-a-1 only", "zone-a-1")
	e.kubectl(t, "patch", "federateddeployment", "web", "--type=merge", "-p", `{"spec":{"placement":{"clusters":[{"name":"zone-b-1"}]}}}`)
	start := time.Now()
	gatewayOn("the Gateway web moved to zone-b-1", "zone-b-1")
	t.Logf("MEASURE FederatedDeployment placement change -> access point moved: %v", time.Since(start).Round(10*time.Millisecond))
	if out := e.kubectl(t, "get", "fap", "web", "-o", "jsonpath={.status.conditions[?(@.type==\"Placed\")].message}"); out != "placed on zone-b-1" {
		t.Errorf("Placed message %q, want placed on zone-b-1", out)
	}
}

// plugin runs the kubectl-portico plugin against the hub (make up's
// kubeconfig: namespace shop).
func (e *env) plugin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", e.f.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkPlugin: kubectl portico describe shows the tree of what the status
// claims (checked against the real parts above), and status prints one Ready
// line.
func (e *env) checkPlugin(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	out, err := e.plugin(t, "describe", "fap", name, "--show-all")
	if err != nil {
		t.Fatalf("kubectl portico describe: %v\n%s", err, out)
	}
	t.Logf("kubectl portico describe fap %s --show-all:\n%s", name, out)
	want := []string{
		"FederatedAccessPoint/" + namespace + "/" + name,
		"VirtualIP " + fap.Status.VIP.Address,
		fmt.Sprintf("Certificate v%d", fap.Status.Certificate.Version),
		"DNS checkout.portico.test",
	}
	for _, n := range e.f.Nodes {
		want = append(want, "LoadBalancerNode "+n.Name())
	}
	for _, z := range localup.Zones {
		want = append(want, "MemberCluster "+z.Cluster)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("describe lacks %q", w)
		}
	}
	// The default view collapses what is fine: nothing False in it.
	if out, err := e.plugin(t, "describe", "fap", name); err != nil || regexp.MustCompile(`\sFalse\s`).MatchString(out) {
		t.Errorf("kubectl portico describe of a Ready access point: err=%v\n%s", err, out)
	}
	out, err = e.plugin(t, "status", "--fail-not-ready", "--no-headers")
	if err != nil || !regexp.MustCompile(`^`+namespace+` +`+name+` +True +`+regexp.QuoteMeta(fap.Status.VIP.Address)+` `).MatchString(out) {
		t.Errorf("kubectl portico status: err=%v\n%s", err, out)
	}
}
