package vipallocator

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func terminating(meta *metav1.ObjectMeta) {
	meta.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	meta.Finalizers = []string{"traffic.portico.dev/in-use"}
}

// TestPoolTerminatingGivesNoNewAddress: a pool being deleted keeps serving
// the VirtualIP it gave (still updated with its access point's spec) but
// refuses an address to an access point that holds none, with the reason
// PoolTerminating, and creates nothing.
func TestPoolTerminatingGivesNoNewAddress(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	held := f.mustAllocate(newFAP("web", "edge", ""))
	f.syncCache()

	pool := newPool("edge", false, "192.0.2.0/29")
	terminating(&pool.ObjectMeta)
	mustAdd(t, f.pools, pool) // Add replaces

	backend := trafficv1alpha1.Backend{Address: "10.0.0.1", Cluster: "c1", Zone: "zone-a"}
	vip := f.mustAllocate(newFAP("web", "edge", ""), backend)
	if vip.Name != held.Name || len(vip.Spec.Backends) != 1 {
		t.Fatalf("the holder got %s with backends %v, want %s kept and updated", vip.Name, vip.Spec.Backends, held.Name)
	}
	creates := f.count("create")
	failure := f.mustFail(newFAP("shop", "edge", ""), ReasonPoolTerminating)
	if !strings.Contains(failure.Message, "edge") || !strings.Contains(failure.Message, "another pool") {
		t.Fatalf("message %q does not name the pool and what to do", failure.Message)
	}
	f.mustFail(newFAP("pinned", "edge", "192.0.2.5"), ReasonPoolTerminating)
	if got := f.count("create"); got != creates {
		t.Fatalf("%d VirtualIPs created from a pool being deleted", got-creates)
	}
	if got := f.liveAddresses(); len(got) != 1 || got[held.Name] != "web" {
		t.Fatalf("the API server holds %v, want only %s of web", got, held.Name)
	}
}

// TestPoolNotFoundKeepsTheHeldVIP: when the pool is gone (its finalizer
// removed by hand), the access point's VirtualIP is neither released nor
// forgotten: Ensure returns it with the failure, so the access point keeps
// reporting the address it is reached at (and DNS keeps pointing there).
func TestPoolNotFoundKeepsTheHeldVIP(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fap := newFAP("web", "edge", "")
	held := f.mustAllocate(fap)
	f.syncCache()
	if err := f.pools.Delete(newPool("edge", false)); err != nil {
		t.Fatal(err)
	}
	vip, failure, err := f.alloc.Ensure(f.ctx, fap, nil)
	if err != nil || failure == nil || failure.Reason != ReasonPoolNotFound {
		t.Fatalf("Ensure = %v, %+v, %v; want the failure %s", vip, failure, err, ReasonPoolNotFound)
	}
	if vip == nil || vip.Name != held.Name {
		t.Fatalf("Ensure returned %v, want the held %s", vip, held.Name)
	}
	if !strings.Contains(failure.Message, "keeps "+held.Name) {
		t.Fatalf("message %q does not say the address is kept", failure.Message)
	}
	if got := f.liveAddresses(); got[held.Name] != "web" || f.count("delete") != 0 {
		t.Fatalf("the held VirtualIP was released: %v", got)
	}
}

// TestTerminatingGroupLeftOutWhenItsZoneIsServed: a group being deleted is
// left out of new VirtualIP specs when another group of its zone, not being
// deleted, has ready nodes; the last group of a zone keeps its VirtualIPs.
func TestTerminatingGroupLeftOutWhenItsZoneIsServed(t *testing.T) {
	pool := newPool("edge", false, "192.0.2.0/29")
	pool.Spec.Zones = []string{"zone-a", "zone-b", "zone-c"}
	ready := func(g *clusterv1alpha1.LoadBalancerGroup) *clusterv1alpha1.LoadBalancerGroup {
		g.Status.ReadyNodes = 1
		return g
	}
	gone := func(g *clusterv1alpha1.LoadBalancerGroup) *clusterv1alpha1.LoadBalancerGroup {
		terminating(&g.ObjectMeta)
		return g
	}
	f := newFixture(t, []*trafficv1alpha1.VIPPool{pool},
		ready(gone(newGroup("a-old", "zone-a"))), ready(newGroup("a-new", "zone-a")), // zone-a served elsewhere
		ready(gone(newGroup("b-old", "zone-b"))), newGroup("b-new", "zone-b"), // b-new has no ready node
		ready(gone(newGroup("c-only", "zone-c"))))
	vip := f.mustAllocate(newFAP("web", "edge", ""))
	if got := strings.Join(vip.Spec.Groups, ","); got != "a-new,b-new,b-old,c-only" {
		t.Fatalf("groups %s, want a-new,b-new,b-old,c-only", got)
	}
}
