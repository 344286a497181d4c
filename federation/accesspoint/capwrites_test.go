package accesspoint

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// syncWithCAPCache refreshes the caches, then puts caps in the
// ClusterAccessPoint cache instead of what the fake API server holds, and
// runs one sync of shop/name.
func (f *fixture) syncWithCAPCache(name string, caps ...*trafficv1alpha1.ClusterAccessPoint) (time.Duration, error) {
	f.t.Helper()
	f.refresh()
	objs := make([]any, 0, len(caps))
	for _, c := range caps {
		objs = append(objs, runtime.Object(c))
	}
	f.check(f.factory.Traffic().V1alpha1().ClusterAccessPoints().Informer().GetIndexer().Replace(objs, ""))
	return f.c.sync(context.Background(), "shop/"+name)
}

// statusWrites counts the status writes of the access point since action
// number since.
func (f *fixture) statusWrites(since int) int {
	n := 0
	for _, a := range f.pc.Actions()[since:] {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "federatedaccesspoints" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// TestCacheBehindOwnClusterAccessPointWrites: a sync whose cache does not show
// the ClusterAccessPoints the previous sync wrote yet (woken by one of its own
// write events, or by its new revision's) sees those writes all the same: it
// rewrites none of them from the old spec and reports no cluster Failed.
func TestCacheBehindOwnClusterAccessPointWrites(t *testing.T) {
	f := revisionFixture(t)
	old := []*trafficv1alpha1.ClusterAccessPoint{f.clusterAccessPoint("web", "a"), f.clusterAccessPoint("web", "b")}
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	sent := f.capVersions("web", "a", "b")

	since := len(f.pc.Actions())
	if _, err := f.syncWithCAPCache("web", old...); err != nil {
		t.Fatalf("sync with a cache behind the controller's writes: %v", err)
	}
	if got := f.capWrites(since); len(got) > 0 {
		t.Fatalf("ClusterAccessPoints rewritten from a cache behind the controller's writes: %v", got)
	}
	if got := f.capVersions("web", "a", "b"); got["a"] != sent["a"] || got["b"] != sent["b"] {
		t.Fatalf("ClusterAccessPoints %v, want them as sent: %v", got, sent)
	}
	fap := f.accessPoint("web")
	expectClusters(t, fap, 2, "a=Applying,b=Applying")

	// Once the cache shows them (and the agents' reports), it counts again.
	f.healthy("web", "a", "b")
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 2, 2)
}

// TestStatusWaitsForTheReportsOfASentChange: with a status hold, the sync that
// sends a change writes no status; when every cluster has reported, one status
// write says Applied. When the reports do not come within the hold, the status
// is written then, as it stands.
func TestStatusWaitsForTheReportsOfASentChange(t *testing.T) {
	f := revisionFixture(t)
	f.c.statusHold = 250 * time.Millisecond
	edit := func(timeout string) {
		f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
			fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout(timeout)
		})
	}

	edit("2s")
	since := len(f.pc.Actions())
	f.refresh()
	wait, err := f.c.sync(context.Background(), "shop/web")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.capWrites(since); !slices.Contains(got, "update a") || !slices.Contains(got, "update b") {
		t.Fatalf("the change was not sent: %v", got)
	}
	if n := f.statusWrites(since); n != 0 || wait <= 0 || wait > f.c.statusHold {
		t.Fatalf("sending the change wrote %d statuses and looks again in %v; want none, and again within %v", n, wait, f.c.statusHold)
	}
	f.healthy("web", "a")
	f.now = f.now.Add(50 * time.Millisecond)
	f.refresh()
	if wait, err = f.c.sync(context.Background(), "shop/web"); err != nil || f.statusWrites(since) != 0 || wait <= 0 {
		t.Fatalf("with one of two reports: %d status writes, again in %v, %v; want none", f.statusWrites(since), wait, err)
	}
	f.healthy("web", "b")
	f.now = f.now.Add(10 * time.Millisecond)
	f.mustSync("web")
	if n := f.statusWrites(since); n != 1 {
		t.Fatalf("%d status writes for one change, want 1", n)
	}
	fap := f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 2, 2)
	if fap.Status.ObservedGeneration != fap.Generation {
		t.Fatalf("observedGeneration %d, want %d", fap.Status.ObservedGeneration, fap.Generation)
	}

	// No report within the hold: the status is written at its end.
	edit("3s")
	since = len(f.pc.Actions())
	f.mustSync("web")
	f.now = f.now.Add(100 * time.Millisecond)
	f.mustSync("web")
	if n := f.statusWrites(since); n != 0 {
		t.Fatalf("%d status writes within the hold, want none", n)
	}
	f.now = f.now.Add(200 * time.Millisecond)
	f.mustSync("web")
	fap = f.accessPoint("web")
	if n := f.statusWrites(since); n != 1 || fap.Status.ObservedGeneration != fap.Generation {
		t.Fatalf("after the hold: %d status writes, observedGeneration %d of %d; want 1, observed", n, fap.Status.ObservedGeneration, fap.Generation)
	}
	expectClusters(t, fap, 3, "a=Applying,b=Applying")
}

// TestStagedRolloutStatusIsNotHeld: a Staged rollout's status records its
// steps, so it is written by the sync that sends a stage, hold or not.
func TestStagedRolloutStatusIsNotHeld(t *testing.T) {
	f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) { r.Stages[0].Pause = false })
	f.c.statusHold = 250 * time.Millisecond
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	since := len(f.pc.Actions())
	f.mustSync("web")
	if n := f.statusWrites(since); n != 1 {
		t.Fatalf("%d status writes by the sync that sent the canary stage, want 1", n)
	}
	f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "canary", 2, 1)
}
