package accesspoint

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// timeoutOverride sets the first route's timeout of the VirtualService on one
// cluster.
func timeoutOverride(cluster, timeout string) trafficv1alpha1.ClusterOverride {
	return trafficv1alpha1.ClusterOverride{ClusterName: cluster, ClusterOverrides: []trafficv1alpha1.OverridePatch{{
		Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: &trafficv1alpha1.JSONValue{Raw: []byte(fmt.Sprintf("%q", timeout))}}}}
}

// capWrites lists the ClusterAccessPoint writes made since action number
// since, as "verb cluster".
func (f *fixture) capWrites(since int) []string {
	var out []string
	for _, w := range f.writes(since) {
		verb, rest, _ := strings.Cut(w, " ")
		if ns, ok := strings.CutPrefix(rest, "clusteraccesspoints "); ok {
			out = append(out, verb+" "+strings.TrimPrefix(ns, clusterv1alpha1.ClusterNamespace("")))
		}
	}
	return out
}

// capVersions is each cluster's ClusterAccessPoint as
// "cluster:resourceVersion/generation".
func (f *fixture) capVersions(name string, clusters ...string) map[string]string {
	f.t.Helper()
	out := map[string]string{}
	for _, c := range clusters {
		if cap := f.clusterAccessPoint(name, c); cap != nil {
			out[c] = fmt.Sprintf("%s/%d", cap.ResourceVersion, cap.Generation)
		}
	}
	return out
}

// expectClusters checks status.clusters: every cluster sent revision, in
// phase as phases says (as "a=Applied,b=Applying"), and those Applied report
// status.revision as observedRevision.
func expectClusters(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, revision int64, want string) {
	t.Helper()
	if got := phases(fap); got != want {
		t.Fatalf("clusters %s, want %s", got, want)
	}
	for _, s := range fap.Status.Clusters {
		if s.Revision != revision || s.Phase == trafficv1alpha1.ClusterPhaseApplied && s.ObservedRevision != fap.Status.Revision {
			t.Fatalf("cluster %+v: want revision %d, observedRevision %s once Applied", s, revision, fap.Status.Revision)
		}
	}
}

// TestOverrideChangeRewritesOneClusterAccessPoint: an override changed for one
// of three clusters makes a new revision, but only that cluster's
// ClusterAccessPoint is rewritten; the other two, whose manifests are the
// same, are on the new revision as they are (Applied, counted updated), and
// the access point is Applied and rolled out once the one cluster reports it.
// (Issue 18: a probe saw 3 ClusterAccessPoint updates for 1 changed cluster.)
func TestOverrideChangeRewritesOneClusterAccessPoint(t *testing.T) {
	clusters := []string{"a", "b", "c"}
	fap := newAccessPoint("web", "web.example.test", t0, clusters...)
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{{Name: "web", Spec: vsWithTimeout("1s")}}
	f := newFixture(t, fap, memberCluster("a", true), memberCluster("b", true), memberCluster("c", true))
	f.mustSync("web")
	f.healthy("web", clusters...)
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 1, 1)
	before := f.capVersions("web", clusters...)
	oldB := f.clusterAccessPoint("web", "b").Spec.Revision

	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Overrides = []trafficv1alpha1.ClusterOverride{timeoutOverride("b", "9s")}
		// The same template with other key order and spacing (as another
		// client may store it) changes nothing a cluster is sent.
		fap.Spec.Template.VirtualServices[0].Spec.Raw = []byte(
			`{ "http": [ {"route": [{"destination": {"host": "web"}}], "timeout": "1s"} ], "hosts": ["web.example.test"] }`)
	})
	since := len(f.pc.Actions())
	f.mustSync("web")
	if w := f.capWrites(since); !slices.Equal(w, []string{"update b"}) {
		t.Fatalf("an override for b wrote ClusterAccessPoints %v, want [update b]", w)
	}
	after := f.capVersions("web", clusters...)
	for _, c := range []string{"a", "c"} {
		if after[c] != before[c] {
			t.Fatalf("cluster %s's ClusterAccessPoint changed (resourceVersion/generation %s -> %s)", c, before[c], after[c])
		}
	}
	b := f.clusterAccessPoint("web", "b")
	if b.Spec.AccessPointRevision != 2 || b.Spec.Revision == oldB || after["b"] == before["b"] {
		t.Fatalf("cluster b's ClusterAccessPoint: revision %d (%s), %s -> %s; want revision 2 with new manifests",
			b.Spec.AccessPointRevision, b.Spec.Revision, before["b"], after["b"])
	}
	if !strings.Contains(string(b.Spec.Manifests[1].Raw), `"timeout":"9s"`) {
		t.Fatalf("cluster b's VirtualService does not carry the override: %s", b.Spec.Manifests[1].Raw)
	}
	got := f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "", 2, 1)
	expectClusters(t, got, 2, "a=Applied,b=Applying,c=Applied")
	if c := condition(got, trafficv1alpha1.AccessPointApplied); c.Status != metav1.ConditionFalse || c.Message != "2 of 3 clusters applied" {
		t.Fatalf("Applied = %+v, want 2 of 3 clusters applied", c)
	}
	if u := got.Status.Rollout.UpdatedClusters; u != 2 {
		t.Fatalf("updatedClusters %d, want a and c (their rendering did not change)", u)
	}

	f.healthy("web", "b")
	since = len(f.pc.Actions())
	f.mustSync("web")
	if w := f.capWrites(since); len(w) > 0 {
		t.Fatalf("b's report wrote ClusterAccessPoints %v", w)
	}
	got = f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 2, 2)
	expectClusters(t, got, 2, "a=Applied,b=Applied,c=Applied")
	for _, cond := range []string{trafficv1alpha1.AccessPointApplied, trafficv1alpha1.AccessPointRolledOut, trafficv1alpha1.ConditionReady} {
		if c := condition(got, cond); c.Status != metav1.ConditionTrue {
			t.Fatalf("%s = %+v after b reported revision 2", cond, c)
		}
	}
	if got.Status.Rollout.UpdatedClusters != 3 {
		t.Fatalf("rollout %+v, want 3 clusters updated", got.Status.Rollout)
	}
	if now := f.capVersions("web", "a", "c"); now["a"] != before["a"] || now["c"] != before["c"] {
		t.Fatalf("a or c was rewritten: %v, was %v", now, before)
	}
}

// TestStagedOverrideChangeDoesNotStallEarlierStages: under a Staged rollout,
// an override changed for a cluster of the last stage does not wait on the
// earlier stage's cluster, whose rendering did not change: the same sync
// finds it healthy on the new revision, moves to the last stage and rewrites
// only the changed cluster.
func TestStagedOverrideChangeDoesNotStallEarlierStages(t *testing.T) {
	f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) { r.Stages[0].Pause = false })
	clusters := []string{"a", "b", "c"}
	before := f.capVersions("web", clusters...)

	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Overrides = []trafficv1alpha1.ClusterOverride{timeoutOverride("c", "9s")}
	})
	since := len(f.pc.Actions())
	f.mustSync("web")
	if w := f.capWrites(since); !slices.Equal(w, []string{"update c"}) {
		t.Fatalf("an override for c wrote ClusterAccessPoints %v, want [update c]", w)
	}
	got := f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "rest", 2, 1)
	expectClusters(t, got, 2, "a=Applied,b=Applied,c=Applying")
	if after := f.capVersions("web", clusters...); after["a"] != before["a"] || after["b"] != before["b"] || after["c"] == before["c"] {
		t.Fatalf("ClusterAccessPoints %v, were %v: want only c's rewritten", after, before)
	}
	if !strings.HasPrefix(got.Status.Rollout.Message, "stage rest: 1 of 2 clusters healthy on revision 2; waiting for c: ") {
		t.Fatalf("rollout message %q", got.Status.Rollout.Message)
	}

	f.healthy("web", "c")
	f.mustSync("web")
	got = f.expectRollout("web", trafficv1alpha1.RolloutComplete, "rest", 2, 2)
	expectClusters(t, got, 2, "a=Applied,b=Applied,c=Applied")
	if c := condition(got, trafficv1alpha1.AccessPointRolledOut); c.Status != metav1.ConditionTrue || got.Status.Rollout.UpdatedClusters != 3 {
		t.Fatalf("RolledOut = %+v, rollout %+v", c, got.Status.Rollout)
	}
}

// TestPausedRolloutShowsUnchangedClustersOnTheTarget: with spec.rollout.paused
// nothing is written; the status says the clusters whose rendering the new
// revision does not change are on it, and the changed one on the old one.
func TestPausedRolloutShowsUnchangedClustersOnTheTarget(t *testing.T) {
	f := rolloutFixture(t, nil)
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Overrides = []trafficv1alpha1.ClusterOverride{timeoutOverride("c", "9s")}
		fap.Spec.Rollout.Paused = true
	})
	since := len(f.pc.Actions())
	f.mustSync("web")
	if w := f.capWrites(since); len(w) > 0 {
		t.Fatalf("a paused rollout wrote ClusterAccessPoints %v", w)
	}
	got := f.expectRollout("web", trafficv1alpha1.RolloutPaused, "", 2, 1)
	if s := clusterRevisions(got); s != "a=2 b=2 c=1" {
		t.Fatalf("status.clusters revisions %s, want a=2 b=2 c=1", s)
	}
}
