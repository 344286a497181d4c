package accesspoint

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestReadyMeansServed: an access point with a VIP is Ready only while a
// LoadBalancerNode announces the VIP with healthy backends; with no node in
// the VIP's groups at all it is not Ready either.
func TestReadyMeansServed(t *testing.T) {
	vip := func(announcedBy []string, healthy int32) *trafficv1alpha1.VirtualIP {
		v := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "shop.checkout"},
			Spec: trafficv1alpha1.VirtualIPSpec{Address: "203.0.113.10", Groups: []string{"edge"}}}
		v.Status.AnnouncedBy, v.Status.HealthyBackends = announcedBy, healthy
		return v
	}
	node := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "edge-1"}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: "edge"}}
	other := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "other-1"}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: "other"}}
	tests := []struct {
		name       string
		nodes      []*clusterv1alpha1.LoadBalancerNode
		vip        *trafficv1alpha1.VirtualIP
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		{"no VIP yet", []*clusterv1alpha1.LoadBalancerNode{node}, nil, metav1.ConditionFalse, ReasonNotAnnounced},
		{"no node at all", nil, vip(nil, 0), metav1.ConditionFalse, ReasonNoLoadBalancerNodes},
		{"nodes of other groups only", []*clusterv1alpha1.LoadBalancerNode{other}, vip(nil, 0), metav1.ConditionFalse, ReasonNoLoadBalancerNodes},
		{"node not announcing", []*clusterv1alpha1.LoadBalancerNode{node}, vip(nil, 2), metav1.ConditionFalse, ReasonNotAnnounced},
		{"announced without healthy backends", []*clusterv1alpha1.LoadBalancerNode{node}, vip([]string{"edge-1"}, 0), metav1.ConditionFalse, ReasonNoHealthyBackends},
		{"announced and healthy", []*clusterv1alpha1.LoadBalancerNode{node}, vip([]string{"edge-1"}, 2), metav1.ConditionTrue, ReasonAnnounced},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			for _, n := range tc.nodes {
				if err := indexer.Add(n); err != nil {
					t.Fatal(err)
				}
			}
			c := &Controller{nodes: clusterlisters.NewLoadBalancerNodeLister(indexer)}
			lb := c.loadBalancerCondition(tc.vip)
			if lb.Status != tc.wantStatus || lb.Reason != tc.wantReason || lb.Message == "" {
				t.Fatalf("LoadBalancerReady = %s %s %q, want %s %s with a message", lb.Status, lb.Reason, lb.Message, tc.wantStatus, tc.wantReason)
			}
			ready := readyCondition([]metav1.Condition{
				{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionTrue},
				{Type: trafficv1alpha1.AccessPointApplied, Status: metav1.ConditionTrue},
				lb,
			})
			if ready.Status != tc.wantStatus {
				t.Errorf("Ready = %s (%s), want %s", ready.Status, ready.Message, tc.wantStatus)
			}
			if tc.wantStatus == metav1.ConditionFalse && !strings.Contains(ready.Message, "LoadBalancerReady ("+tc.wantReason+")") {
				t.Errorf("Ready message %q does not name LoadBalancerReady (%s)", ready.Message, tc.wantReason)
			}
		})
	}
}
