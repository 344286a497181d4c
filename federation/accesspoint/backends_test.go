package accesspoint

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
)

// vipBackends syncs the access point with the pools in the caches too, and
// returns its VirtualIP's backends as "cluster/address", sorted by address.
func (f *fixture) vipBackends(name string) string {
	f.t.Helper()
	f.refresh()
	pools, err := f.pc.TrafficV1alpha1().VIPPools().List(context.Background(), metav1.ListOptions{})
	f.check(err)
	f.replace(f.factory.Traffic().V1alpha1().VIPPools().Informer(), pools)
	_, err = f.c.sync(context.Background(), "shop/"+name)
	f.check(err)
	vips, err := f.pc.TrafficV1alpha1().VirtualIPs().List(context.Background(), metav1.ListOptions{})
	f.check(err)
	if len(vips.Items) != 1 {
		f.t.Fatalf("%d VirtualIPs, want the access point's one", len(vips.Items))
	}
	var out []string
	for _, b := range vips.Items[0].Spec.Backends {
		out = append(out, b.Cluster+"/"+b.Address)
	}
	return strings.Join(out, ",")
}

// TestBackendsWithinGatewayCIDRs: the ready gateway endpoints an agent reports
// become VIP backends only when they lie in the cluster's spec.gatewayCIDRs; a
// cluster without gatewayCIDRs keeps every ready endpoint, and a not-ready one
// is never a backend.
func TestBackendsWithinGatewayCIDRs(t *testing.T) {
	fap := newAccessPoint("checkout", "checkout.example.test", t0, "a", "b", "c")
	fap.Spec.LoadBalancer = &trafficv1alpha1.LoadBalancerSpec{Pool: "public",
		Ports: []trafficv1alpha1.Port{{Name: "http", Port: 80, Protocol: trafficv1alpha1.ProtocolTCP}}}
	a, b, c := memberCluster("a", true), memberCluster("b", true), memberCluster("c", true)
	a.Spec.GatewayCIDRs = []string{"10.1.0.0/16", "fd00:a::/64"}
	b.Spec.GatewayCIDRs = []string{"10.2.0.0/24"}
	pool := &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: []string{"203.0.113.0/24"}}}
	f := newFixture(t, fap, a, b, c, pool)
	f.mustSync("checkout")

	report := func(cluster string, eps ...trafficv1alpha1.GatewayEndpoint) {
		f.agentReports("checkout", cluster, func(s *trafficv1alpha1.ClusterAccessPointStatus) { s.Gateway.Endpoints = eps })
	}
	ready := func(addr string) trafficv1alpha1.GatewayEndpoint {
		return trafficv1alpha1.GatewayEndpoint{Address: addr, Ready: true}
	}
	report("a", ready("10.1.4.5"), ready("10.9.0.1"), ready("fd00:a::7"), ready("fd00:b::7"), ready("::ffff:10.1.0.9"), ready("not-an-address"))
	report("b", ready("10.2.0.8"), ready("10.2.1.8"), trafficv1alpha1.GatewayEndpoint{Address: "10.2.0.9"})
	report("c", ready("192.0.2.1"), ready("10.9.9.9"))

	want := "a/10.1.4.5,b/10.2.0.8,c/10.9.9.9,c/192.0.2.1,a/::ffff:10.1.0.9,a/fd00:a::7"
	if got := f.vipBackends("checkout"); got != want {
		t.Fatalf("VIP backends %s, want %s (a: 10.1.0.0/16 and fd00:a::/64, b: 10.2.0.0/24, c: any address)", got, want)
	}

	// Narrowing a cluster's CIDRs drops its endpoints outside them at the next sync.
	a, err := f.pc.ClusterV1alpha1().MemberClusters().Get(context.Background(), "a", metav1.GetOptions{})
	f.check(err)
	a.Spec.GatewayCIDRs = []string{"fd00:a::/64"}
	_, err = f.pc.ClusterV1alpha1().MemberClusters().Update(context.Background(), a, metav1.UpdateOptions{})
	f.check(err)
	want = "b/10.2.0.8,c/10.9.9.9,c/192.0.2.1,a/fd00:a::7"
	if got := f.vipBackends("checkout"); got != want {
		t.Fatalf("after narrowing a's gatewayCIDRs: VIP backends %s, want %s", got, want)
	}
}

// TestBackendsCappedAtTheVirtualIPLimit: more ready endpoints than a
// VirtualIP may hold keep the VIP updated with the first MaxBackends by
// address instead of failing its every write.
func TestBackendsCappedAtTheVirtualIPLimit(t *testing.T) {
	fap := newAccessPoint("checkout", "checkout.example.test", t0, "a")
	fap.Spec.LoadBalancer = &trafficv1alpha1.LoadBalancerSpec{Pool: "public",
		Ports: []trafficv1alpha1.Port{{Name: "http", Port: 80, Protocol: trafficv1alpha1.ProtocolTCP}}}
	pool := &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: []string{"203.0.113.0/24"}}}
	f := newFixture(t, fap, memberCluster("a", true), pool)
	f.mustSync("checkout")
	var eps []trafficv1alpha1.GatewayEndpoint
	for i := range validation.MaxBackends + 5 {
		eps = append(eps, trafficv1alpha1.GatewayEndpoint{Address: fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256), Ready: true})
	}
	f.agentReports("checkout", "a", func(s *trafficv1alpha1.ClusterAccessPointStatus) { s.Gateway.Endpoints = eps })
	if got := strings.Count(f.vipBackends("checkout"), ","); got+1 != validation.MaxBackends {
		t.Fatalf("%d backends, want the limit %d", got+1, validation.MaxBackends)
	}
}
