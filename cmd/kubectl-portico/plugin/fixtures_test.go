package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// testNow is the clock of describe and status in tests.
var testNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// ago is a transition time d before testNow.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func cond(typ string, status metav1.ConditionStatus, reason, msg string, age time.Duration) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: ago(age)}
}

const (
	testVIP    = "198.51.100.7"
	testSerial = "1a2b3c4d5e6f70819a"
)

// hubObjects is a hub where the access point shop/checkout is in place on
// zone-a-1 and zone-b-1, with a VIP announced by two nodes, a certificate and
// a DNS name. Tests change it before building the fake clientset.
type hubObjects struct {
	fap   *trafficv1alpha1.FederatedAccessPoint
	vip   *trafficv1alpha1.VirtualIP
	nodes []*clusterv1alpha1.LoadBalancerNode
	names []*trafficv1alpha1.NameService
	caps  map[string]*trafficv1alpha1.ClusterAccessPoint
	mcs   map[string]*clusterv1alpha1.MemberCluster
	extra []runtime.Object
}

func readyHub() *hubObjects {
	h := &hubObjects{caps: map[string]*trafficv1alpha1.ClusterAccessPoint{}, mcs: map[string]*clusterv1alpha1.MemberCluster{}}
	h.fap = readyAccessPoint("shop", "checkout")
	h.vip = &trafficv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: testVIP},
		Spec: trafficv1alpha1.VirtualIPSpec{Address: testVIP, Pool: "local", Groups: []string{"zone-a", "zone-b"},
			Backends: []trafficv1alpha1.Backend{{Address: "10.0.1.1"}, {Address: "10.0.1.2"}, {Address: "10.0.2.1"}, {Address: "10.0.2.2"}}},
		Status: trafficv1alpha1.VirtualIPStatus{AnnouncedBy: []string{"lb-zone-a-0", "lb-zone-b-0"}, HealthyBackends: 4,
			Conditions: []metav1.Condition{cond("Announced", "True", "Announced", "announced by lb-zone-a-0, lb-zone-b-0", 3*time.Minute)}},
	}
	for _, z := range []string{"a", "b"} {
		h.nodes = append(h.nodes, &clusterv1alpha1.LoadBalancerNode{
			ObjectMeta: metav1.ObjectMeta{Name: "lb-zone-" + z + "-0"},
			Spec:       clusterv1alpha1.LoadBalancerNodeSpec{Group: "zone-" + z, Address: "192.0.2.1"},
			Status: clusterv1alpha1.LoadBalancerNodeStatus{
				Announced: []string{testVIP}, VIPs: []clusterv1alpha1.VIPHealth{{Address: testVIP, HealthyBackends: 4}},
				Conditions: []metav1.Condition{
					cond("Ready", "True", "Ready", "announcing", time.Hour),
					cond("DataplaneReady", "True", "Synced", "1 services, 4 destinations", time.Hour),
					cond("BGPEstablished", "True", "Established", "1/1 sessions established", time.Hour),
				}},
		})
	}
	h.names = []*trafficv1alpha1.NameService{nameService("shop", "checkout", "checkout.portico.test", "checkout"),
		nameService("shop", "other", "other.portico.test", "other")}
	for _, c := range []string{"zone-a-1", "zone-b-1"} {
		h.mcs[c] = memberCluster(c)
		h.caps[c] = clusterAccessPoint(c, "shop", "checkout")
	}
	return h
}

func readyAccessPoint(ns, name string) *trafficv1alpha1.FederatedAccessPoint {
	notAfter := metav1.NewTime(time.Date(2027, 2, 20, 8, 0, 0, 0, time.UTC))
	return &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 2},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts:        []string{name + ".portico.test"},
			LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "local"},
			TLS:          &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "local-ca"}},
		},
		Status: trafficv1alpha1.FederatedAccessPointStatus{
			ObservedGeneration: 2, Revision: "5d41402a",
			VIP: &trafficv1alpha1.VIPStatus{Address: testVIP, Pool: "local", AnnouncedBy: []string{"lb-zone-a-0", "lb-zone-b-0"},
				HealthyBackends: 4, TotalBackends: 4},
			Certificate: &trafficv1alpha1.CertificateStatus{Serial: testSerial, Version: 3, NotAfter: &notAfter,
				InstalledClusters: []string{"zone-b-1", "zone-a-1"}},
			DNS: &trafficv1alpha1.DNSStatus{FQDNs: []string{name + ".portico.test"}, Published: true, Provider: "local"},
			Clusters: []trafficv1alpha1.ClusterStatus{
				{Name: "zone-b-1", Zone: "zone-b", Phase: "Applied", ObservedRevision: "5d41402a",
					Objects: trafficv1alpha1.ObjectCounts{Applied: 5, Total: 5}, GatewayEndpoints: 2, LastTransitionTime: agoPtr(3 * time.Minute)},
				{Name: "zone-a-1", Zone: "zone-a", Phase: "Applied", ObservedRevision: "5d41402a",
					Objects: trafficv1alpha1.ObjectCounts{Applied: 5, Total: 5}, GatewayEndpoints: 2, LastTransitionTime: agoPtr(2 * time.Minute)},
			},
			Conditions: []metav1.Condition{
				cond("Placed", "True", "Placed", "placed on zone-a-1, zone-b-1", 5*time.Minute),
				cond("Applied", "True", "AllApplied", "applied on 2 clusters", 2*time.Minute),
				cond("VIPAllocated", "True", "Allocated", "allocated 198.51.100.7 from pool local", 5*time.Minute),
				cond("LoadBalancerReady", "True", "Announced", "198.51.100.7 announced by lb-zone-a-0, lb-zone-b-0 with 4 healthy backends", 2*time.Minute),
				cond("CertificateReady", "True", "Issued", "version 3 (serial 1a2b3c4d5e6f70819a) valid until 2027-02-20T08:00:00Z, installed on 2 clusters", time.Minute),
				cond("DNSReady", "True", "Published", "published: checkout.portico.test", 2*time.Minute),
				cond("Ready", "True", "Ready", "every part of the access point is in place", 2*time.Minute),
			},
		},
	}
}

func nameService(ns, name, fqdn, target string) *trafficv1alpha1.NameService {
	return &trafficv1alpha1.NameService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: trafficv1alpha1.NameServiceSpec{FQDN: fqdn, ProviderRef: trafficv1alpha1.LocalReference{Name: "local"},
			Target: trafficv1alpha1.NameServiceTarget{AccessPointRef: &trafficv1alpha1.LocalReference{Name: target}}},
		Status: trafficv1alpha1.NameServiceStatus{Records: []trafficv1alpha1.DNSRecord{{Type: "A", Value: testVIP}},
			Conditions: []metav1.Condition{cond("Published", "True", "Published", "A "+testVIP, 2*time.Minute)}},
	}
}

func memberCluster(name string) *clusterv1alpha1.MemberCluster {
	return &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: name[:len(name)-2]},
		Status: clusterv1alpha1.MemberClusterStatus{
			Agent: clusterv1alpha1.AgentStatus{Version: "v0.1.0", LastHeartbeatTime: agoPtr(5 * time.Second)},
			Conditions: []metav1.Condition{
				cond("Joined", "True", "AgentConnected", "the member-agent has connected", 24*time.Hour),
				cond("Available", "True", "LeaseRenewed", "the member-agent renews its Lease", 24*time.Hour),
				// Fine when False: the default view hides it.
				cond("CredentialExpiring", "False", "Valid", "the member-agent's hub credential expires in 20h", 4*time.Hour),
			}},
	}
}

func clusterAccessPoint(cluster, ns, name string) *trafficv1alpha1.ClusterAccessPoint {
	objects := []trafficv1alpha1.ObjectStatus{
		{Group: "networking.istio.io", Kind: "Gateway", Namespace: ns, Name: name, Applied: true},
		{Group: "networking.istio.io", Kind: "VirtualService", Namespace: ns, Name: name, Applied: true},
		{Group: "networking.istio.io", Kind: "DestinationRule", Namespace: ns, Name: name, Applied: true},
		{Group: "networking.istio.io", Kind: "ServiceEntry", Namespace: ns, Name: "payments", Applied: true},
		{Kind: "Secret", Namespace: "istio-system", Name: ns + "." + name + "-tls", Applied: true},
	}
	return &trafficv1alpha1.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: clusterv1alpha1.ClusterNamespace(cluster), Name: ns + "." + name},
		Spec:       trafficv1alpha1.ClusterAccessPointSpec{AccessPointRef: trafficv1alpha1.AccessPointReference{Namespace: ns, Name: name}, Revision: "5d41402a"},
		Status: trafficv1alpha1.ClusterAccessPointStatus{
			ObservedRevision: "5d41402a", Objects: objects,
			Gateway: trafficv1alpha1.GatewayStatus{Endpoints: []trafficv1alpha1.GatewayEndpoint{{Address: "10.0.1.1", Ready: true}, {Address: "10.0.1.2", Ready: true}}},
			Conditions: []metav1.Condition{
				cond("Applied", "True", "Applied", "5 objects applied", 2*time.Minute),
				cond("Degraded", "False", "Applied", "every object is applied", 2*time.Minute),
			}},
	}
}

func (h *hubObjects) objects() []runtime.Object {
	var objs []runtime.Object
	if h.fap != nil {
		objs = append(objs, h.fap)
	}
	if h.vip != nil {
		objs = append(objs, h.vip)
	}
	for _, n := range h.nodes {
		objs = append(objs, n)
	}
	for _, n := range h.names {
		objs = append(objs, n)
	}
	for _, c := range h.caps {
		objs = append(objs, c)
	}
	for _, m := range h.mcs {
		objs = append(objs, m)
	}
	return append(objs, h.extra...)
}

func (h *hubObjects) client() *porticofake.Clientset {
	return porticofake.NewSimpleClientset(h.objects()...)
}

// useFakeHub makes the commands use client and the test clock.
func useFakeHub(t *testing.T, client versioned.Interface) {
	t.Helper()
	oldClient, oldNow := newPorticoClient, nowFunc
	newPorticoClient = func(*rest.Config) (versioned.Interface, error) { return client, nil }
	nowFunc = func() time.Time { return testNow }
	t.Cleanup(func() { newPorticoClient, nowFunc = oldClient, oldNow })
}

// testKubeconfig writes a kubeconfig whose context's namespace is ns.
func testKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: `+ns+`}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type runResult struct {
	code        int
	out, errOut string
}

// runPlugin runs the plugin against the fake hub h, with the kubeconfig's
// namespace shop.
func runPlugin(t *testing.T, h *hubObjects, args ...string) runResult {
	t.Helper()
	return runPluginWith(t, h.client(), args...)
}

// runPluginWith runs the plugin against client, with the kubeconfig's
// namespace shop.
func runPluginWith(t *testing.T, client versioned.Interface, args ...string) runResult {
	t.Helper()
	useFakeHub(t, client)
	var out, errOut bytes.Buffer
	args = append(args, "--kubeconfig", testKubeconfig(t, "shop"))
	code := Main(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return runResult{code: code, out: out.String(), errOut: errOut.String()}
}
