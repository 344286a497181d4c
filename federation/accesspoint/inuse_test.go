package accesspoint

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/vipallocator"
)

// syncWithPools refreshes the caches, pools included, and syncs shop/name.
func (f *fixture) syncWithPools(name string) {
	f.t.Helper()
	f.refresh()
	pools, err := f.pc.TrafficV1alpha1().VIPPools().List(context.Background(), metav1.ListOptions{})
	f.check(err)
	f.replace(f.factory.Traffic().V1alpha1().VIPPools().Informer(), pools)
	_, err = f.c.sync(context.Background(), "shop/"+name)
	f.check(err)
}

func balanced(name string) *trafficv1alpha1.FederatedAccessPoint {
	fap := newAccessPoint(name, name+".example.test", t0)
	fap.Spec.LoadBalancer = &trafficv1alpha1.LoadBalancerSpec{Pool: "public",
		Ports: []trafficv1alpha1.Port{{Name: "http", Port: 80, Protocol: trafficv1alpha1.ProtocolTCP}}}
	return fap
}

// TestVIPKeptWhilePoolIsDeleted: while its pool is being deleted, an access
// point keeps its VIP in status.vip (DNS follows that address), VIPAllocated
// stays True; a second access point gets no address (PoolTerminating). When
// the pool is gone all the same (its finalizer removed by hand), the access
// point still reports the address it holds, with VIPAllocated False
// (PoolNotFound), and its VirtualIP stays.
func TestVIPKeptWhilePoolIsDeleted(t *testing.T) {
	pool := &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: []string{"203.0.113.0/24"}}}
	f := newFixture(t, balanced("checkout"), balanced("cart"), pool)
	f.syncWithPools("checkout")
	address := f.accessPoint("checkout").Status.VIP.Address
	if address == "" {
		t.Fatal("no VIP allocated")
	}

	pool.DeletionTimestamp = &metav1.Time{Time: t0}
	pool.Finalizers = []string{"traffic.portico.dev/in-use"}
	_, err := f.pc.TrafficV1alpha1().VIPPools().Update(context.Background(), pool, metav1.UpdateOptions{})
	f.check(err)
	f.syncWithPools("checkout")
	got := f.accessPoint("checkout")
	if c := condition(got, trafficv1alpha1.AccessPointVIPAllocated); got.Status.VIP.Address != address || c.Status != metav1.ConditionTrue {
		t.Fatalf("while the pool is being deleted: vip %+v, VIPAllocated %+v; want %s kept", got.Status.VIP, c, address)
	}
	f.syncWithPools("cart")
	cart := f.accessPoint("cart")
	if c := condition(cart, trafficv1alpha1.AccessPointVIPAllocated); cart.Status.VIP.Address != "" ||
		c.Status != metav1.ConditionFalse || c.Reason != vipallocator.ReasonPoolTerminating {
		t.Fatalf("a new user of a pool being deleted: vip %+v, VIPAllocated %+v; want none and %s", cart.Status.VIP, c, vipallocator.ReasonPoolTerminating)
	}

	f.check(f.pc.TrafficV1alpha1().VIPPools().Delete(context.Background(), "public", metav1.DeleteOptions{}))
	f.syncWithPools("checkout")
	got = f.accessPoint("checkout")
	c := condition(got, trafficv1alpha1.AccessPointVIPAllocated)
	if got.Status.VIP.Address != address || c.Status != metav1.ConditionFalse || c.Reason != vipallocator.ReasonPoolNotFound ||
		!strings.Contains(c.Message, "keeps "+address) {
		t.Fatalf("with the pool gone: vip %+v, VIPAllocated %+v; want %s still reported", got.Status.VIP, c, address)
	}
	if _, err := f.pc.TrafficV1alpha1().VirtualIPs().Get(context.Background(), address, metav1.GetOptions{}); err != nil {
		t.Fatalf("the VirtualIP went with the pool: %v", err)
	}
}

// TestPoolEventsWakeTheirAccessPoints: a pool's change wakes the access
// points whose spec.loadBalancer names it, and only those.
func TestPoolEventsWakeTheirAccessPoints(t *testing.T) {
	other := balanced("other")
	other.Spec.LoadBalancer.Pool = "private"
	f := newFixture(t, balanced("checkout"), other, newAccessPoint("plain", "plain.example.test", t0))
	f.refresh()
	for f.c.queue.Len() > 0 {
		key, _ := f.c.queue.Get()
		f.c.queue.Done(key)
	}
	f.c.enqueuePoolUsers(&trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"}})
	if key, _ := f.c.queue.Get(); f.c.queue.Len() != 0 || key != "shop/checkout" {
		t.Fatalf("queued %q (and %d more), want shop/checkout only", key, f.c.queue.Len())
	}
	a := &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public", Generation: 1}}
	b := a.DeepCopy()
	b.Status.Allocated = 3
	if poolChanged(a, b) {
		t.Fatal("a status write counts as a pool change")
	}
	b.DeletionTimestamp = &metav1.Time{Time: t0}
	if !poolChanged(a, b) {
		t.Fatal("the start of a pool's deletion is not a change")
	}
}
