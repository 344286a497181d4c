package accesspoint

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/kubefed"
)

// fakeFollower places every followed object on clusters, or fails with err.
type fakeFollower struct {
	clusters []string
	err      error
	asked    []string
}

func (f *fakeFollower) Placed(apiVersion, kind, namespace, name string, propagated bool) ([]string, error) {
	f.asked = append(f.asked, apiVersion+" "+kind+" "+namespace+"/"+name)
	return f.clusters, f.err
}

// followingAccessPoint follows the FederatedDeployment shop/web, with no
// other placement term.
func followingAccessPoint() *trafficv1alpha1.FederatedAccessPoint {
	fap := newAccessPoint("web", "web.example.test", t0)
	fap.Spec.Placement = &trafficv1alpha1.Placement{Follow: &trafficv1alpha1.FollowReference{
		APIVersion: "types.kubefed.io/v1beta1", Kind: "FederatedDeployment", Name: "web"}}
	return fap
}

func newFollowFixture(t *testing.T, ff *fakeFollower, clusters ...*clusterv1alpha1.MemberCluster) *fixture {
	objs := []runtime.Object{followingAccessPoint()}
	for _, mc := range clusters {
		objs = append(objs, mc)
	}
	f := newFixture(t, objs...)
	f.follower = ff
	f.wire()
	return f
}

// TestFollowMovesWithTheFollowedObject: the access point is placed on the
// MemberClusters of the followed object's kubefed clusters (by name, or by
// the portico.dev/kubefed-cluster label), moves when they change, and names
// kubefed clusters no MemberCluster maps.
func TestFollowMovesWithTheFollowedObject(t *testing.T) {
	labelled := memberCluster("b", true)
	labelled.Labels[clusterv1alpha1.LabelKubefedCluster] = "kf-b"
	ff := &fakeFollower{clusters: []string{"a"}}
	f := newFollowFixture(t, ff, memberCluster("a", true), labelled, memberCluster("c", true))
	f.mustSync("web")
	if f.clusterAccessPoint("web", "a") == nil || f.clusterAccessPoint("web", "c") != nil {
		t.Fatalf("following an object placed on a: clusters %s", phases(f.accessPoint("web")))
	}
	if len(ff.asked) == 0 || ff.asked[0] != "types.kubefed.io/v1beta1 FederatedDeployment shop/web" {
		t.Fatalf("the follower was asked %v", ff.asked)
	}

	// kubefed moves the object to kf-b (MemberCluster b by label) and a
	// cluster no MemberCluster maps.
	ff.clusters = []string{"kf-b", "kf-gone"}
	f.mustSync("web")
	if f.clusterAccessPoint("web", "a") != nil || f.clusterAccessPoint("web", "b") == nil {
		t.Fatalf("after the move to kf-b: clusters %s, want b only", phases(f.accessPoint("web")))
	}
	c := condition(f.accessPoint("web"), trafficv1alpha1.AccessPointPlaced)
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonUnmappedClusters || !strings.Contains(c.Message, "kf-gone") {
		t.Fatalf("Placed = %+v, want True/UnmappedClusters naming kf-gone", c)
	}

	// Other placement terms intersect.
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) { fap.Spec.Placement.Zones = []string{"zone-a"} })
	f.mustSync("web")
	c = condition(f.accessPoint("web"), trafficv1alpha1.AccessPointPlaced)
	if f.clusterAccessPoint("web", "b") != nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonNoClusters {
		t.Fatalf("zones [zone-a] and the object on kf-b: clusters %s, Placed %+v; want none", phases(f.accessPoint("web")), c)
	}
}

// TestFollowFailureKeepsTheLastPlacement: a followed object or kind that is
// gone leaves the access point where it was and says why; a cache still
// filling changes nothing at all.
func TestFollowFailureKeepsTheLastPlacement(t *testing.T) {
	ff := &fakeFollower{clusters: []string{"a", "b"}}
	f := newFollowFixture(t, ff, memberCluster("a", true), memberCluster("b", true))
	f.mustSync("web")
	if phases(f.accessPoint("web")) != "a=Pending,b=Pending" {
		t.Fatalf("clusters %s, want a and b", phases(f.accessPoint("web")))
	}
	for _, reason := range []string{kubefed.ReasonObjectNotFound, kubefed.ReasonKindNotFound, kubefed.ReasonInvalid} {
		ff.clusters, ff.err = nil, &kubefed.FollowError{Reason: reason, Message: "test: " + reason}
		f.mustSync("web")
		if f.clusterAccessPoint("web", "a") == nil || f.clusterAccessPoint("web", "b") == nil {
			t.Fatalf("%s: clusters %s, want a and b kept", reason, phases(f.accessPoint("web")))
		}
		c := condition(f.accessPoint("web"), trafficv1alpha1.AccessPointPlaced)
		if c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, "test: "+reason) ||
			!strings.Contains(c.Message, "keeping the last placement: it stays on a, b") {
			t.Fatalf("%s: Placed = %+v", reason, c)
		}
	}

	before := len(f.pc.Actions())
	ff.err = &kubefed.FollowError{Reason: kubefed.ReasonPending, Message: "filling"}
	f.refresh()
	requeue, err := f.c.sync(t.Context(), "shop/web")
	if err != nil || requeue != followPendingRetry {
		t.Fatalf("sync while the follower's cache fills: %v, requeue %v; want a retry after %v", err, requeue, followPendingRetry)
	}
	for _, a := range f.pc.Actions()[before:] {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			t.Fatalf("a sync while the follower's cache fills wrote: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// TestEnqueueFollowers: a change of a followed object wakes its followers
// only; a KubeFedCluster change wakes every follower.
func TestEnqueueFollowers(t *testing.T) {
	f := newFollowFixture(t, &fakeFollower{})
	other := newAccessPoint("plain", "plain.example.test", t0, "a")
	_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(t.Context(), other, metav1.CreateOptions{})
	f.check(err)
	f.refresh()
	gk := schema.GroupKind{Group: "types.kubefed.io", Kind: "FederatedDeployment"}
	for _, tc := range []struct {
		ns, name string
		want     int
	}{{"shop", "web", 1}, {"shop", "other", 0}, {"bank", "web", 0}, {"", "", 1}} {
		f.c.EnqueueFollowers(gk, tc.ns, tc.name)
		if got := f.c.queue.Len(); got != tc.want {
			t.Errorf("a change of %s/%s queued %d access points, want %d", tc.ns, tc.name, got, tc.want)
		}
		for f.c.queue.Len() > 0 {
			k, _ := f.c.queue.Get()
			f.c.queue.Done(k)
		}
	}
}

// TestStagedMoveIsMakeBeforeBreak: under a Staged rollout, when the followed
// object moves, the cluster the access point leaves keeps it until the new
// cluster is healthy on the revision; without a staged rollout it goes at
// once (TestFollowMovesWithTheFollowedObject).
func TestStagedMoveIsMakeBeforeBreak(t *testing.T) {
	ff := &fakeFollower{clusters: []string{"a"}}
	f := newFollowFixture(t, ff, memberCluster("a", true), memberCluster("b", true))
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Rollout = &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutStaged,
			Stages: []trafficv1alpha1.RolloutStage{{Name: "all", ClusterSelector: &metav1.LabelSelector{}}}}
	})
	f.mustSync("web")
	f.healthy("web", "a")
	f.mustSync("web")

	ff.clusters = []string{"b"}
	f.mustSync("web")
	if f.clusterAccessPoint("web", "a") == nil || f.clusterAccessPoint("web", "b") == nil {
		t.Fatalf("moving to b under a staged rollout: a kept %t, b sent %t; want both", f.clusterAccessPoint("web", "a") != nil, f.clusterAccessPoint("web", "b") != nil)
	}
	c := condition(f.accessPoint("web"), trafficv1alpha1.AccessPointPlaced)
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonMoving || !strings.Contains(c.Message, "leaving a once b is healthy") {
		t.Fatalf("Placed = %+v, want True/Moving leaving a once b is healthy", c)
	}
	f.mustSync("web")
	if f.clusterAccessPoint("web", "a") == nil {
		t.Fatal("a lost the access point before b reported healthy")
	}

	f.healthy("web", "b")
	f.mustSync("web")
	if f.clusterAccessPoint("web", "a") != nil {
		t.Fatal("a kept the access point after b became healthy")
	}
	if c := condition(f.accessPoint("web"), trafficv1alpha1.AccessPointPlaced); c.Reason != ReasonPlaced || c.Message != "placed on b" {
		t.Fatalf("Placed = %+v after the move, want Placed: placed on b", c)
	}
}
