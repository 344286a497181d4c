package accesspoint

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestHeartbeatsRequeueNothing: the controller's informers run; a
// MemberCluster's status written again with Available unchanged (an agent's
// heartbeat) and a LoadBalancerNode's status write (an lb-agent's report)
// requeue no access point. A node moved to another group requeues the access
// points with a load balancer only.
func TestHeartbeatsRequeueNothing(t *testing.T) {
	lb := newAccessPoint("lb", "lb.example.test", t0, "a")
	lb.Spec.LoadBalancer = &trafficv1alpha1.LoadBalancerSpec{Pool: "public", Ports: []trafficv1alpha1.Port{{Port: 80}}}
	node := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "edge-1"}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: "g1"}}
	f := newFixture(t, newAccessPoint("web", "web.example.test", t0, "a"), lb, memberCluster("a", true), node)
	f.factory.Start(t.Context().Done())
	for typ, ok := range f.factory.WaitForCacheSync(t.Context().Done()) {
		if !ok {
			t.Fatalf("cache of %v not synced", typ)
		}
	}
	// queued drains the queue after a moment and returns what was in it.
	queued := func() []string {
		time.Sleep(200 * time.Millisecond)
		var keys []string
		for f.c.queue.Len() > 0 {
			k, _ := f.c.queue.Get()
			keys = append(keys, k)
			f.c.queue.Done(k)
			f.c.queue.Forget(k)
		}
		return keys
	}
	queued() // the initial adds

	ctx := t.Context()
	mc, err := f.pc.ClusterV1alpha1().MemberClusters().Get(ctx, "a", metav1.GetOptions{})
	f.check(err)
	cond := availableCondition(true)
	cond.Message, cond.ObservedGeneration = "heartbeat at "+t0.Add(time.Minute).String(), 7
	mc.Status.Conditions = []metav1.Condition{cond}
	_, err = f.pc.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{})
	f.check(err)
	if got := queued(); len(got) != 0 {
		t.Errorf("a MemberCluster heartbeat requeued %v", got)
	}

	node.Status.Announced = []string{"192.0.2.10"}
	node.Status.VIPs = []clusterv1alpha1.VIPHealth{{Address: "192.0.2.10", HealthyBackends: 2}}
	_, err = f.pc.ClusterV1alpha1().LoadBalancerNodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	f.check(err)
	if got := queued(); len(got) != 0 {
		t.Errorf("a LoadBalancerNode status write requeued %v", got)
	}

	node, err = f.pc.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, "edge-1", metav1.GetOptions{})
	f.check(err)
	node.Spec.Group = "g2"
	_, err = f.pc.ClusterV1alpha1().LoadBalancerNodes().Update(ctx, node, metav1.UpdateOptions{})
	f.check(err)
	if got := queued(); len(got) != 1 || got[0] != "shop/lb" {
		t.Errorf("a node moved to another group requeued %v, want [shop/lb]", got)
	}
}
