//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestLocalityFailoverAndDrain: an access point with spec.locality Failover
// gets, in each member cluster, DestinationRules with localityLbSetting
// failover from that cluster's own region (Istio then prefers its zone, then
// its region) and outlierDetection: the template's DR for checkout, and one
// Portico renders for payments, which no template DR covers. `kubectl portico
// drain cluster zone-a-1` drains zone-a-1's VIP backends within seconds, the
// access point's status shows zone-a drained, and the mesh leaves zone-a
// out (distribute, Istio allowing no failover with a locality left out);
// draining zone-b-1 too is refused (it holds the last backends), and
// `undrain` restores it all. `drain zone zone-b --fap checkout` does the same
// for one access point.
func TestLocalityFailoverAndDrain(t *testing.T) {
	zones := map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"}
	regions := map[string]string{"zone-a-1": "r1", "zone-b-1": "r2"}
	f := newFederation(t, zones)
	pc := fastClient(f.hub.RestConfig)
	ctx := context.Background()
	waitAllAvailable(t, f)
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	// zone-b-1 moves to region r2 (the agents joined in r1).
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-b-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		mc.Spec.Region = regions["zone-b-1"]
		_, err = pc.ClusterV1alpha1().MemberClusters().Update(ctx, mc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.TrafficV1alpha1().VIPPools().Create(ctx, &traffic.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: traffic.VIPPoolSpec{CIDRs: []string{"203.0.113.0/24"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createHubNamespace(t, f.hub, "shop")
	fap := fedAccessPoint("shop", "checkout", []string{"checkout.example.com"}, "5s")
	fap.Spec.Template.VirtualServices[0].Spec.Raw = []byte(`{"hosts":["checkout.example.com"],"gateways":["checkout"],"http":[
		{"match":[{"uri":{"prefix":"/pay"}}],"route":[{"destination":{"host":"payments.shop.svc.cluster.local"}}]},
		{"route":[{"destination":{"host":"checkout"}}]}]}`)
	fap.Spec.Locality = &traffic.LocalitySpec{Mode: traffic.LocalityFailover}
	fap.Spec.LoadBalancer = &traffic.LoadBalancerSpec{Pool: "public", Ports: []traffic.Port{{Name: "http", Port: 80}}}
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Each cluster: failover from its own region, on both hosts' DRs.
	other := map[string]string{"zone-a-1": "zone-b-1", "zone-b-1": "zone-a-1"}
	for cluster := range zones {
		want := fmt.Sprintf("failover %s->%s", regions[cluster], regions[other[cluster]])
		waitLocality(t, f, cluster, 60*time.Second, want)
	}

	// Drain zone-a-1.
	backendsReady := waitFAP(t, pc, "shop", "checkout", 60*time.Second, "VIP backends in both zones", func(fap *traffic.FederatedAccessPoint) bool {
		return fap.Status.VIP != nil && len(fap.Status.VIP.Zones) == 2
	})
	vipAddr := backendsReady.Status.VIP.Address
	start := time.Now()
	if r := runJoinPlugin(t, plugin, f.hub.KubeconfigPath, "drain", "cluster", "zone-a-1"); r.err != nil ||
		!strings.Contains(r.stdout, "membercluster/zone-a-1 drained") {
		t.Fatalf("drain cluster zone-a-1: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	framework.Eventually(t, 20*time.Second, "zone-a-1's VIP backends drained", func() (bool, string) {
		return vipDrained(pc, vipAddr) == "zone-a-1", "drained: " + vipDrained(pc, vipAddr)
	})
	t.Logf("MEASURE kubectl portico drain -> VirtualIP backends drained: %v", time.Since(start).Round(time.Millisecond))
	waitFAP(t, pc, "shop", "checkout", 20*time.Second, "status.vip.zones with zone-a drained", func(fap *traffic.FederatedAccessPoint) bool {
		z := fap.Status.VIP.Zones
		return len(z) == 2 && z[0].Zone == "zone-a" && z[0].DrainedBackends == z[0].Backends && z[0].LocalWeight == 0 &&
			z[1].Zone == "zone-b" && z[1].DrainedBackends == 0 && z[1].LocalWeight == 99 && z[1].RemoteWeight == 1
	})
	waitLocality(t, f, "zone-a-1", 60*time.Second, "distribute r1/zone-a/*: r2/zone-b/*=100")
	waitLocality(t, f, "zone-b-1", 60*time.Second, "distribute r2/zone-b/*: r2/zone-b/*=100")

	// zone-b-1 holds the last backends that take new connections.
	r := runJoinPlugin(t, plugin, f.hub.KubeconfigPath, "drain", "cluster", "zone-b-1")
	if r.err == nil || !strings.Contains(r.stderr, "refusing to drain cluster zone-b-1") || !strings.Contains(r.stderr, "shop/checkout (VIP "+vipAddr+")") {
		t.Fatalf("draining the last backends: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-b-1", metav1.GetOptions{}); err != nil || mc.Spec.Drain {
		t.Fatalf("zone-b-1 after the refusal: %v, drain %v", err, mc.Spec.Drain)
	}

	// Undrain: weights and failover are back.
	if r := runJoinPlugin(t, plugin, f.hub.KubeconfigPath, "undrain", "cluster", "zone-a-1"); r.err != nil {
		t.Fatalf("undrain cluster zone-a-1: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	framework.Eventually(t, 20*time.Second, "no VIP backend drained", func() (bool, string) {
		d := vipDrained(pc, vipAddr)
		return d == "", "drained: " + d
	})
	// drain zone --fap reads the access point's status.vip.zones, which the
	// hub writes once the clusters' agents report the undrain's change.
	waitFAP(t, pc, "shop", "checkout", 20*time.Second, "status.vip.zones with no backend drained", func(fap *traffic.FederatedAccessPoint) bool {
		z := fap.Status.VIP.Zones
		return len(z) == 2 && z[0].DrainedBackends == 0 && z[1].DrainedBackends == 0
	})
	for cluster := range zones {
		waitLocality(t, f, cluster, 60*time.Second, fmt.Sprintf("failover %s->%s", regions[cluster], regions[other[cluster]]))
	}

	// One access point's zone: zone-b for checkout.
	if r := runJoinPlugin(t, plugin, f.hub.KubeconfigPath, "drain", "zone", "zone-b", "--fap", "checkout", "-n", "shop"); r.err != nil {
		t.Fatalf("drain zone zone-b: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	framework.Eventually(t, 20*time.Second, "zone-b-1's VIP backends drained", func() (bool, string) {
		return vipDrained(pc, vipAddr) == "zone-b-1", "drained: " + vipDrained(pc, vipAddr)
	})
	waitLocality(t, f, "zone-a-1", 60*time.Second, "distribute r1/zone-a/*: r1/zone-a/*=100")
	if r := runJoinPlugin(t, plugin, f.hub.KubeconfigPath, "undrain", "zone", "zone-b", "--fap", "checkout", "-n", "shop"); r.err != nil {
		t.Fatalf("undrain zone zone-b: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	waitLocality(t, f, "zone-a-1", 60*time.Second, "failover r1->r2")
	if d := vipDrained(pc, vipAddr); d != "" {
		t.Errorf("after undrain zone: drained %s", d)
	}
}

// waitLocality waits until every DestinationRule of shop in cluster (the
// template's checkout and Portico's for payments) has outlier detection and
// the localityLbSetting want describes (see localityOf).
func waitLocality(t *testing.T, f *federation, cluster string, timeout time.Duration, want string) {
	t.Helper()
	ic := f.istio(t, cluster)
	framework.Eventually(t, timeout, cluster+": DestinationRules with "+want, func() (bool, string) {
		drs, err := ic.NetworkingV1().DestinationRules("shop").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var hosts, got []string
		ok := len(drs.Items) == 2
		for _, dr := range drs.Items {
			hosts = append(hosts, dr.Spec.Host)
			l := localityOf(dr)
			got = append(got, dr.Name+": "+l)
			ok = ok && l == want && dr.Spec.TrafficPolicy.GetOutlierDetection() != nil
		}
		slices.Sort(hosts)
		ok = ok && slices.Equal(hosts, []string{"checkout.shop.svc.cluster.local", "payments.shop.svc.cluster.local"})
		return ok, strings.Join(got, "; ")
	})
}

// localityOf describes a DR's localityLbSetting: "failover FROM->TO" or
// "distribute FROM: TO=W ...", "" when it has none.
func localityOf(dr *networkingv1.DestinationRule) string {
	s := dr.Spec.TrafficPolicy.GetLoadBalancer().GetLocalityLbSetting()
	if s == nil {
		return ""
	}
	var parts []string
	for _, fo := range s.Failover {
		parts = append(parts, "failover "+fo.From+"->"+fo.To)
	}
	for _, d := range s.Distribute {
		var to []string
		for l, w := range d.To {
			to = append(to, fmt.Sprintf("%s=%d", l, w))
		}
		slices.Sort(to)
		parts = append(parts, "distribute "+d.From+": "+strings.Join(to, " "))
	}
	return strings.Join(parts, "; ")
}

// vipDrained lists the clusters of the VirtualIP's drained backends.
func vipDrained(pc versioned.Interface, address string) string {
	v, err := pc.TrafficV1alpha1().VirtualIPs().Get(context.Background(), address, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, b := range v.Spec.Backends {
		if b.Drained && !slices.Contains(out, b.Cluster) {
			out = append(out, b.Cluster)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
