package plugin

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// drainFixture: clusters zone-a-1 and zone-b-1, and the access point
// shop/checkout whose VIP has one backend in each.
func drainFixture() *fake.Clientset {
	mc := func(name, zone string) *clusterv1alpha1.MemberCluster {
		return &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: zone}}
	}
	fap := &trafficv1alpha1.FederatedAccessPoint{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop", UID: "uid-checkout"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "public"}},
		Status: trafficv1alpha1.FederatedAccessPointStatus{Clusters: []trafficv1alpha1.ClusterStatus{
			{Name: "zone-a-1", Zone: "zone-a"}, {Name: "zone-b-1", Zone: "zone-b"}},
			VIP: &trafficv1alpha1.VIPStatus{Address: "198.51.100.1", Zones: []trafficv1alpha1.ZoneWeight{
				{Zone: "zone-a", Backends: 1, LocalWeight: 99, RemoteWeight: 1}, {Zone: "zone-b", Backends: 1, LocalWeight: 99, RemoteWeight: 1}}}}}
	vip := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.1"}, Spec: trafficv1alpha1.VirtualIPSpec{
		Address: "198.51.100.1", Owner: &trafficv1alpha1.AccessPointReference{Namespace: "shop", Name: "checkout", UID: "uid-checkout"},
		Backends: []trafficv1alpha1.Backend{{Address: "10.0.0.10", Cluster: "zone-a-1", Zone: "zone-a"},
			{Address: "10.1.0.10", Cluster: "zone-b-1", Zone: "zone-b"}}}}
	return fake.NewClientset(mc("zone-a-1", "zone-a"), mc("zone-b-1", "zone-b"), fap, vip)
}

// hubDrains does what the hub does with a drain: it marks the VIP's backends.
func hubDrains(t *testing.T, client *fake.Clientset, cluster string) {
	t.Helper()
	ctx := context.Background()
	v, err := client.TrafficV1alpha1().VirtualIPs().Get(ctx, "198.51.100.1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Spec.Backends {
		v.Spec.Backends[i].Drained = v.Spec.Backends[i].Cluster == cluster
	}
	if _, err := client.TrafficV1alpha1().VirtualIPs().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestDrainCluster(t *testing.T) {
	ctx := context.Background()
	client := drainFixture()
	drained := func(name string) bool {
		mc, err := client.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return mc.Spec.Drain
	}
	var out bytes.Buffer
	if err := drainCluster(ctx, &out, client, "zone-a-1", true, false); err != nil || !drained("zone-a-1") {
		t.Fatalf("draining zone-a-1: %v, drained %v", err, drained("zone-a-1"))
	}
	if !strings.Contains(out.String(), "membercluster/zone-a-1 drained") {
		t.Errorf("output %q", out.String())
	}
	hubDrains(t, client, "zone-a-1")
	// zone-b-1 holds checkout's last backend that takes new connections.
	err := drainCluster(ctx, &out, client, "zone-b-1", true, false)
	if err == nil || !strings.Contains(err.Error(), "refusing to drain cluster zone-b-1") ||
		!strings.Contains(err.Error(), "shop/checkout (VIP 198.51.100.1)") || !strings.Contains(err.Error(), "--force") || drained("zone-b-1") {
		t.Fatalf("draining the last backends: %v", err)
	}
	if err := drainCluster(ctx, &out, client, "zone-b-1", true, true); err != nil || !drained("zone-b-1") {
		t.Fatalf("forced drain: %v", err)
	}
	out.Reset()
	if err := drainCluster(ctx, &out, client, "zone-a-1", false, false); err != nil || drained("zone-a-1") {
		t.Fatalf("undrain: %v", err)
	}
	if err := drainCluster(ctx, &out, client, "zone-a-1", false, false); err != nil || !strings.Contains(out.String(), "already not drained") {
		t.Fatalf("second undrain: %v, %q", err, out.String())
	}
	if err := drainCluster(ctx, &out, client, "nope", true, false); err == nil {
		t.Fatal("draining a cluster that does not exist")
	}
}

func TestDrainZone(t *testing.T) {
	ctx := context.Background()
	client := drainFixture()
	var out, errOut bytes.Buffer
	streams := IOStreams{Out: &out, ErrOut: &errOut}
	zones := func() []string {
		fap, err := client.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "checkout", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cz := fap.Spec.LoadBalancer.CrossZone; cz != nil {
			return cz.DrainedZones
		}
		return nil
	}
	if err := drainZone(ctx, streams, client, "shop", "checkout", "zone-b", true, false); err != nil || !slices.Equal(zones(), []string{"zone-b"}) {
		t.Fatalf("draining zone-b: %v, drainedZones %v", err, zones())
	}
	if err := drainZone(ctx, streams, client, "shop", "checkout", "zone-b", true, false); err != nil || !strings.Contains(out.String(), "already drained") {
		t.Fatalf("draining zone-b again: %v, %q", err, out.String())
	}
	// As the hub reports the drain in status.vip.zones: zone-a is the last.
	fap, _ := client.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "checkout", metav1.GetOptions{})
	fap.Status.VIP.Zones[1] = trafficv1alpha1.ZoneWeight{Zone: "zone-b", Backends: 1, DrainedBackends: 1}
	if _, err := client.TrafficV1alpha1().FederatedAccessPoints("shop").UpdateStatus(ctx, fap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := drainZone(ctx, streams, client, "shop", "checkout", "zone-a", true, false)
	if err == nil || !strings.Contains(err.Error(), "refusing to drain zone zone-a of shop/checkout") ||
		!strings.Contains(err.Error(), "shop/checkout (VIP 198.51.100.1)") || len(zones()) != 1 {
		t.Fatalf("draining the last zone: %v", err)
	}
	if err := drainZone(ctx, streams, client, "shop", "checkout", "zone-x", true, false); err != nil || !strings.Contains(errOut.String(), "no placed cluster") {
		t.Fatalf("draining a zone without clusters: %v, %q", err, errOut.String())
	}
	if err := drainZone(ctx, streams, client, "shop", "checkout", "zone-b", false, false); err != nil || !slices.Equal(zones(), []string{"zone-x"}) {
		t.Fatalf("undraining zone-b: %v, drainedZones %v", err, zones())
	}
	fap, _ = client.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "checkout", metav1.GetOptions{})
	fap.Spec.LoadBalancer = nil
	if _, err := client.TrafficV1alpha1().FederatedAccessPoints("shop").Update(ctx, fap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := drainZone(ctx, streams, client, "shop", "checkout", "zone-b", true, false); err == nil || !strings.Contains(err.Error(), "drain its clusters instead") {
		t.Fatalf("an access point without a load balancer: %v", err)
	}
}

// An undo brings back a revision's content but leaves the drains alone.
func TestUndoKeepsDrainedZones(t *testing.T) {
	spec := trafficv1alpha1.FederatedAccessPointSpec{LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "new",
		CrossZone: &trafficv1alpha1.CrossZone{DrainedZones: []string{"zone-a"}}}}
	setContent(&spec, &trafficv1alpha1.RevisionContent{LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "old"}})
	if spec.LoadBalancer.Pool != "old" || !slices.Equal(spec.LoadBalancer.CrossZone.DrainedZones, []string{"zone-a"}) {
		t.Fatalf("load balancer after undo: %+v", spec.LoadBalancer)
	}
}

func TestDrainHelp(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), IOStreams{Out: &out, ErrOut: &out}, []string{"drain", "zone", "zone-a"}); code == 0 ||
		!strings.Contains(out.String(), "--fap is required") {
		t.Fatalf("drain zone without --fap: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := Main(context.Background(), IOStreams{Out: &out, ErrOut: &out}, []string{"undrain", "--help"}); code != 0 ||
		!strings.Contains(out.String(), "undrain cluster zone-a-1") || strings.Contains(out.String(), "--force") {
		t.Fatalf("undrain --help: exit %d, %q", code, out.String())
	}
}
