package accesspoint

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clienttesting "k8s.io/client-go/testing"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestMidRolloutReadsTheAPIServerOnlyWhenTheCacheMayLag: an access point whose
// rollout is in flight is decided from the API server unless the cache holds
// this controller's last write of it, or the access point was created after
// the controller started and it never wrote it (no other writer exists then).
func TestMidRolloutReadsTheAPIServerOnlyWhenTheCacheMayLag(t *testing.T) {
	f := newFixture(t, memberCluster("a", true),
		newAccessPoint("old", "old.example.com", t0, "a"),
		newAccessPoint("new", "new.example.com", time.Now().Add(time.Hour), "a"))
	gets := func(name string, cache func()) int {
		t.Helper()
		f.refresh()
		if cache != nil {
			cache()
		}
		before := len(f.pc.Actions())
		if _, err := f.c.sync(context.Background(), "shop/"+name); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range f.pc.Actions()[before:] {
			if a.GetVerb() == "get" && a.GetResource().Resource == "federatedaccesspoints" {
				n++
			}
		}
		return n
	}
	if n := gets("old", nil); n != 1 {
		t.Errorf("an access point created before the controller started, never written by it: %d GETs, want 1", n)
	}
	if n := gets("new", nil); n != 0 {
		t.Errorf("an access point created after the controller started, never written by it: %d GETs, want 0", n)
	}

	// The cache shows the controller's last write, or a later version (an
	// edit since): no GET. It shows an older version: a GET. A version that
	// is not a number is fresh only when it is the last write.
	setCached := func(name, rv string) func() {
		return func() {
			fap := f.accessPoint(name).DeepCopy()
			fap.ResourceVersion = rv
			f.check(f.factory.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Update(fap))
		}
	}
	wrote := func(name, rv string) { f.c.written.Store("shop/"+name, &writtenVersion{rv: rv}) }
	for _, name := range []string{"old", "new"} {
		if !rolloutInFlight(f.accessPoint(name)) {
			t.Fatalf("%s: the rollout should still be in flight (nothing applied)", name)
		}
		wrote(name, "42")
		if n := gets(name, setCached(name, "42")); n != 0 {
			t.Errorf("%s: the cache holds the last write: %d GETs, want 0", name, n)
		}
		wrote(name, "42")
		if n := gets(name, setCached(name, "100")); n != 0 {
			t.Errorf("%s: the cache holds a later version than the last write: %d GETs, want 0", name, n)
		}
		wrote(name, "43")
		if n := gets(name, setCached(name, "42")); n != 1 {
			t.Errorf("%s: the cache lags behind the last write: %d GETs, want 1", name, n)
		}
		wrote(name, "x43")
		if n := gets(name, setCached(name, "x44")); n != 1 {
			t.Errorf("%s: versions that are not numbers differ: %d GETs, want 1", name, n)
		}
		wrote(name, "x43")
		if n := gets(name, setCached(name, "x43")); n != 0 {
			t.Errorf("%s: versions that are not numbers are equal: %d GETs, want 0", name, n)
		}
	}
}

// TestCacheBehindTheLastWriteUsesWhatItReturned: when the cache has not seen
// the controller's last write yet (an agent's report arrives first), the sync
// decides from the object that write returned, without a GET; once the cache
// shows that version, the kept object is dropped.
func TestCacheBehindTheLastWriteUsesWhatItReturned(t *testing.T) {
	f := newFixture(t, memberCluster("a", true), newAccessPoint("old", "old.example.com", t0, "a"))
	f.refresh()
	cached := f.accessPoint("old")
	if !rolloutInFlight(cached) {
		t.Fatal("the rollout should still be in flight (nothing applied)")
	}
	lagging := cached.DeepCopy()
	lagging.ResourceVersion = "42"
	f.check(f.factory.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Update(lagging))
	// What the write returned: a later version, at a generation the cache
	// does not show yet.
	returned := cached.DeepCopy()
	returned.ResourceVersion, returned.Generation = "43", 7
	f.c.wrote(returned)

	before := len(f.pc.Actions())
	if _, err := f.c.sync(context.Background(), "shop/old"); err != nil {
		t.Fatal(err)
	}
	var statusPatch string
	for _, a := range f.pc.Actions()[before:] {
		if a.GetVerb() == "get" && a.GetResource().Resource == "federatedaccesspoints" {
			t.Errorf("a GET of the access point: the sync had what the last write returned")
		}
		if p, ok := a.(clienttesting.PatchAction); ok && a.GetSubresource() == "status" {
			statusPatch = string(p.GetPatch())
		}
	}
	if !strings.Contains(statusPatch, `"observedGeneration":7`) {
		t.Errorf("the status written was not decided from the returned object (generation 7): %s", statusPatch)
	}

	// The cache catches up: it is read again, and the kept object goes.
	f.c.wrote(returned)
	caughtUp := cached.DeepCopy()
	caughtUp.ResourceVersion = "43"
	if got := f.c.freshest("shop/old", caughtUp); got != caughtUp {
		t.Errorf("the cache shows the last write: read %v, want the cached object", got)
	}
	if v, _ := f.c.written.Load("shop/old"); v.(*writtenVersion).fap != nil || v.(*writtenVersion).rv != "43" {
		t.Errorf("after the cache showed the last write: kept %+v, want its version only", v)
	}
}

// TestDeletionSeenInTheLastWriteCleansUp: the object the controller's last
// write returned shows a deletion the cache does not show yet: the sync
// cleans up (the finalizer goes) instead of rendering and writing status.
func TestDeletionSeenInTheLastWriteCleansUp(t *testing.T) {
	f := newFixture(t, memberCluster("a", true), newAccessPoint("old", "old.example.com", t0, "a"))
	f.refresh()
	cached := f.accessPoint("old").DeepCopy()
	cached.ResourceVersion = "42"
	cached.Finalizers = []string{Finalizer}
	f.check(f.factory.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Update(cached))
	returned := cached.DeepCopy()
	returned.ResourceVersion = "43"
	returned.DeletionTimestamp = &metav1.Time{Time: t0}
	f.c.wrote(returned)

	before := len(f.pc.Actions())
	if _, err := f.c.sync(context.Background(), "shop/old"); err != nil {
		t.Fatal(err)
	}
	removed := false
	for _, a := range f.pc.Actions()[before:] {
		if a.GetSubresource() == "status" || a.GetResource().Resource == "clusteraccesspoints" && a.GetVerb() == "create" {
			t.Errorf("the sync of an access point being deleted wrote %s %s/%s", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
		}
		if u, ok := a.(clienttesting.UpdateAction); ok && a.GetResource().Resource == "federatedaccesspoints" {
			if fap := u.GetObject().(*trafficv1alpha1.FederatedAccessPoint); !slices.Contains(fap.Finalizers, Finalizer) {
				removed = true
			}
		}
	}
	if !removed {
		t.Errorf("the finalizer was not removed: %v", f.pc.Actions()[before:])
	}
}
