package accesspoint

import (
	"context"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// revisionFixture is shop/web on clusters a and b, applied on both at
// revision 1, with a VirtualService timeout of 1s.
func revisionFixture(t *testing.T) *fixture {
	t.Helper()
	fap := newAccessPoint("web", "web.example.test", t0, "a", "b")
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{{Name: "web", Spec: vsWithTimeout("1s")}}
	f := newFixture(t, fap, memberCluster("a", true), memberCluster("b", true))
	f.mustSync("web")
	f.healthy("web", "a", "b")
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 1, 1)
	return f
}

// revisionNumbers lists the numbers of shop/web's AccessPointRevisions in the
// fake API server.
func (f *fixture) revisionNumbers() []int64 {
	f.t.Helper()
	list, err := f.pc.TrafficV1alpha1().AccessPointRevisions("shop").List(context.Background(), metav1.ListOptions{})
	f.check(err)
	var out []int64
	for _, r := range list.Items {
		out = append(out, r.Spec.Revision)
	}
	slices.Sort(out)
	return out
}

// TestNewRevisionDoesNotHoldBackTheClusterAccessPoints: the new revision of a
// changed spec is created beside the ClusterAccessPoints' writes, not before
// them. When its create fails, the clusters have been sent the change all the
// same and the sync fails; the next sync creates the revision with the same
// number and content and rewrites nothing the clusters hold.
func TestNewRevisionDoesNotHoldBackTheClusterAccessPoints(t *testing.T) {
	f := revisionFixture(t)
	failing := true
	f.pc.PrependReactor("create", "accesspointrevisions", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failing {
			return true, nil, apierrors.NewServiceUnavailable("etcd is away")
		}
		return false, nil, nil
	})
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	since := len(f.pc.Actions())
	if err := f.sync("web"); err == nil {
		t.Fatal("the sync whose revision create failed succeeded")
	}
	if got := f.capWrites(since); !slices.Equal(got, []string{"update a", "update b"}) && !slices.Equal(got, []string{"update b", "update a"}) {
		t.Fatalf("ClusterAccessPoint writes %v, want both updated while the revision's create failed", got)
	}
	sent := f.capVersions("web", "a", "b")
	for _, c := range []string{"a", "b"} {
		if cap := f.clusterAccessPoint("web", c); cap.Spec.AccessPointRevision != 2 {
			t.Fatalf("cluster %s holds revision %d, want 2", c, cap.Spec.AccessPointRevision)
		}
	}
	if got := f.revisionNumbers(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("revisions %v after the failed create", got)
	}

	failing = false
	since = len(f.pc.Actions())
	f.mustSync("web")
	if got := f.revisionNumbers(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("revisions %v, want 1 and 2", got)
	}
	if got := f.capWrites(since); len(got) > 0 {
		t.Fatalf("the sync that created the revision rewrote ClusterAccessPoints: %v", got)
	}
	if got := f.capVersions("web", "a", "b"); got["a"] != sent["a"] || got["b"] != sent["b"] {
		t.Fatalf("ClusterAccessPoints %v, want them as sent: %v", got, sent)
	}
	f.healthy("web", "a", "b")
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 2, 2)
}

// TestCreatedRevisionCountsBeforeTheCacheShowsIt: a sync right after the one
// that created a revision, with a cache that does not show it yet, neither
// fails nor creates it again; once the cache has not shown it for
// createdRevisionTTL (deleted before the cache saw it), it is created again.
func TestCreatedRevisionCountsBeforeTheCacheShowsIt(t *testing.T) {
	f := revisionFixture(t)
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	if got := f.revisionNumbers(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("revisions %v, want 1 and 2", got)
	}
	lagging := func() error {
		f.refresh()
		revs := f.factory.Traffic().V1alpha1().AccessPointRevisions().Informer().GetIndexer()
		obj, ok, err := revs.GetByKey("shop/web-2")
		f.check(err)
		if ok {
			f.check(revs.Delete(obj))
		}
		_, err = f.c.sync(context.Background(), "shop/web")
		return err
	}
	f.healthy("web", "a", "b")
	since := len(f.pc.Actions())
	if err := lagging(); err != nil {
		t.Fatalf("sync with a cache behind the created revision: %v", err)
	}
	if got := f.writes(since); slices.Contains(got, "create accesspointrevisions shop") {
		t.Fatalf("the revision was created again: %v", got)
	}
	f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 2, 2)

	gvr := schema.GroupVersionResource{Group: trafficv1alpha1.SchemeGroupVersion.Group, Version: "v1alpha1", Resource: "accesspointrevisions"}
	f.check(f.pc.Tracker().Delete(gvr, "shop", "web-2"))
	f.now = f.now.Add(createdRevisionTTL + time.Second)
	if err := lagging(); err != nil {
		t.Fatalf("sync after the created revision's time: %v", err)
	}
	if got := f.revisionNumbers(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("revisions %v, want 2 created again", got)
	}
}
