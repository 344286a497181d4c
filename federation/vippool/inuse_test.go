package vippool

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
)

// deleting marks pool as being deleted, with the in-use finalizer.
func deleting(pool *trafficv1alpha1.VIPPool) *trafficv1alpha1.VIPPool {
	pool.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	pool.Finalizers = []string{"example.com/other", inuse.TrafficFinalizer}
	return pool
}

func heldVIP(address, pool, ns, name string) *trafficv1alpha1.VirtualIP {
	vip := newVIP(address, pool)
	vip.Spec.Owner = &trafficv1alpha1.AccessPointReference{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}
	return vip
}

// createLive creates VirtualIPs in the API server (the fixture's cache is fed
// separately).
func (f *fixture) createLive(vips ...*trafficv1alpha1.VirtualIP) {
	f.t.Helper()
	for _, vip := range vips {
		if _, err := f.client.TrafficV1alpha1().VirtualIPs().Create(context.Background(), vip, metav1.CreateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) deleteEverywhere(vip *trafficv1alpha1.VirtualIP) {
	f.t.Helper()
	if err := f.vips.Delete(vip); err != nil {
		f.t.Fatal(err)
	}
	if err := f.client.TrafficV1alpha1().VirtualIPs().Delete(context.Background(), vip.Name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) pool(name string) *trafficv1alpha1.VIPPool {
	f.t.Helper()
	pool, err := f.client.TrafficV1alpha1().VIPPools().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return pool
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

// TestFinalizerAdded: every pool gets the in-use finalizer, once.
func TestFinalizerAdded(t *testing.T) {
	f := newFixture(t, newPool("edge", false, "192.0.2.0/30"))
	f.sync("edge")
	if got := f.pool("edge").Finalizers; !slices.Equal(got, []string{inuse.TrafficFinalizer}) {
		t.Fatalf("finalizers %v, want [%s]", got, inuse.TrafficFinalizer)
	}
	before := len(f.client.Actions())
	f.sync("edge")
	for _, a := range f.client.Actions()[before:] {
		if a.GetVerb() != "get" {
			t.Fatalf("%s %s on a pool that has its finalizer and an unchanged status", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// TestDeletionWaitsForVirtualIPs: a pool being deleted keeps its finalizer
// while VirtualIPs of it exist; its Terminating condition names them and
// their access points, one Warning Event says so; once they are gone (in the
// API server too) the finalizer goes, and another controller's stays.
func TestDeletionWaitsForVirtualIPs(t *testing.T) {
	checkout, cart := heldVIP("192.0.2.1", "edge", "shop", "checkout"), heldVIP("192.0.2.2", "edge", "shop", "cart")
	f := newFixture(t, deleting(newPool("edge", false, "192.0.2.0/30")), checkout, cart, heldVIP("198.51.100.1", "other", "shop", "x"))
	f.createLive(checkout, cart)

	if writes := f.sync("edge"); writes != 1 {
		t.Fatalf("%d status writes, want 1", writes)
	}
	pool := f.pool("edge")
	if !inuse.Has(pool, inuse.TrafficFinalizer) {
		t.Fatalf("the finalizer was removed while VirtualIPs hold addresses of the pool")
	}
	cond := meta.FindStatusCondition(pool.Status.Conditions, inuse.ConditionTerminating)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != inuse.ReasonInUse ||
		!strings.Contains(cond.Message, "2 users: VirtualIP 192.0.2.1 (shop/checkout), VirtualIP 192.0.2.2 (shop/cart)") ||
		strings.Contains(cond.Message, "198.51.100.1") {
		t.Fatalf("Terminating condition %+v, want True InUse naming both VirtualIPs of the pool", cond)
	}
	if pool.Status.Allocated != 2 {
		t.Fatalf("allocated %d, want 2: a pool being deleted still counts", pool.Status.Allocated)
	}
	if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning InUse deletion waits for 2 users") {
		t.Fatalf("events %q, want one Warning InUse", ev)
	}
	if writes := f.sync("edge"); writes != 0 {
		t.Fatalf("%d status writes of an unchanged status", writes)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Fatalf("events %q on a sync that changed nothing", ev)
	}

	f.deleteEverywhere(checkout)
	f.sync("edge")
	if cond := meta.FindStatusCondition(f.pool("edge").Status.Conditions, inuse.ConditionTerminating); cond == nil ||
		!strings.Contains(cond.Message, "1 user: VirtualIP 192.0.2.2 (shop/cart)") {
		t.Fatalf("after one VirtualIP went: %+v", cond)
	}

	f.deleteEverywhere(cart)
	f.sync("edge")
	if got := f.pool("edge").Finalizers; !slices.Equal(got, []string{"example.com/other"}) {
		t.Fatalf("finalizers %v once the pool is unused, want only example.com/other", got)
	}
}

// TestCacheLagKeepsTheFinalizer: the cache shows no VirtualIP of the pool but
// the API server has one (allocated a moment ago): the finalizer stays and the
// sync is retried.
func TestCacheLagKeepsTheFinalizer(t *testing.T) {
	f := newFixture(t, deleting(newPool("edge", false, "192.0.2.0/30")))
	f.createLive(heldVIP("192.0.2.1", "edge", "shop", "checkout"))
	err := f.c.sync(context.Background(), "edge")
	if err == nil || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Fatalf("sync = %v, want an error naming the VirtualIP the cache lacks", err)
	}
	if !inuse.Has(f.pool("edge"), inuse.TrafficFinalizer) {
		t.Fatalf("the finalizer was removed although the API server holds a VirtualIP of the pool")
	}
}

// TestManyUsersNamedAndCounted: the message names the first ten users and
// counts the rest.
func TestManyUsersNamedAndCounted(t *testing.T) {
	var vips []*trafficv1alpha1.VirtualIP
	for i := range 12 {
		vips = append(vips, heldVIP(fmt.Sprintf("192.0.2.%d", 10+i), "edge", "shop", fmt.Sprintf("ap-%02d", i)))
	}
	f := newFixture(t, deleting(newPool("edge", false, "192.0.2.0/24")), vips...)
	f.sync("edge")
	cond := meta.FindStatusCondition(f.pool("edge").Status.Conditions, inuse.ConditionTerminating)
	if cond == nil || !strings.Contains(cond.Message, "12 users: VirtualIP 192.0.2.10 (shop/ap-00)") ||
		!strings.Contains(cond.Message, "VirtualIP 192.0.2.19 (shop/ap-09) and 2 more") || strings.Contains(cond.Message, "192.0.2.20") {
		t.Fatalf("Terminating condition %+v, want the first ten named and 2 more counted", cond)
	}
}
