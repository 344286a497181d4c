//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// The federation tests run a hub cluster, portico-hub with its controllers and
// real member clusters with member-agents (newFederation, agent_test.go).
// TestFederationLeaderElection (two portico-hub replicas on one external etcd),
// TestFederationManyMemberClusters and
// TestFederationHeartbeatsDoNotResyncAccessPoints use simulated member clusters
// instead (simulated_test.go: the member-agent's code in the test process).

// newFederationGrace is newFederation with another --cluster-lease-grace. The
// MemberCluster controller rewrites a cluster's status at least when
// Available changes, and every MemberCluster update requeues every access
// point: a long grace keeps that from hiding a missing requeue.
func newFederationGrace(t *testing.T, zones map[string]string, grace time.Duration) *federation {
	t.Helper()
	f := &federation{members: map[string]*framework.MemberCluster{}, agents: map[string]*framework.MemberAgent{}}
	f.hub = framework.NewHubCluster(t)
	f.portico = framework.NewPorticoHub(t, f.hub, framework.PorticoHubOptions{
		ExtraArgs: []string{"--cluster-lease-grace=" + grace.String()},
	})
	f.pc = fastClient(f.hub.RestConfig)
	for name, zone := range zones {
		f.members[name] = framework.NewMemberCluster(t, name)
		f.agents[name] = framework.NewMemberAgent(t, f.hub, f.members[name], framework.MemberAgentOptions{
			Zone: zone, Region: "r1", HeartbeatInterval: time.Second,
		})
	}
	return f
}

// fastClient is a Portico clientset without client-side throttling worth the
// name (the default 5 QPS would make a test measure the client).
func fastClient(cfg *rest.Config) versioned.Interface {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 500, 1000
	return versioned.NewForConfigOrDie(c)
}

func waitAllAvailable(t *testing.T, f *federation) {
	t.Helper()
	for name := range f.members {
		framework.Eventually(t, 60*time.Second, name+" Available", func() (bool, string) {
			a := availability(f, name)
			return a == metav1.ConditionTrue, "Available=" + string(a)
		})
	}
}

func createHubNamespace(t *testing.T, hub *framework.HubCluster, name string) {
	t.Helper()
	kc := kubernetes.NewForConfigOrDie(hub.RestConfig)
	if _, err := kc.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// fedAccessPoint is an access point with a Gateway (defaulted from hosts), a
// VirtualService with the given timeout and a DestinationRule.
func fedAccessPoint(ns, name string, hosts []string, timeout string) *traffic.FederatedAccessPoint {
	vs := fmt.Sprintf(`{"hosts":%s,"gateways":[%q],"http":[{"timeout":%q,"route":[{"destination":{"host":"%s.%s.svc.cluster.local"}}]}]}`,
		mustJSON(hosts), name, timeout, name, ns)
	dr := fmt.Sprintf(`{"host":"%s.%s.svc.cluster.local"}`, name, ns)
	return &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: hosts,
			Template: traffic.AccessPointTemplate{
				VirtualServices:  []traffic.NamedTemplate{{Name: name, Spec: traffic.JSONObject{Raw: []byte(vs)}}},
				DestinationRules: []traffic.NamedTemplate{{Name: name, Spec: traffic.JSONObject{Raw: []byte(dr)}}},
			},
		},
	}
}

// setHosts changes the access point's hosts and its VirtualService's hosts
// (a template may serve only the access point's hosts).
func setHosts(fap *traffic.FederatedAccessPoint, hosts ...string) {
	fap.Spec.Hosts = hosts
	var spec map[string]any
	_ = json.Unmarshal(fap.Spec.Template.VirtualServices[0].Spec.Raw, &spec)
	spec["hosts"] = hosts
	raw, _ := json.Marshal(spec)
	fap.Spec.Template.VirtualServices[0].Spec.Raw = raw
}

// setVSTimeout changes the access point's VirtualService timeout.
func setVSTimeout(fap *traffic.FederatedAccessPoint, timeout string) {
	var spec map[string]any
	_ = json.Unmarshal(fap.Spec.Template.VirtualServices[0].Spec.Raw, &spec)
	spec["http"].([]any)[0].(map[string]any)["timeout"] = timeout
	raw, _ := json.Marshal(spec)
	fap.Spec.Template.VirtualServices[0].Spec.Raw = raw
}

func updateFAP(t *testing.T, pc versioned.Interface, ns, name string, mutate func(*traffic.FederatedAccessPoint)) *traffic.FederatedAccessPoint {
	t.Helper()
	var out *traffic.FederatedAccessPoint
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(cur)
		out, err = pc.TrafficV1alpha1().FederatedAccessPoints(ns).Update(context.Background(), cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("updating %s/%s: %v", ns, name, err)
	}
	return out
}

func getFAP(pc versioned.Interface, ns, name string) (*traffic.FederatedAccessPoint, error) {
	return pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(context.Background(), name, metav1.GetOptions{})
}

func clusterEntry(fap *traffic.FederatedAccessPoint, cluster string) *traffic.ClusterStatus {
	for i := range fap.Status.Clusters {
		if fap.Status.Clusters[i].Name == cluster {
			return &fap.Status.Clusters[i]
		}
	}
	return nil
}

func condOf(fap *traffic.FederatedAccessPoint, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(fap.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{Type: typ}
}

// appliedEverywhere: the controller has seen the current generation, every
// one of want placed clusters reports the current revision applied, and the
// Applied condition is True for this generation.
func appliedEverywhere(fap *traffic.FederatedAccessPoint, want int) bool {
	c := condOf(fap, traffic.AccessPointApplied)
	if fap.Status.ObservedGeneration != fap.Generation || c.Status != metav1.ConditionTrue || c.ObservedGeneration != fap.Generation ||
		len(fap.Status.Clusters) != want || fap.Status.Revision == "" {
		return false
	}
	for _, s := range fap.Status.Clusters {
		if s.Phase != traffic.ClusterPhaseApplied || s.ObservedRevision != fap.Status.Revision {
			return false
		}
	}
	return true
}

func statusJSON(fap *traffic.FederatedAccessPoint) string {
	if fap == nil {
		return "<nil>"
	}
	b, _ := json.MarshalIndent(fap.Status, "", "  ")
	return string(b)
}

// waitFAP waits until the access point satisfies cond and returns it.
func waitFAP(t *testing.T, pc versioned.Interface, ns, name string, timeout time.Duration, what string,
	cond func(*traffic.FederatedAccessPoint) bool) *traffic.FederatedAccessPoint {
	t.Helper()
	var fap *traffic.FederatedAccessPoint
	framework.Eventually(t, timeout, fmt.Sprintf("%s/%s: %s", ns, name, what), func() (bool, string) {
		got, err := getFAP(pc, ns, name)
		if err != nil {
			return false, fmt.Sprintf("%v; last status:\n%s", err, statusJSON(fap))
		}
		fap = got
		return cond(fap), "status:\n" + statusJSON(fap)
	})
	return fap
}

// istioObjectsIn reports which of the Gateway, VirtualService and
// DestinationRule named name exist in namespace ns of a member cluster.
func istioObjectsIn(t *testing.T, f *federation, cluster, ns, name string) (gw, vs, dr bool) {
	t.Helper()
	ic := f.istio(t, cluster)
	ctx := context.Background()
	exists := func(err error) bool {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("%s: %v", cluster, err)
		}
		return err == nil
	}
	_, err := ic.NetworkingV1().Gateways(ns).Get(ctx, name, metav1.GetOptions{})
	gw = exists(err)
	_, err = ic.NetworkingV1().VirtualServices(ns).Get(ctx, name, metav1.GetOptions{})
	vs = exists(err)
	_, err = ic.NetworkingV1().DestinationRules(ns).Get(ctx, name, metav1.GetOptions{})
	dr = exists(err)
	return
}

func vsTimeout(t *testing.T, f *federation, cluster, ns, name string) time.Duration {
	t.Helper()
	vs, err := f.istio(t, cluster).NetworkingV1().VirtualServices(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("VirtualService %s/%s in %s: %v", ns, name, cluster, err)
	}
	if len(vs.Spec.Http) == 0 || vs.Spec.Http[0].Timeout == nil {
		t.Fatalf("VirtualService %s/%s in %s has no http[0].timeout: %v", ns, name, cluster, vs.Spec.Http)
	}
	return vs.Spec.Http[0].Timeout.AsDuration()
}

// expectedBackends are the gateway addresses of the clusters, with cluster and
// zone, sorted by address.
func expectedBackends(f *federation, zones map[string]string, clusters ...string) []traffic.Backend {
	var out []traffic.Backend
	for _, c := range clusters {
		for _, a := range f.members[c].GatewayAddresses {
			out = append(out, traffic.Backend{Address: a, Cluster: c, Zone: zones[c]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func sortedBackends(in []traffic.Backend) []traffic.Backend {
	out := slices.Clone(in)
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// deletionRecorder records the resourceVersion of the deletion of watched
// objects. All Portico objects live in portico-hub's one etcd, so their
// resourceVersions are that etcd's revisions and order writes across kinds.
type deletionRecorder struct {
	mu      sync.Mutex
	deleted map[string]int64
}

func (d *deletionRecorder) record(t *testing.T, label string, w watch.Interface) {
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Deleted {
				continue
			}
			m, err := meta.Accessor(ev.Object)
			if err != nil {
				continue
			}
			rv, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
			d.mu.Lock()
			d.deleted[label] = rv
			d.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
}

func (d *deletionRecorder) get(label string) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rv, ok := d.deleted[label]
	return rv, ok
}

// TestFederationExample applies manifests/examples/walkthrough/ to a federation of
// zone-a-1 and zone-b-1 and follows the access point checkout through its life:
// it becomes Ready with its objects (and zone-b-1's override) in both member
// clusters, a VIP from the pool whose backends are both clusters' gateways, and
// 2/2 clusters at the current revision; a placement change removes it from the
// cluster no longer selected within seconds; deletion removes everything and
// returns the VIP to the pool, and only after the ClusterAccessPoints are gone.
func TestFederationExample(t *testing.T) {
	zones := map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"}
	f := newFederation(t, zones)
	pc := fastClient(f.hub.RestConfig)
	ctx := context.Background()
	waitAllAvailable(t, f)
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := f.hub.KubeconfigPath

	// The MemberClusters exist already (the agents joined): applying the
	// example must still succeed.
	out := mustKubectlAs(t, kubeconfig, "apply", "-f", filepath.Join(root, "manifests", "examples", "walkthrough")+"/")
	t.Logf("kubectl apply:\n%s", out)
	for _, want := range []string{"federatedaccesspoint.traffic.portico.dev/checkout", "vippool.traffic.portico.dev/public",
		"membercluster.cluster.portico.dev/zone-a-1", "membercluster.cluster.portico.dev/zone-b-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply did not report %s", want)
		}
	}
	start := time.Now()
	mustKubectlAs(t, kubeconfig, "wait", "fap/checkout", "-n", "shop", "--for=condition=Applied", "--timeout=90s")
	t.Logf("checkout Applied %v after kubectl apply returned", time.Since(start).Round(time.Millisecond))

	// Ready means served: no edge node announces the VIP yet (this test runs no
	// L4 tier), so the access point is not Ready, and says why.
	notServed := waitFAP(t, pc, "shop", "checkout", 20*time.Second, "LoadBalancerReady False (NoLoadBalancerNodes)", func(fap *traffic.FederatedAccessPoint) bool {
		return condOf(fap, traffic.AccessPointLoadBalancerReady).Reason == "NoLoadBalancerNodes"
	})
	if c := condOf(notServed, traffic.AccessPointLoadBalancerReady); c.Status != metav1.ConditionFalse {
		t.Errorf("LoadBalancerReady = %s %s (no LoadBalancerNode exists: want False NoLoadBalancerNodes)", c.Status, c.Reason)
	}
	if c := condOf(notServed, traffic.ConditionReady); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "LoadBalancerReady (NoLoadBalancerNodes)") {
		t.Errorf("Ready = %s %q while no edge node serves the VIP; want False naming LoadBalancerReady", c.Status, c.Message)
	}
	// An edge node of zone-a announces it, as its lb-agent would: the
	// LoadBalancerNode's status and the agent's Lease.
	if notServed.Status.VIP == nil {
		t.Fatal("no status.vip")
	}
	announceAsEdgeNode(t, f.hub, pc, "edge-a-1", "zone-a", notServed.Status.VIP.Address, 2)
	mustKubectlAs(t, kubeconfig, "wait", "fap/checkout", "-n", "shop", "--for=condition=Ready", "--timeout=60s")
	t.Logf("checkout Ready %v after kubectl apply returned", time.Since(start).Round(time.Millisecond))

	fap, err := getFAP(pc, "shop", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status:\n%s", statusJSON(fap))

	// Objects in both clusters, zone-b-1 with its override.
	for cluster, want := range map[string]time.Duration{"zone-a-1": 5 * time.Second, "zone-b-1": 10 * time.Second} {
		gw, vs, dr := istioObjectsIn(t, f, cluster, "shop", "checkout")
		if !gw || !vs || !dr {
			t.Errorf("%s: Gateway %v, VirtualService %v, DestinationRule %v; want all three", cluster, gw, vs, dr)
			continue
		}
		if got := vsTimeout(t, f, cluster, "shop", "checkout"); got != want {
			t.Errorf("%s: VirtualService timeout %v, want %v", cluster, got, want)
		}
		g, err := f.istio(t, cluster).NetworkingV1().Gateways("shop").Get(ctx, "checkout", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Spec.Selector["istio"] != "ingressgateway" || len(g.Spec.Servers) != 1 || !slices.Equal(g.Spec.Servers[0].Hosts, []string{"checkout.example.com"}) {
			t.Errorf("%s: Gateway spec %v", cluster, g.Spec.String())
		}
		// The example's AuthorizationPolicy, on the gateway workload.
		ap, err := f.istio(t, cluster).SecurityV1().AuthorizationPolicies(localfed.IstioNamespace).Get(ctx, "shop.checkout.deny-admin", metav1.GetOptions{})
		if err != nil || ap.Spec.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" || ap.Spec.GetAction().String() != "DENY" {
			t.Errorf("%s: AuthorizationPolicy %s/shop.checkout.deny-admin: %v, %v; want DENY on istio: ingressgateway", cluster, localfed.IstioNamespace, ap, err)
		}
	}

	// Every placed cluster at the current revision, and its agent applied the
	// manifests its ClusterAccessPoint carries (their hash is the cluster's own).
	if fap.Status.Revision == "" || fap.Status.ObservedGeneration != fap.Generation || len(fap.Status.Clusters) != 2 {
		t.Fatalf("status: revision %q, observedGeneration %d (generation %d), %d clusters", fap.Status.Revision,
			fap.Status.ObservedGeneration, fap.Generation, len(fap.Status.Clusters))
	}
	for _, s := range fap.Status.Clusters {
		if s.ObservedRevision != fap.Status.Revision || s.Phase != traffic.ClusterPhaseApplied || s.Zone != zones[s.Name] ||
			s.Objects.Total != 4 || s.Objects.Applied != 4 || s.GatewayEndpoints != int32(len(f.members[s.Name].GatewayAddresses)) {
			t.Errorf("status.clusters entry %+v; want phase Applied at revision %s, zone %s, 4/4 objects, %d gateway endpoints",
				s, fap.Status.Revision, zones[s.Name], len(f.members[s.Name].GatewayAddresses))
		}
		cap, err := f.caps(s.Name).Get(ctx, "shop.checkout", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ClusterAccessPoint of %s: %v", s.Name, err)
		}
		if cap.Spec.Revision == "" || cap.Status.ObservedRevision != cap.Spec.Revision || cap.Spec.AccessPointRef.UID != fap.UID {
			t.Errorf("ClusterAccessPoint of %s: revision %q observedRevision %q uid %q; want it applied, uid %q", s.Name,
				cap.Spec.Revision, cap.Status.ObservedRevision, cap.Spec.AccessPointRef.UID, fap.UID)
		}
	}
	for _, typ := range []string{traffic.AccessPointPlaced, traffic.AccessPointApplied, traffic.AccessPointVIPAllocated,
		traffic.AccessPointLoadBalancerReady, traffic.ConditionReady} {
		if c := condOf(fap, typ); c.Status != metav1.ConditionTrue || c.ObservedGeneration != fap.Generation {
			t.Errorf("condition %s = %s (%s: %s), observedGeneration %d", typ, c.Status, c.Reason, c.Message, c.ObservedGeneration)
		}
	}

	// The VIP: from the pool, a VirtualIP of that name owned by shop/checkout,
	// with both clusters' gateways as backends.
	if fap.Status.VIP == nil {
		t.Fatal("no status.vip")
	}
	address := fap.Status.VIP.Address
	addr, err := netip.ParseAddr(address)
	if err != nil || !netip.MustParsePrefix("203.0.113.0/24").Contains(addr) || strings.HasSuffix(address, ".0") || strings.HasSuffix(address, ".255") {
		t.Fatalf("status.vip.address %q is not an allocatable address of 203.0.113.0/24 (avoidBuggyIPs)", address)
	}
	if fap.Status.VIP.Pool != "public" {
		t.Errorf("status.vip.pool = %q", fap.Status.VIP.Pool)
	}
	want := expectedBackends(f, zones, "zone-a-1", "zone-b-1")
	var vip *traffic.VirtualIP
	framework.Eventually(t, 15*time.Second, "VirtualIP with both clusters' backends", func() (bool, string) {
		vip, err = pc.TrafficV1alpha1().VirtualIPs().Get(ctx, address, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(sortedBackends(vip.Spec.Backends), want), ""
	})
	if o := vip.Spec.Owner; o == nil || o.Namespace != "shop" || o.Name != "checkout" || o.UID != fap.UID {
		t.Errorf("VirtualIP owner %+v, want shop/checkout uid %s", o, fap.UID)
	}
	if vip.Spec.Address != address || vip.Spec.Pool != "public" || vip.Spec.Scheduler != traffic.SchedulerMaglev ||
		vip.Spec.Forwarding != traffic.ForwardingTunnel || len(vip.Spec.Ports) != 1 || vip.Spec.Ports[0].Port != 80 {
		t.Errorf("VirtualIP spec %+v", vip.Spec)
	}
	if groups := slices.Sorted(slices.Values(vip.Spec.Groups)); !slices.Equal(groups, []string{"zone-a", "zone-b"}) {
		t.Errorf("VirtualIP groups %v, want the LoadBalancerGroups of the pool's zones [zone-a zone-b]", vip.Spec.Groups)
	}
	if fap.Status.VIP.TotalBackends != int32(len(want)) {
		t.Errorf("status.vip.totalBackends = %d, want %d", fap.Status.VIP.TotalBackends, len(want))
	}
	framework.Eventually(t, 15*time.Second, "pool public: 1 allocated", func() (bool, string) {
		p, err := pc.TrafficV1alpha1().VIPPools().Get(ctx, "public", metav1.GetOptions{})
		return err == nil && p.Status.Allocated == 1 && p.Status.Total == 254 && p.Status.Available == 253, fmt.Sprint(err)
	})

	// What a user sees.
	tb := parseTable(t, mustKubectlAs(t, kubeconfig, "get", "fap", "-n", "shop"))
	row := tb.row("checkout")
	if row == nil || row["CLUSTERS"] != "2/2" || row["READY"] != "True" || row["VIP"] != address || row["HOSTS"] != "checkout.example.com" {
		t.Errorf("kubectl get fap: row %v; want CLUSTERS 2/2, READY True, VIP %s", row, address)
	}

	// zone-b-1's override changes: a new revision, but only zone-b-1's
	// ClusterAccessPoint is rewritten; zone-a-1, whose manifests are the
	// same, is on the new revision as it is (issue 18).
	capA, err := f.caps("zone-a-1").Get(ctx, "shop.checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	capB, err := f.caps("zone-b-1").Get(ctx, "shop.checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vsA := vsResourceVersion(t, f, "zone-a-1", "shop", "checkout")
	overridden := updateFAP(t, pc, "shop", "checkout", func(f *traffic.FederatedAccessPoint) {
		f.Spec.Overrides[0].ClusterOverrides[0].Value = &traffic.JSONValue{Raw: []byte(`"12s"`)}
	})
	fap = waitFAP(t, pc, "shop", "checkout", 30*time.Second, "revision 2 applied on both clusters", func(fap *traffic.FederatedAccessPoint) bool {
		r := fap.Status.Rollout
		return fap.Generation == overridden.Generation && appliedEverywhere(fap, 2) && r != nil && r.Revision == 2 &&
			fap.Status.Clusters[0].Revision == 2 && fap.Status.Clusters[1].Revision == 2
	})
	if got := vsTimeout(t, f, "zone-b-1", "shop", "checkout"); got != 12*time.Second {
		t.Errorf("zone-b-1: VirtualService timeout %v after its override changed, want 12s", got)
	}
	if capA2, err := f.caps("zone-a-1").Get(ctx, "shop.checkout", metav1.GetOptions{}); err != nil ||
		capA2.ResourceVersion != capA.ResourceVersion || capA2.Generation != capA.Generation {
		t.Errorf("zone-a-1's ClusterAccessPoint was rewritten by zone-b-1's override (%v): resourceVersion %s -> %s, generation %d -> %d",
			err, capA.ResourceVersion, capA2.ResourceVersion, capA.Generation, capA2.Generation)
	}
	if rv := vsResourceVersion(t, f, "zone-a-1", "shop", "checkout"); rv != vsA {
		t.Errorf("zone-a-1's VirtualService was touched by zone-b-1's override: resourceVersion %s -> %s", vsA, rv)
	}
	if capB2, err := f.caps("zone-b-1").Get(ctx, "shop.checkout", metav1.GetOptions{}); err != nil ||
		capB2.Generation != capB.Generation+1 || capB2.Spec.AccessPointRevision != 2 {
		t.Errorf("zone-b-1's ClusterAccessPoint (%v): generation %d -> %d, accessPointRevision %d; want one rewrite, for revision 2",
			err, capB.Generation, capB2.Generation, capB2.Spec.AccessPointRevision)
	}

	// Placement change: only zone-a. zone-b-1 loses everything within seconds.
	changed := time.Now()
	updateFAP(t, pc, "shop", "checkout", func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Zones = []string{"zone-a"} })
	framework.Eventually(t, 20*time.Second, "checkout removed from zone-b-1", func() (bool, string) {
		gw, vs, dr := istioObjectsIn(t, f, "zone-b-1", "shop", "checkout")
		_, err := f.caps("zone-b-1").Get(ctx, "shop.checkout", metav1.GetOptions{})
		return !gw && !vs && !dr && apierrors.IsNotFound(err), ""
	})
	took := time.Since(changed)
	t.Logf("placement change -> objects and ClusterAccessPoint gone from zone-b-1 in %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("removing config from the cluster no longer selected took %v; want seconds", took)
	}
	if gw, vs, dr := istioObjectsIn(t, f, "zone-a-1", "shop", "checkout"); !gw || !vs || !dr {
		t.Errorf("zone-a-1 lost objects on a placement change that keeps it: Gateway %v, VirtualService %v, DestinationRule %v", gw, vs, dr)
	}
	if _, err := f.caps("zone-a-1").Get(ctx, "shop.checkout", metav1.GetOptions{}); err != nil {
		t.Errorf("ClusterAccessPoint of zone-a-1: %v", err)
	}
	fap = waitFAP(t, pc, "shop", "checkout", 20*time.Second, "placed on zone-a-1 only, Ready", func(fap *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(fap, 1) && fap.Status.Clusters[0].Name == "zone-a-1" && condOf(fap, traffic.ConditionReady).Status == metav1.ConditionTrue
	})
	wantA := expectedBackends(f, zones, "zone-a-1")
	framework.Eventually(t, 15*time.Second, "VirtualIP backends: zone-a-1's gateways only", func() (bool, string) {
		vip, err = pc.TrafficV1alpha1().VirtualIPs().Get(ctx, address, metav1.GetOptions{})
		return err == nil && slices.Equal(sortedBackends(vip.Spec.Backends), wantA), fmt.Sprint(err)
	})
	if row := parseTable(t, mustKubectlAs(t, kubeconfig, "get", "fap", "-n", "shop")).row("checkout"); row == nil || row["CLUSTERS"] != "1/1" || row["VIP"] != address {
		t.Errorf("kubectl get fap after the placement change: %v; want CLUSTERS 1/1 and the same VIP", row)
	}

	// Deletion: everything goes, the VIP returns to the pool, and the VIP is
	// released only after the ClusterAccessPoint is gone.
	rec := &deletionRecorder{deleted: map[string]int64{}}
	cw, err := f.caps("zone-a-1").Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "shop.checkout").String()})
	if err != nil {
		t.Fatal(err)
	}
	rec.record(t, "cap", cw)
	vw, err := pc.TrafficV1alpha1().VirtualIPs().Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", address).String()})
	if err != nil {
		t.Fatal(err)
	}
	rec.record(t, "vip", vw)
	deleted := time.Now()
	mustKubectlAs(t, kubeconfig, "delete", "fap/checkout", "-n", "shop", "--timeout=60s")
	t.Logf("kubectl delete returned after %v", time.Since(deleted).Round(time.Millisecond))
	if _, err := getFAP(pc, "shop", "checkout"); !apierrors.IsNotFound(err) {
		t.Errorf("checkout still exists after kubectl delete: %v", err)
	}
	framework.Eventually(t, 20*time.Second, "objects removed from both clusters", func() (bool, string) {
		for _, c := range []string{"zone-a-1", "zone-b-1"} {
			if gw, vs, dr := istioObjectsIn(t, f, c, "shop", "checkout"); gw || vs || dr {
				return false, ""
			}
			if _, err := f.caps(c).Get(ctx, "shop.checkout", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, fmt.Sprint(err)
			}
		}
		return true, ""
	})
	if _, err := pc.TrafficV1alpha1().VirtualIPs().Get(ctx, address, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("VirtualIP %s still exists after the access point was deleted: %v", address, err)
	}
	framework.Eventually(t, 15*time.Second, "pool public: 0 allocated", func() (bool, string) {
		p, err := pc.TrafficV1alpha1().VIPPools().Get(ctx, "public", metav1.GetOptions{})
		return err == nil && p.Status.Allocated == 0 && p.Status.Available == 254, fmt.Sprint(err)
	})
	framework.Eventually(t, 10*time.Second, "both deletions seen by the watches", func() (bool, string) {
		_, a := rec.get("cap")
		_, b := rec.get("vip")
		return a && b, ""
	})
	capRV, _ := rec.get("cap")
	vipRV, _ := rec.get("vip")
	if vipRV <= capRV {
		t.Errorf("the VirtualIP was deleted (revision %d) before the ClusterAccessPoint (revision %d)", vipRV, capRV)
	}
	t.Logf("deletion revisions: ClusterAccessPoint %d, then VirtualIP %d", capRV, vipRV)
}

// TestFederationUnavailableCluster stops zone-b-1's agent: after the grace its
// status.clusters entry says Unavailable, its objects stay in zone-b-1, and a
// spec change made meanwhile reaches zone-a-1 but leaves zone-b-1's
// ClusterAccessPoint untouched; once the agent is back zone-b-1 catches up.
func TestFederationUnavailableCluster(t *testing.T) {
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"})
	pc := fastClient(f.hub.RestConfig)
	ctx := context.Background()
	waitAllAvailable(t, f)
	createHubNamespace(t, f.hub, "shop")
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx,
		fedAccessPoint("shop", "web", []string{"web.example.com"}, "5s"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fap := waitFAP(t, pc, "shop", "web", 60*time.Second, "applied on both clusters", func(f *traffic.FederatedAccessPoint) bool { return appliedEverywhere(f, 2) })
	r1 := fap.Status.Revision
	capB, err := f.caps("zone-b-1").Get(ctx, "shop.web", metav1.GetOptions{})
	if err != nil || capB.Spec.Revision == "" || capB.Status.ObservedRevision != capB.Spec.Revision {
		t.Fatalf("zone-b-1's ClusterAccessPoint: %v, revision %q, observedRevision %q", err, capB.Spec.Revision, capB.Status.ObservedRevision)
	}

	if err := f.agents["zone-b-1"].Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	fap = waitFAP(t, pc, "shop", "web", leaseGrace+20*time.Second, "zone-b-1 Unavailable", func(f *traffic.FederatedAccessPoint) bool {
		s := clusterEntry(f, "zone-b-1")
		return s != nil && s.Phase == traffic.ClusterPhaseUnavailable
	})
	waited := time.Since(stopped)
	t.Logf("zone-b-1 Unavailable in the access point's status %v after its agent stopped (grace %v)", waited.Round(time.Millisecond), leaseGrace)
	if waited < leaseGrace-2*time.Second {
		t.Errorf("zone-b-1 reported Unavailable after %v, before the %v grace", waited, leaseGrace)
	}
	if s := clusterEntry(fap, "zone-b-1"); s.ObservedRevision != r1 || s.Message == "" {
		t.Errorf("zone-b-1 entry %+v; want observedRevision %s and a message", s, r1)
	}
	if s := clusterEntry(fap, "zone-a-1"); s == nil || s.Phase != traffic.ClusterPhaseApplied {
		t.Errorf("zone-a-1 entry %+v; want Applied", s)
	}
	if c := condOf(fap, traffic.AccessPointApplied); c.Status != metav1.ConditionFalse || c.Reason != "ClustersUnavailable" || !strings.Contains(c.Message, "zone-b-1") {
		t.Errorf("Applied = %s %s %q; want False ClustersUnavailable naming zone-b-1", c.Status, c.Reason, c.Message)
	}
	if c := condOf(fap, traffic.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %s while a placed cluster is unavailable", c.Status)
	}
	if gw, vs, dr := istioObjectsIn(t, f, "zone-b-1", "shop", "web"); !gw || !vs || !dr {
		t.Errorf("zone-b-1 lost objects while unavailable: Gateway %v, VirtualService %v, DestinationRule %v", gw, vs, dr)
	}
	capB, err = f.caps("zone-b-1").Get(ctx, "shop.web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("zone-b-1's ClusterAccessPoint is gone while the cluster is unavailable: %v", err)
	}

	// A change while zone-b-1 is unavailable goes to zone-a-1 only.
	updated := updateFAP(t, pc, "shop", "web", func(f *traffic.FederatedAccessPoint) { setVSTimeout(f, "7s") })
	fap = waitFAP(t, pc, "shop", "web", 30*time.Second, "zone-a-1 applied the new revision", func(f *traffic.FederatedAccessPoint) bool {
		s := clusterEntry(f, "zone-a-1")
		return f.Status.ObservedGeneration == updated.Generation && f.Status.Revision != r1 &&
			s != nil && s.Phase == traffic.ClusterPhaseApplied && s.ObservedRevision == f.Status.Revision
	})
	r2 := fap.Status.Revision
	if got := vsTimeout(t, f, "zone-a-1", "shop", "web"); got != 7*time.Second {
		t.Errorf("zone-a-1 VirtualService timeout %v, want 7s", got)
	}
	// Not a wait: for 2s nothing may reach zone-b-1 (a wrong write would show).
	time.Sleep(2 * time.Second)
	fap, _ = getFAP(pc, "shop", "web")
	if s := clusterEntry(fap, "zone-b-1"); s == nil || s.Phase != traffic.ClusterPhaseUnavailable || s.ObservedRevision != r1 {
		t.Errorf("zone-b-1 entry after the change %+v; want Unavailable at %s", s, r1)
	}
	capB2, err := f.caps("zone-b-1").Get(ctx, "shop.web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if capB2.Spec.Revision != capB.Spec.Revision || capB2.ResourceVersion != capB.ResourceVersion {
		t.Errorf("zone-b-1's ClusterAccessPoint was rewritten while the cluster was unavailable (access point revision %s -> %s): revision %q (was %q), resourceVersion %s (was %s)",
			r1, r2, capB2.Spec.Revision, capB.Spec.Revision, capB2.ResourceVersion, capB.ResourceVersion)
	}
	if got := vsTimeout(t, f, "zone-b-1", "shop", "web"); got != 5*time.Second {
		t.Errorf("zone-b-1 VirtualService timeout %v while unavailable, want its last config 5s", got)
	}

	// Back: zone-b-1 catches up.
	if err := f.agents["zone-b-1"].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	fap = waitFAP(t, pc, "shop", "web", 60*time.Second, "zone-b-1 caught up", func(f *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(f, 2) && f.Status.Revision == r2 && condOf(f, traffic.ConditionReady).Status == metav1.ConditionTrue
	})
	t.Logf("zone-b-1 Applied at the new revision %v after its agent restarted", time.Since(back).Round(time.Millisecond))
	if got := vsTimeout(t, f, "zone-b-1", "shop", "web"); got != 7*time.Second {
		t.Errorf("zone-b-1 VirtualService timeout %v after catching up, want 7s", got)
	}
	if capB3, err := f.caps("zone-b-1").Get(ctx, "shop.web", metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if capB3.Spec.Revision == capB.Spec.Revision || capB3.Status.ObservedRevision != capB3.Spec.Revision || capB3.Spec.AccessPointRevision != 2 {
		t.Errorf("zone-b-1's ClusterAccessPoint after catching up: revision %q (%d), observedRevision %q; want revision 2's manifests (not %q) applied",
			capB3.Spec.Revision, capB3.Spec.AccessPointRevision, capB3.Status.ObservedRevision, capB.Spec.Revision)
	}
}

// TestFederationVIPPoolOf200 creates 200 access points concurrently from a pool
// of exactly 200 addresses: 200 distinct VIPs, each a VirtualIP owned by its
// access point; the 201st gets VIPAllocated=False Exhausted while the pool says
// Exhausted; deleting one access point gives the 201st that address.
func TestFederationVIPPoolOf200(t *testing.T) {
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a"})
	pc := fastClient(f.hub.RestConfig)
	ctx := context.Background()
	waitAllAvailable(t, f)
	const ns, pool, n = "vips", "p200", 200
	createHubNamespace(t, f.hub, ns)
	if _, err := pc.TrafficV1alpha1().VIPPools().Create(ctx, &traffic.VIPPool{
		ObjectMeta: metav1.ObjectMeta{Name: pool},
		Spec:       traffic.VIPPoolSpec{CIDRs: []string{"198.51.100.1-198.51.100.200"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	newAP := func(i int) *traffic.FederatedAccessPoint {
		name := fmt.Sprintf("ap-%03d", i)
		fap := fedAccessPoint(ns, name, []string{name + ".vips.example.com"}, "5s")
		fap.Spec.LoadBalancer = &traffic.LoadBalancerSpec{Pool: pool, Ports: []traffic.Port{{Name: "http", Port: 80}}}
		return fap
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 10 {
				if _, err := pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, newAP(i), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	created := time.Since(start)

	var list *traffic.FederatedAccessPointList
	framework.Eventually(t, 4*time.Minute, "200 access points with a VIP", func() (bool, string) {
		var err error
		list, err = pc.TrafficV1alpha1().FederatedAccessPoints(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		done := 0
		for i := range list.Items {
			if fap := &list.Items[i]; fap.Status.VIP != nil && fap.Status.VIP.Address != "" &&
				condOf(fap, traffic.AccessPointVIPAllocated).Status == metav1.ConditionTrue {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d", done, n)
	})
	t.Logf("200 access points created in %v, all with a VIP after %v", created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	rng := netip.MustParseAddr("198.51.100.1")
	inRange := func(a string) bool {
		x, err := netip.ParseAddr(a)
		return err == nil && x.Compare(rng) >= 0 && x.Compare(netip.MustParseAddr("198.51.100.200")) <= 0
	}
	byAddress := map[string]*traffic.FederatedAccessPoint{}
	for i := range list.Items {
		fap := &list.Items[i]
		a := fap.Status.VIP.Address
		if other, dup := byAddress[a]; dup {
			t.Errorf("%s holds %s as well as %s", fap.Name, a, other.Name)
		}
		if !inRange(a) {
			t.Errorf("%s got %s, outside the pool", fap.Name, a)
		}
		byAddress[a] = fap
	}
	vips, err := pc.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vips.Items) != n {
		t.Errorf("%d VirtualIPs, want %d", len(vips.Items), n)
	}
	for _, v := range vips.Items {
		fap := byAddress[v.Name]
		if fap == nil || v.Spec.Owner == nil || v.Spec.Owner.UID != fap.UID || v.Spec.Owner.Name != fap.Name || v.Spec.Address != v.Name || v.Spec.Pool != pool {
			t.Errorf("VirtualIP %s (owner %+v, pool %s) does not match the access point reporting it (%v)", v.Name, v.Spec.Owner, v.Spec.Pool, fap != nil)
		}
	}
	poolStatus := func(allocated int64, exhausted metav1.ConditionStatus) func() (bool, string) {
		return func() (bool, string) {
			p, err := pc.TrafficV1alpha1().VIPPools().Get(ctx, pool, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(p.Status.Conditions, traffic.VIPPoolExhausted)
			return p.Status.Total == n && p.Status.Allocated == allocated && p.Status.Available == n-allocated &&
				c != nil && c.Status == exhausted, fmt.Sprintf("status %+v", p.Status)
		}
	}
	framework.Eventually(t, 20*time.Second, "pool: 200 allocated, 0 available, Exhausted True", poolStatus(n, metav1.ConditionTrue))

	// The 201st.
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, newAP(n), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprintf("ap-%03d", n)
	fap := waitFAP(t, pc, ns, last, 30*time.Second, "VIPAllocated False Exhausted", func(f *traffic.FederatedAccessPoint) bool {
		c := condOf(f, traffic.AccessPointVIPAllocated)
		return c.Status == metav1.ConditionFalse && c.Reason == "Exhausted"
	})
	if fap.Status.VIP != nil && fap.Status.VIP.Address != "" {
		t.Errorf("the 201st reports address %s from an exhausted pool", fap.Status.VIP.Address)
	}
	if c := condOf(fap, traffic.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("the 201st is Ready = %s without a VIP", c.Status)
	}
	if vips, _ := pc.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{}); len(vips.Items) != n {
		t.Errorf("%d VirtualIPs after the 201st, want %d", len(vips.Items), n)
	}

	// Free one: the 201st gets exactly that address.
	victim := byAddress["198.51.100.123"]
	if victim == nil {
		t.Fatal("nobody holds 198.51.100.123")
	}
	freed := time.Now()
	if err := pc.TrafficV1alpha1().FederatedAccessPoints(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	fap = waitFAP(t, pc, ns, last, 60*time.Second, "the 201st gets the freed address", func(f *traffic.FederatedAccessPoint) bool {
		return condOf(f, traffic.AccessPointVIPAllocated).Status == metav1.ConditionTrue && f.Status.VIP != nil && f.Status.VIP.Address != ""
	})
	t.Logf("the 201st got %s %v after %s was deleted", fap.Status.VIP.Address, time.Since(freed).Round(time.Millisecond), victim.Name)
	if fap.Status.VIP.Address != "198.51.100.123" {
		t.Errorf("the 201st got %s, want the freed 198.51.100.123", fap.Status.VIP.Address)
	}
	v, err := pc.TrafficV1alpha1().VirtualIPs().Get(ctx, fap.Status.VIP.Address, metav1.GetOptions{})
	if err != nil || v.Spec.Owner == nil || v.Spec.Owner.UID != fap.UID {
		t.Errorf("VirtualIP %s: %v, owner %+v; want %s", fap.Status.VIP.Address, err, v.Spec.Owner, fap.UID)
	}
	framework.Eventually(t, 20*time.Second, "pool: 200 allocated again", poolStatus(n, metav1.ConditionTrue))
}

// TestFederationHostConflict: two access points claim the same host on a
// shared cluster. The later one is not rendered there and says why, naming the
// earlier; on the cluster they do not share it is rendered. Changing the
// earlier one's host, or deleting it, renders the waiting one — promptly, not
// at the next periodic requeue (the grace is 60s here so that the
// MemberCluster heartbeat refresh does not requeue every access point).
func TestFederationHostConflict(t *testing.T) {
	f := newFederationGrace(t, map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"}, 60*time.Second)
	pc := f.pc
	ctx := context.Background()
	waitAllAvailable(t, f)
	createHubNamespace(t, f.hub, "shop")
	faps := pc.TrafficV1alpha1().FederatedAccessPoints("shop")

	// The earlier one, on zone-a only. Named so that it would lose a tie by
	// name: only age may decide.
	older := fedAccessPoint("shop", "web-b", []string{"shared.example.com"}, "5s")
	older.Spec.Placement = &traffic.Placement{Zones: []string{"zone-a"}}
	older, err := faps.Create(ctx, older, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFAP(t, pc, "shop", "web-b", 60*time.Second, "applied", func(f *traffic.FederatedAccessPoint) bool { return appliedEverywhere(f, 1) })
	// creationTimestamp has a resolution of one second.
	framework.Eventually(t, 3*time.Second, "a creationTimestamp later than web-b's", func() (bool, string) {
		return time.Now().After(older.CreationTimestamp.Add(1100 * time.Millisecond)), time.Now().String()
	})
	// The later one, on both zones.
	if _, err := faps.Create(ctx, fedAccessPoint("shop", "web-a", []string{"other.example.com", "shared.example.com"}, "5s"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fap := waitFAP(t, pc, "shop", "web-a", 60*time.Second, "HostConflict, rendered on zone-b-1", func(f *traffic.FederatedAccessPoint) bool {
		s := clusterEntry(f, "zone-b-1")
		return condOf(f, traffic.AccessPointPlaced).Reason == "HostConflict" && s != nil && s.Phase == traffic.ClusterPhaseApplied
	})
	placed := condOf(fap, traffic.AccessPointPlaced)
	if placed.Status != metav1.ConditionFalse || !strings.Contains(placed.Message, "shop/web-b") || !strings.Contains(placed.Message, "shared.example.com") ||
		!strings.Contains(placed.Message, "zone-a-1") {
		t.Errorf("Placed = %s %s %q; want False HostConflict naming shop/web-b, the host and zone-a-1", placed.Status, placed.Reason, placed.Message)
	}
	if s := clusterEntry(fap, "zone-a-1"); s == nil || s.Phase != traffic.ClusterPhaseFailed || !strings.Contains(s.Message, "shop/web-b") {
		t.Errorf("zone-a-1 entry %+v; want Failed naming shop/web-b", s)
	}
	if c := condOf(fap, traffic.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %s with a host conflict", c.Status)
	}
	if _, err := f.caps("zone-a-1").Get(ctx, "shop.web-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the later access point has a ClusterAccessPoint on the shared cluster zone-a-1: %v", err)
	}
	if gw, _, _ := istioObjectsIn(t, f, "zone-a-1", "shop", "web-a"); gw {
		t.Error("the later access point's Gateway is in zone-a-1")
	}
	if gw, vs, dr := istioObjectsIn(t, f, "zone-b-1", "shop", "web-a"); !gw || !vs || !dr {
		t.Errorf("the later access point is not rendered on zone-b-1, which it does not share: %v %v %v", gw, vs, dr)
	}
	if o, _ := getFAP(pc, "shop", "web-b"); o == nil || condOf(o, traffic.AccessPointPlaced).Status != metav1.ConditionTrue {
		t.Errorf("the earlier access point lost its placement: %s", statusJSON(o))
	}

	// renderedOnA waits for web-a to be rendered and applied on zone-a-1 and
	// reports how long that took.
	renderedOnA := func(what string) {
		t.Helper()
		start := time.Now()
		waitFAP(t, pc, "shop", "web-a", 80*time.Second, what, func(f *traffic.FederatedAccessPoint) bool {
			return appliedEverywhere(f, 2) && condOf(f, traffic.AccessPointPlaced).Status == metav1.ConditionTrue
		})
		took := time.Since(start)
		t.Logf("%s: the waiting access point rendered on zone-a-1 after %v", what, took.Round(time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("%s: rendering the waiting access point took %v; want seconds. The access point controller does not requeue "+
				"the access points that lost a host conflict when the winner changes; they wait for the next MemberCluster update "+
				"(--cluster-lease-grace, 60s here, 40s by default) or the informer resync", what, took.Round(time.Second))
		}
		if gw, vs, dr := istioObjectsIn(t, f, "zone-a-1", "shop", "web-a"); !gw || !vs || !dr {
			t.Errorf("%s: web-a not in zone-a-1: %v %v %v", what, gw, vs, dr)
		}
	}

	// Resolve by moving the earlier one to another host.
	updateFAP(t, pc, "shop", "web-b", func(f *traffic.FederatedAccessPoint) { setHosts(f, "moved.example.com") })
	renderedOnA("earlier access point's host changed")

	// Again with deletion: a third, later one claims moved.example.com on
	// zone-a-1 and waits; deleting web-b renders it.
	third := fedAccessPoint("shop", "web-0", []string{"moved.example.com"}, "5s")
	third.Spec.Placement = &traffic.Placement{Clusters: []traffic.ClusterReference{{Name: "zone-a-1"}}}
	if _, err := faps.Create(ctx, third, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFAP(t, pc, "shop", "web-0", 30*time.Second, "HostConflict with web-b", func(f *traffic.FederatedAccessPoint) bool {
		c := condOf(f, traffic.AccessPointPlaced)
		return c.Reason == "HostConflict" && strings.Contains(c.Message, "shop/web-b")
	})
	if _, err := f.caps("zone-a-1").Get(ctx, "shop.web-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("web-0 rendered on zone-a-1 despite the conflict: %v", err)
	}
	if err := faps.Delete(ctx, "web-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFAP(t, pc, "shop", "web-0", 80*time.Second, "rendered after web-b was deleted", func(f *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(f, 1) && condOf(f, traffic.AccessPointPlaced).Status == metav1.ConditionTrue
	})
	took := time.Since(start)
	t.Logf("earlier access point deleted: the waiting one rendered after %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("earlier access point deleted: rendering the waiting one took %v; want seconds (see above)", took.Round(time.Second))
	}
}

// TestFederationLeaderElection runs two portico-hub replicas on one external
// etcd. Exactly one of them leads (holds the Lease portico-system/portico-hub
// and runs the controllers); killing it hands the Lease to the other within
// seconds, and the other's controllers then do the work. It hands over twice:
// first when the leader is the replica the hub cluster does not route the
// Portico API to, then, after the first one came back (as a follower), when the
// leader is also the one serving the API and crashes (SIGKILL: the Lease is not
// released and has to expire; the APIServices are pointed at the survivor, as
// a Service would route around a dead pod).
func TestFederationLeaderElection(t *testing.T) {
	etcd := framework.NewEtcd(t)
	hub := framework.NewHubCluster(t)
	// Both replicas encrypt and decrypt with the same key.
	opts := framework.PorticoHubOptions{EtcdServers: []string{etcd.ClientURL}, ExtraArgs: []string{"--cluster-lease-grace=6s"},
		EncryptionConfig: filepath.Join(t.TempDir(), "encryption.yaml")}
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	pc := fastClient(hub.RestConfig)

	lease := func() (holder string, renewed time.Time, err error) {
		l, err := kube.CoordinationV1().Leases(localfed.PorticoNamespace).Get(ctx, "portico-hub", metav1.GetOptions{})
		if err != nil {
			return "", time.Time{}, err
		}
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		if l.Spec.RenewTime != nil {
			renewed = l.Spec.RenewTime.Time
		}
		return holder, renewed, nil
	}
	// logFrom is where each replica's current run starts in its log.
	logFrom := map[*framework.PorticoHub]int64{}
	running := func(p *framework.PorticoHub) bool {
		data, _ := os.ReadFile(p.Process.LogPath)
		if off := logFrom[p]; off <= int64(len(data)) {
			data = data[off:]
		}
		return strings.Contains(string(data), "Starting controllers")
	}
	newLeader := func(old string, survivor *framework.PorticoHub, since time.Time) string {
		t.Helper()
		var h string
		framework.Eventually(t, 30*time.Second, "a new holder of the Lease", func() (bool, string) {
			var renewed time.Time
			var err error
			h, renewed, err = lease()
			return h != "" && h != old && time.Since(renewed) < 15*time.Second, fmt.Sprint(err)
		})
		t.Logf("Lease taken by %q %v after the leader was stopped", h, time.Since(since).Round(time.Millisecond))
		framework.Eventually(t, 10*time.Second, "the survivor runs the controllers", func() (bool, string) { return running(survivor), "" })
		return h
	}
	// stable checks that the Lease stays with holder and that follower does
	// not run the controllers, for longer than the election's retry period.
	stable := func(holder string, follower *framework.PorticoHub) {
		t.Helper()
		time.Sleep(5 * time.Second) // not a wait: nothing may change during it
		if h, _, err := lease(); err != nil || h != holder {
			t.Fatalf("the Lease changed hands without a failure: %q -> %q (%v)", holder, h, err)
		}
		if running(follower) {
			t.Fatal("both replicas run the controllers")
		}
	}

	r0 := framework.NewPorticoHub(t, hub, opts)
	var holder string
	framework.Eventually(t, 60*time.Second, "a holder of the Lease", func() (bool, string) {
		var err error
		holder, _, err = lease()
		return holder != "", fmt.Sprint(err)
	})
	framework.Eventually(t, 30*time.Second, "replica 0 runs the controllers", func() (bool, string) { return running(r0), "" })
	// The second replica registers the APIServices to itself.
	r1 := framework.NewPorticoHub(t, hub, opts)
	stable(holder, r1)
	t.Logf("replica 0 (pid %d) leads as %q; replica 1 (pid %d) follows and serves the API", r0.Process.PID, holder, r1.Process.PID)

	sims := startSimClusters(t, hub, map[string]string{"sim-a": "zone-a", "sim-b": "zone-b"}, simOptions{Heartbeat: time.Second})
	createHubNamespace(t, hub, "ha")
	workInBothClusters := func(name string, timeout time.Duration) {
		t.Helper()
		if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("ha").Create(ctx,
			fedAccessPoint("ha", name, []string{name + ".ha.example.com"}, "5s"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, timeout, name+": ClusterAccessPoints in both clusters, applied", func() (bool, string) {
			for c := range sims {
				cap, err := pc.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(c)).Get(ctx, "ha."+name, metav1.GetOptions{})
				if err != nil || cap.Status.ObservedRevision != cap.Spec.Revision {
					return false, fmt.Sprint(err)
				}
			}
			fap, err := getFAP(pc, "ha", name)
			return err == nil && appliedEverywhere(fap, 2), fmt.Sprint(err)
		})
		for c, sc := range sims {
			if sc.Applier.Get("Gateway", "ha", name) == nil {
				t.Errorf("%s: the simulated agent did not apply the Gateway of %s", c, name)
			}
		}
	}
	changeReachesBoth := func(name, timeout string) {
		t.Helper()
		updated := updateFAP(t, pc, "ha", name, func(f *traffic.FederatedAccessPoint) { setVSTimeout(f, timeout) })
		waitFAP(t, pc, "ha", name, 30*time.Second, "change applied", func(f *traffic.FederatedAccessPoint) bool {
			return f.Status.ObservedGeneration == updated.Generation && appliedEverywhere(f, 2)
		})
		for c, sc := range sims {
			if raw := sc.Applier.Get("VirtualService", "ha", name); !strings.Contains(string(raw), strconv.Quote(timeout)) {
				t.Errorf("%s: VirtualService of %s after the change: %s", c, name, raw)
			}
		}
	}
	workInBothClusters("first", 60*time.Second)

	// 1. The leader, not serving the API, dies.
	killed := time.Now()
	if err := r0.Stop(); err != nil {
		t.Fatal(err)
	}
	holder = newLeader(holder, r1, killed)
	workInBothClusters("second", 60*time.Second)
	changeReachesBoth("first", "9s")

	// Replica 0 comes back (registering the API to itself) and follows.
	info, _ := os.Stat(r0.Process.LogPath)
	logFrom[r0] = info.Size()
	if err := r0.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	stable(holder, r0)

	// 2. The leader serves the API and dies: the API is pointed at the
	// survivor.
	api := func(p *framework.PorticoHub) localfed.AggregatedAPI {
		return localfed.AggregatedAPI{Namespace: localfed.PorticoNamespace, ServiceName: localfed.PorticoServiceName,
			Port: p.Port, CABundle: p.CA.CertPEM, GroupVersions: localfed.PorticoGroupVersions}
	}
	register := func(p *framework.PorticoHub) {
		t.Helper()
		if err := hub.RegisterAggregatedAPI(ctx, api(p)); err != nil {
			t.Fatal(err)
		}
		if err := hub.WaitForAPIServicesAvailable(ctx, api(p).APIServiceNames()...); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 30*time.Second, "Portico API served", func() (bool, string) {
			_, err := pc.TrafficV1alpha1().FederatedAccessPoints("ha").List(ctx, metav1.ListOptions{})
			return err == nil, ""
		})
	}
	register(r1)
	// This time a crash: SIGKILL, so the Lease is not released and must
	// expire (15s) before the survivor takes it.
	killed = time.Now()
	if err := syscall.Kill(r1.Process.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r1.Process.Done()
	newLeader(holder, r0, killed)
	register(r0)
	workInBothClusters("third", 60*time.Second)
	changeReachesBoth("second", "11s")
}

// TestFederationManyMemberClusters: with 16 simulated member clusters renewing
// their Leases every second (the Lease traffic of 160 agents at the default
// 10s interval), the hub still prepares a newly joined cluster and reports it
// Available within seconds, and reports a cluster whose agent stopped
// Unknown soon after the grace.
func TestFederationManyMemberClusters(t *testing.T) {
	const grace = 6 * time.Second
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--cluster-lease-grace=" + grace.String()}})
	pc := fastClient(hub.RestConfig)
	available := func(name string) metav1.ConditionStatus {
		mc, err := pc.ClusterV1alpha1().MemberClusters().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable); c != nil {
			return c.Status
		}
		return ""
	}
	zones := map[string]string{}
	for i := 0; i < 16; i++ {
		zones[fmt.Sprintf("sim-%02d", i)] = fmt.Sprintf("zone-%d", i%4)
	}
	start := time.Now()
	sims := startSimClusters(t, hub, zones, simOptions{Heartbeat: time.Second, JoinTimeout: 5 * time.Minute})
	t.Logf("16 simulated clusters joined in %v", time.Since(start).Round(time.Millisecond))
	framework.Eventually(t, 5*time.Minute, "all 16 Available", func() (bool, string) {
		for name := range zones {
			if available(name) != metav1.ConditionTrue {
				return false, ""
			}
		}
		return true, ""
	})
	t.Logf("all 16 Available %v after the first join started", time.Since(start).Round(time.Millisecond))
	// Not a wait: 10s of the 16 agents' Lease traffic, so that a MemberCluster
	// controller that cannot keep up has built its backlog before the join below
	// is timed.
	time.Sleep(10 * time.Second)

	// A newly joined cluster.
	joinStart := time.Now()
	startSimClusters(t, hub, map[string]string{"sim-late": "zone-late"}, simOptions{Heartbeat: time.Second, JoinTimeout: 5 * time.Minute})
	joined := time.Since(joinStart)
	framework.Eventually(t, 5*time.Minute, "sim-late Available", func() (bool, string) {
		a := available("sim-late")
		return a == metav1.ConditionTrue, "Available=" + string(a)
	})
	took := time.Since(joinStart)
	t.Logf("sim-late: join (hub namespace and ServiceAccount prepared) took %v, Available after %v", joined.Round(time.Millisecond), took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("a cluster joining a hub with 16 busy clusters took %v to be prepared and Available; want seconds. "+
			"The MemberCluster controller re-applies the cluster's namespace, ServiceAccount, Role, RoleBinding, ClusterRole and "+
			"ClusterRoleBinding (6 requests to the hub cluster) on every Lease renewal, through a hub client with client-go's "+
			"default 5 QPS, so its queue falls behind once agents renew more than ~0.8 times a second in all", took.Round(time.Second))
	}

	// An agent stops: Unknown soon after the grace.
	sims["sim-00"].cancel()
	stopped := time.Now()
	framework.Eventually(t, 5*time.Minute, "sim-00 Unknown", func() (bool, string) {
		a := available("sim-00")
		return a == metav1.ConditionUnknown, "Available=" + string(a)
	})
	took = time.Since(stopped)
	t.Logf("sim-00 Unknown %v after its agent stopped (grace %v)", took.Round(time.Millisecond), grace)
	if took > grace+5*time.Second {
		t.Errorf("sim-00 went Unknown %v after its agent stopped; want about the %v grace (see above)", took.Round(time.Second), grace)
	}
}

// TestFederationHeartbeatsDoNotResyncAccessPoints: once every access point is
// applied and nothing changes but the agents' heartbeats, the access point
// controller has nothing to do. It counts the access point workqueue's adds
// (portico-hub's /metrics, workqueue_adds_total{name="federatedaccesspoints"})
// over 20s of steady state: fewer than one per access point.
func TestFederationHeartbeatsDoNotResyncAccessPoints(t *testing.T) {
	const grace = 6 * time.Second
	hub := framework.NewHubCluster(t)
	ph := framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--cluster-lease-grace=" + grace.String()}})
	pc := fastClient(hub.RestConfig)
	ctx := context.Background()
	zones := map[string]string{"sim-0": "zone-a", "sim-1": "zone-a", "sim-2": "zone-b", "sim-3": "zone-b"}
	startSimClusters(t, hub, zones, simOptions{Heartbeat: time.Second})
	createHubNamespace(t, hub, "quiet")
	const n = 50
	for i := 0; i < n; i++ {
		fap := fedAccessPoint("quiet", fmt.Sprintf("ap-%02d", i), []string{fmt.Sprintf("ap-%02d.quiet.example.com", i)}, "5s")
		fap.Spec.Placement = &traffic.Placement{Zones: []string{"zone-a"}}
		if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("quiet").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	framework.Eventually(t, 2*time.Minute, "all applied on the 2 clusters of zone-a", func() (bool, string) {
		list, err := pc.TrafficV1alpha1().FederatedAccessPoints("quiet").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		done := 0
		for i := range list.Items {
			if appliedEverywhere(&list.Items[i], 2) {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d", done, n)
	})

	client := porticoHubClientFor(t, hub.ClientCA.IssueClient, ph.CA.Cert, "admin", []string{"system:masters"})
	// queueMetric reads a metric of the access point workqueue.
	queueMetric := func(metric string) float64 {
		t.Helper()
		resp, err := client.Get(ph.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body strings.Builder
		if _, err := io.Copy(&body, resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %s %v", resp.Status, err)
		}
		for _, line := range strings.Split(body.String(), "\n") {
			if strings.HasPrefix(line, metric+"{") && strings.Contains(line, `name="federatedaccesspoints"`) {
				v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		t.Fatalf(`no %s{name="federatedaccesspoints"} in portico-hub's /metrics`, metric)
		return 0
	}
	framework.Eventually(t, 30*time.Second, "the access point workqueue drained", func() (bool, string) {
		depth := queueMetric("workqueue_depth")
		return depth == 0, fmt.Sprintf("depth %.0f", depth)
	})
	// Count the MemberCluster writes meanwhile.
	w, err := pc.ClusterV1alpha1().MemberClusters().Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var added, writes atomic.Int32
	go func() {
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added:
				added.Add(1)
			case watch.Modified:
				writes.Add(1)
			}
		}
	}()
	framework.Eventually(t, 10*time.Second, "the watch's initial ADDED events", func() (bool, string) {
		return int(added.Load()) == len(zones), fmt.Sprintf("%d of %d", added.Load(), len(zones))
	})
	writes.Store(0)
	a0 := queueMetric("workqueue_adds_total")
	// Not a wait: the window in which nothing but heartbeats happens, which
	// must queue no access point reconcile.
	time.Sleep(20 * time.Second)
	a1 := queueMetric("workqueue_adds_total")
	w.Stop()
	mcWrites := writes.Load()
	t.Logf("in 20s of steady state: %.0f access point reconciles queued, %d MemberCluster writes", a1-a0, mcWrites)
	if a1-a0 >= n {
		t.Errorf("in 20s with nothing changed, the access point controller queued %.0f reconciles for %d access points. Every "+
			"MemberCluster update requeues every access point (federation/accesspoint/controller.go: the MemberCluster "+
			"informer's handler calls enqueueAll), and the MemberCluster controller rewrites each cluster's "+
			"status.agent.lastHeartbeatTime once per --cluster-heartbeat-copy-period (%d writes here): with C clusters and A access "+
			"points that is C*A/period reconciles per second for nothing", a1-a0, n, mcWrites)
	}
}

// announceAsEdgeNode does what an edge node's lb-agent reports to the hub when
// it announces address with healthy backends: a Ready LoadBalancerNode of group
// whose status lists the VIP, and the agent's Lease (renewed for 10 minutes).
func announceAsEdgeNode(t *testing.T, hub *framework.HubCluster, pc versioned.Interface, node, group, address string, healthy int32) {
	t.Helper()
	ctx := context.Background()
	createReadyNode(t, pc, node, group, "192.0.2.31")
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := pc.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Announced = []string{address}
		n.Status.VIPs = []clusterv1alpha1.VIPHealth{{Address: address, HealthyBackends: healthy}}
		_, err = pc.ClusterV1alpha1().LoadBalancerNodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	leases := kubernetes.NewForConfigOrDie(hub.RestConfig).CoordinationV1().Leases(lblease.Namespace)
	if _, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: lblease.Name(node)},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](600),
			RenewTime: &metav1.MicroTime{Time: time.Now()}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
