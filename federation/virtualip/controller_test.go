package virtualip

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
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
