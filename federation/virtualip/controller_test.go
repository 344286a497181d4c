package virtualip

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/registry/traffic/virtualip"
)

func node(name, group string, announced []string, healthy map[string]int32) *clusterv1alpha1.LoadBalancerNode {
	n := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: group}}
	n.Status.Announced = announced
	for a, h := range healthy {
		n.Status.VIPs = append(n.Status.VIPs, clusterv1alpha1.VIPHealth{Address: a, HealthyBackends: h})
	}
	return n
}

func TestStatus(t *testing.T) {
	vip := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "203.0.113.1", Generation: 2},
		Spec: trafficv1alpha1.VirtualIPSpec{Address: "203.0.113.1", Groups: []string{"zone-a", "zone-b"}}}
	nodes := []*clusterv1alpha1.LoadBalancerNode{
		node("edge-b-1", "zone-b", []string{"203.0.113.1"}, map[string]int32{"203.0.113.1": 3}),
		node("edge-a-1", "zone-a", []string{"203.0.113.1", "203.0.113.9"}, map[string]int32{"203.0.113.1": 4}),
		node("edge-a-2", "zone-a", nil, map[string]int32{"203.0.113.1": 0}),
		node("edge-c-1", "zone-c", []string{"203.0.113.1"}, map[string]int32{"203.0.113.1": 9}),
	}
	st := Status(vip, nodes)
	if len(st.AnnouncedBy) != 2 || st.AnnouncedBy[0] != "edge-a-1" || st.AnnouncedBy[1] != "edge-b-1" {
		t.Fatalf("announcedBy = %v (a node outside the VIP's groups does not count)", st.AnnouncedBy)
	}
	if st.HealthyBackends != 4 || st.ObservedGeneration != 2 {
		t.Fatalf("status = %+v", st)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, trafficv1alpha1.VirtualIPAnnounced) {
		t.Fatalf("conditions = %+v", st.Conditions)
	}
	st = Status(vip, nodes[2:3])
	if len(st.AnnouncedBy) != 0 || meta.IsStatusConditionTrue(st.Conditions, trafficv1alpha1.VirtualIPAnnounced) {
		t.Fatalf("not announced: %+v", st)
	}
}

// TestExpiredLeaseDoesNotAnnounce: a node whose lb-agent stopped renewing its
// Lease is dropped from announcedBy, and the VIP is looked at again when the
// first live Lease would expire.
func TestExpiredLeaseDoesNotAnnounce(t *testing.T) {
	vip := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "203.0.113.1"},
		Spec: trafficv1alpha1.VirtualIPSpec{Address: "203.0.113.1", Groups: []string{"zone-a"}}}
	pc := fake.NewSimpleClientset(vip)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vips := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	nodes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	leases := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = vips.Add(vip)
	for _, n := range []string{"edge-a-1", "edge-a-2", "edge-a-3"} {
		_ = nodes.Add(node(n, "zone-a", []string{"203.0.113.1"}, map[string]int32{"203.0.113.1": 2}))
	}
	lease := func(n string, renewed time.Duration) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: lblease.Name(n), Namespace: lblease.Namespace},
			Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: now.Add(renewed)}, LeaseDurationSeconds: ptr.To[int32](40)}}
	}
	_ = leases.Add(lease("edge-a-1", -10*time.Second)) // live for 30s more
	_ = leases.Add(lease("edge-a-2", -50*time.Second)) // expired; edge-a-3 has none
	c := newController(pc, trafficlisters.NewVirtualIPLister(vips), clusterlisters.NewLoadBalancerNodeLister(nodes))
	c.leases, c.now = coordinationlisters.NewLeaseLister(leases), func() time.Time { return now }
	next, err := c.sync(context.Background(), "203.0.113.1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := pc.TrafficV1alpha1().VirtualIPs().Get(context.Background(), "203.0.113.1", metav1.GetOptions{})
	if len(got.Status.AnnouncedBy) != 1 || got.Status.AnnouncedBy[0] != "edge-a-1" {
		t.Fatalf("announcedBy = %v, want only the node with a live Lease", got.Status.AnnouncedBy)
	}
	if next != 30*time.Second {
		t.Fatalf("look again in %v, want when edge-a-1's Lease expires (30s)", next)
	}
}

// TestNewVirtualIPStatusIsNotWrittenAgain: storage gives a new VirtualIP the
// status this controller computes while no node announces it, so the first
// sync of a new VirtualIP writes nothing; once a node announces the address,
// the status is written.
func TestNewVirtualIPStatusIsNotWrittenAgain(t *testing.T) {
	in := &traffic.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "203.0.113.1"},
		Spec: traffic.VirtualIPSpec{Address: "203.0.113.1", Groups: []string{"zone-a"}}}
	// As storage creates it (registry/store's PrepareForCreate: generation 1,
	// then the kind's own preparation).
	in.Generation = 1
	virtualip.Kind.PrepareCreate(in)
	vip := &trafficv1alpha1.VirtualIP{}
	if err := trafficv1alpha1.Convert_traffic_VirtualIP_To_v1alpha1_VirtualIP(in, vip, nil); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(vip.Status.Conditions, trafficv1alpha1.VirtualIPAnnounced); c == nil ||
		c.Status != metav1.ConditionFalse || c.Reason != ReasonNotAnnounced || vip.Status.ObservedGeneration != 1 {
		t.Fatalf("a new VirtualIP's status = %+v, want observedGeneration 1 and Announced False (NotAnnounced)", vip.Status)
	}
	pc := fake.NewSimpleClientset(vip)
	vips := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	nodes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = vips.Add(vip)
	// A node of another group announces it, one of its group does not.
	_ = nodes.Add(node("edge-b-1", "zone-b", []string{"203.0.113.1"}, map[string]int32{"203.0.113.1": 2}))
	_ = nodes.Add(node("edge-a-1", "zone-a", nil, nil))
	c := newController(pc, trafficlisters.NewVirtualIPLister(vips), clusterlisters.NewLoadBalancerNodeLister(nodes))
	pc.ClearActions()
	if _, err := c.sync(context.Background(), vip.Name); err != nil {
		t.Fatal(err)
	}
	if a := pc.Actions(); len(a) != 0 {
		t.Fatalf("the first sync of a new VirtualIP wrote %v, want nothing", a)
	}
	_ = nodes.Update(node("edge-a-1", "zone-a", []string{"203.0.113.1"}, map[string]int32{"203.0.113.1": 2}))
	if _, err := c.sync(context.Background(), vip.Name); err != nil {
		t.Fatal(err)
	}
	got, _ := pc.TrafficV1alpha1().VirtualIPs().Get(context.Background(), vip.Name, metav1.GetOptions{})
	if !meta.IsStatusConditionTrue(got.Status.Conditions, trafficv1alpha1.VirtualIPAnnounced) || len(got.Status.AnnouncedBy) != 1 {
		t.Fatalf("announced by edge-a-1: status = %+v", got.Status)
	}
}
