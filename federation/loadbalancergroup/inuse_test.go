package loadbalancergroup

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
)

func deletingGroup(name string) *clusterv1alpha1.LoadBalancerGroup {
	g := group(name)
	g.DeletionTimestamp = &metav1.Time{Time: now}
	g.Finalizers = []string{inuse.ClusterFinalizer}
	return g
}

func servedVIP(address, owner string, groups ...string) *trafficv1alpha1.VirtualIP {
	return &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address}, Spec: trafficv1alpha1.VirtualIPSpec{
		Address: address, Pool: "edge", Groups: groups,
		Owner: &trafficv1alpha1.AccessPointReference{Namespace: "shop", Name: owner}}}
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestGroupFinalizerAdded: every group gets the in-use finalizer.
func TestGroupFinalizerAdded(t *testing.T) {
	f := newFixture(t, []runtime.Object{group("zone-a")})
	f.sync("zone-a")
	if got := f.get("zone-a").Finalizers; !slices.Equal(got, []string{inuse.ClusterFinalizer}) {
		t.Fatalf("finalizers %v, want [%s]", got, inuse.ClusterFinalizer)
	}
}

// TestGroupDeletionWaitsForItsVirtualIPs: a group being deleted keeps its
// finalizer while a VirtualIP lists it in spec.groups; its Terminating
// condition names that VirtualIP and its access point (not VirtualIPs of
// other groups), with one Warning Event. A VirtualIP leaving the group
// requeues it, and the finalizer goes once none is left.
func TestGroupDeletionWaitsForItsVirtualIPs(t *testing.T) {
	f := newFixture(t, []runtime.Object{deletingGroup("zone-a"), group("zone-b"),
		servedVIP("192.0.2.1", "checkout", "zone-a", "zone-b"), servedVIP("192.0.2.2", "cart", "zone-b")})
	f.sync("zone-a")
	g := f.get("zone-a")
	if !inuse.Has(g, inuse.ClusterFinalizer) {
		t.Fatalf("the finalizer was removed while a VirtualIP lists the group")
	}
	cond := meta.FindStatusCondition(g.Status.Conditions, inuse.ConditionTerminating)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != inuse.ReasonInUse ||
		!strings.Contains(cond.Message, "1 user: VirtualIP 192.0.2.1 (shop/checkout)") || strings.Contains(cond.Message, "192.0.2.2") ||
		!cond.LastTransitionTime.Time.Equal(now) {
		t.Fatalf("Terminating condition %+v, want True InUse naming only 192.0.2.1", cond)
	}
	if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning InUse deletion waits for 1 user") {
		t.Fatalf("events %q, want one Warning InUse", ev)
	}
	if _, writes := f.sync("zone-a"); writes != 0 || len(f.events()) != 0 {
		t.Fatalf("%d writes or a second event on a sync that changed nothing", writes)
	}
	f.drain()

	// Leaving the group requeues it, and not zone-b (not being deleted).
	vips := f.pc.TrafficV1alpha1().VirtualIPs()
	vip, err := vips.Get(f.ctx, "192.0.2.1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vip.Spec.Groups = []string{"zone-b"}
	if _, err := vips.Update(f.ctx, vip, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the VirtualIP leaving zone-a to requeue it", func() bool { return f.c.queue.Len() > 0 })
	if got := f.drain(); len(got) != 1 || !got["zone-a"] {
		t.Fatalf("requeued %v, want only zone-a (zone-b is not being deleted)", got)
	}
	f.waitFor("the cache to see the VirtualIP leave", func() bool {
		v, err := f.c.vips.Get("192.0.2.1")
		return err == nil && !slices.Contains(v.Spec.Groups, "zone-a")
	})
	f.sync("zone-a")
	if inuse.Has(f.get("zone-a"), inuse.ClusterFinalizer) {
		t.Fatalf("the finalizer stayed once no VirtualIP lists the group")
	}
}
