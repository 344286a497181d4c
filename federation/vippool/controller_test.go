package vippool

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	pools    cache.Indexer
	vips     cache.Indexer
	recorder *record.FakeRecorder
	c        *Controller
}

// newFixture serves pool from the client and the cache, and vips from the
// cache only (the client holds them too when the test creates them there).
func newFixture(t *testing.T, pool *trafficv1alpha1.VIPPool, vips ...*trafficv1alpha1.VirtualIP) *fixture {
	f := &fixture{t: t, client: fake.NewSimpleClientset(pool),
		pools:    cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
		vips:     cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
		recorder: record.NewFakeRecorder(10)}
	f.add(f.pools, pool)
	for _, vip := range vips {
		f.add(f.vips, vip)
	}
	f.c = newController(f.client, trafficlisters.NewVIPPoolLister(f.pools), trafficlisters.NewVirtualIPLister(f.vips))
	f.c.events = f.recorder
	return f
}

func (f *fixture) add(indexer cache.Indexer, obj any) {
	f.t.Helper()
	if err := indexer.Add(obj); err != nil {
		f.t.Fatal(err)
	}
}

// sync runs one reconcile, then feeds the written pool back into the cache, and
// returns the number of status writes it made. Besides those, only the
// finalizer's updates and the live list of VirtualIPs before its removal are
// expected.
func (f *fixture) sync(name string) int {
	f.t.Helper()
	before := len(f.client.Actions())
	if err := f.c.sync(context.Background(), name); err != nil {
		f.t.Fatal(err)
	}
	writes := 0
	for _, a := range f.client.Actions()[before:] {
		switch res := a.GetResource().Resource; {
		case a.GetVerb() == "update" && a.GetSubresource() == "status":
			writes++
		case a.GetVerb() == "update" && res == "vippools" && a.GetSubresource() == "":
		case a.GetVerb() == "list" && res == "virtualips":
		default:
			f.t.Fatalf("unexpected action %s %s/%s", a.GetVerb(), res, a.GetSubresource())
		}
	}
	if pool, err := f.client.TrafficV1alpha1().VIPPools().Get(context.Background(), name, metav1.GetOptions{}); err == nil {
		if err := f.pools.Update(pool); err != nil {
			f.t.Fatal(err)
		}
	}
	return writes
}

func (f *fixture) status(name string) trafficv1alpha1.VIPPoolStatus {
	f.t.Helper()
	pool, err := f.client.TrafficV1alpha1().VIPPools().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return pool.Status
}

func newPool(name string, avoidBuggy bool, cidrs ...string) *trafficv1alpha1.VIPPool {
	return &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 3},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: cidrs, AvoidBuggyIPs: avoidBuggy}}
}

func newVIP(address, pool string) *trafficv1alpha1.VirtualIP {
	return &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address},
		Spec: trafficv1alpha1.VirtualIPSpec{Address: address, Pool: pool}}
}

func checkStatus(t *testing.T, got trafficv1alpha1.VIPPoolStatus, total, allocated, available int64, exhausted metav1.ConditionStatus, reason string) {
	t.Helper()
	if got.Total != total || got.Allocated != allocated || got.Available != available || got.ObservedGeneration != 3 {
		t.Fatalf("status %+v, want total %d allocated %d available %d observedGeneration 3", got, total, allocated, available)
	}
	cond := meta.FindStatusCondition(got.Conditions, trafficv1alpha1.VIPPoolExhausted)
	if cond == nil || cond.Status != exhausted || cond.Reason != reason || cond.ObservedGeneration != 3 {
		t.Fatalf("Exhausted condition %+v, want %s %s", cond, exhausted, reason)
	}
}

func TestStatusCountsAndExhausted(t *testing.T) {
	// avoidBuggyIPs: 192.0.2.0/30 holds .1, .2 and .3.
	f := newFixture(t, newPool("edge", true, "192.0.2.0/30"),
		newVIP("192.0.2.1", "edge"), newVIP("192.0.2.2", "edge"), newVIP("198.51.100.1", "other"))
	if writes := f.sync("edge"); writes != 1 {
		t.Fatalf("%d status writes, want 1", writes)
	}
	checkStatus(t, f.status("edge"), 3, 2, 1, metav1.ConditionFalse, ReasonAddressesAvailable)

	if writes := f.sync("edge"); writes != 0 {
		t.Fatalf("%d status writes of an unchanged status", writes)
	}

	f.add(f.vips, newVIP("192.0.2.3", "edge"))
	if writes := f.sync("edge"); writes != 1 {
		t.Fatalf("%d status writes, want 1", writes)
	}
	checkStatus(t, f.status("edge"), 3, 3, 0, metav1.ConditionTrue, ReasonNoAddressesLeft)
	if writes := f.sync("edge"); writes != 0 {
		t.Fatalf("%d status writes of an unchanged status", writes)
	}

	if err := f.vips.Delete(newVIP("192.0.2.2", "edge")); err != nil {
		t.Fatal(err)
	}
	f.sync("edge")
	checkStatus(t, f.status("edge"), 3, 2, 1, metav1.ConditionFalse, ReasonAddressesAvailable)
}

func TestVirtualIPOutsideThePool(t *testing.T) {
	// After spec.cidrs shrank, a VirtualIP of the pool lies outside it: it is
	// allocated but takes nothing from what is available.
	f := newFixture(t, newPool("edge", false, "192.0.2.0/31"), newVIP("192.0.2.1", "edge"), newVIP("192.0.2.9", "edge"))
	f.sync("edge")
	checkStatus(t, f.status("edge"), 2, 2, 1, metav1.ConditionFalse, ReasonAddressesAvailable)
}

func TestMissingPoolIsNotAnError(t *testing.T) {
	f := newFixture(t, newPool("edge", false, "192.0.2.0/30"))
	if writes := f.sync("gone"); writes != 0 {
		t.Fatalf("%d writes for a missing pool", writes)
	}
}

func TestControllerRuns(t *testing.T) {
	pool := newPool("edge", false, "192.0.2.0/30")
	client := fake.NewSimpleClientset(pool, newVIP("192.0.2.0", "edge"))
	factory := externalversions.NewSharedInformerFactory(client, 0)
	c := NewController(client, factory.Traffic().V1alpha1().VIPPools(), factory.Traffic().V1alpha1().VirtualIPs(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx, 2)

	waitFor := func(allocated int64) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := client.TrafficV1alpha1().VIPPools().Get(ctx, "edge", metav1.GetOptions{})
			return err == nil && got.Status.Allocated == allocated && got.Status.Total == 4, nil
		})
		if err != nil {
			t.Fatalf("pool status never showed %d allocated", allocated)
		}
	}
	waitFor(1)
	// A new VirtualIP requeues its pool.
	if _, err := client.TrafficV1alpha1().VirtualIPs().Create(ctx, newVIP("192.0.2.1", "edge"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(2)
}
