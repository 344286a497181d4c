package accesspoint

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// rolloutFixture is a staged access point on clusters a, b and c: stage
// canary (a, waits for approval), then stage rest (b, c).
func rolloutFixture(t *testing.T, edit func(*trafficv1alpha1.RolloutSpec)) *fixture {
	fap := newAccessPoint("web", "web.example.test", t0, "a", "b", "c")
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{{Name: "web", Spec: vsWithTimeout("1s")}}
	fap.Spec.Rollout = &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutStaged, Stages: []trafficv1alpha1.RolloutStage{
		{Name: "canary", Clusters: []trafficv1alpha1.ClusterReference{{Name: "a"}}, Pause: true},
		{Name: "rest"},
	}}
	if edit != nil {
		edit(fap.Spec.Rollout)
	}
	f := newFixture(t, fap, memberCluster("a", true), memberCluster("b", true), memberCluster("c", true))
	f.mustSync("web")
	f.healthy("web", "a", "b", "c")
	f.mustSync("web")
	if r := f.accessPoint("web").Status.Rollout; r == nil || r.Phase != trafficv1alpha1.RolloutComplete || r.StableRevision != 1 {
		t.Fatalf("the first revision did not complete at once: %+v", r)
	}
	f.drainEvents()
	return f
}

func vsWithTimeout(timeout string) trafficv1alpha1.JSONObject {
	return trafficv1alpha1.JSONObject{Raw: []byte(fmt.Sprintf(`{"hosts":["web.example.test"],"http":[{"timeout":%q,"route":[{"destination":{"host":"web"}}]}]}`, timeout))}
}

// healthy makes the clusters' agents report what they were sent applied, with
// a ready gateway endpoint.
func (f *fixture) healthy(name string, clusters ...string) {
	f.t.Helper()
	for _, c := range clusters {
		rev := f.clusterAccessPoint(name, c).Spec.Revision
		f.agentReports(name, c, func(s *trafficv1alpha1.ClusterAccessPointStatus) {
			s.ObservedRevision = rev
			s.Conditions = []metav1.Condition{
				{Type: trafficv1alpha1.ClusterAccessPointApplied, Status: metav1.ConditionTrue, Reason: "Applied", LastTransitionTime: metav1.NewTime(t0)},
				{Type: trafficv1alpha1.ClusterAccessPointDegraded, Status: metav1.ConditionFalse, Reason: "Applied", LastTransitionTime: metav1.NewTime(t0)},
			}
			s.Gateway.Endpoints = []trafficv1alpha1.GatewayEndpoint{{Address: "10.0.0.1", Ready: true}}
		})
	}
}

// degraded makes a cluster's agent report what it was sent refused.
func (f *fixture) degraded(name, cluster string) {
	f.t.Helper()
	rev := f.clusterAccessPoint(name, cluster).Spec.Revision
	f.agentReports(name, cluster, func(s *trafficv1alpha1.ClusterAccessPointStatus) {
		s.ObservedRevision = rev
		s.Conditions = []metav1.Condition{
			{Type: trafficv1alpha1.ClusterAccessPointApplied, Status: metav1.ConditionFalse, Reason: "ApplyFailed", LastTransitionTime: metav1.NewTime(t0)},
			{Type: trafficv1alpha1.ClusterAccessPointDegraded, Status: metav1.ConditionTrue, Reason: "ApplyFailed",
				Message: "VirtualService shop/web: denied by policy", LastTransitionTime: metav1.NewTime(t0)},
		}
	})
}

// revisionsSent is the revision each cluster's ClusterAccessPoint was
// written for (the last one that changed what it renders there), as
// "a=1 b=1 c=1".
func (f *fixture) revisionsSent(name string, clusters ...string) string {
	f.t.Helper()
	var out []string
	for _, c := range clusters {
		n := int64(0)
		if cap := f.clusterAccessPoint(name, c); cap != nil {
			n = cap.Spec.AccessPointRevision
		}
		out = append(out, fmt.Sprintf("%s=%d", c, n))
	}
	return strings.Join(out, " ")
}

func (f *fixture) approve(name string) {
	f.t.Helper()
	fap := f.accessPoint(name)
	r := fap.Status.Rollout
	r.Approvals = append(r.Approvals, trafficv1alpha1.RolloutApprovalRecord{Stage: r.Stage, Revision: r.Revision, User: "alice", Time: metav1.NewTime(f.now)})
	_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").UpdateStatus(context.Background(), fap, metav1.UpdateOptions{})
	f.check(err)
}

func (f *fixture) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-f.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) expectRollout(name, phase, stage string, revision, stable int64) *trafficv1alpha1.FederatedAccessPoint {
	f.t.Helper()
	fap := f.accessPoint(name)
	r := fap.Status.Rollout
	if r == nil || r.Phase != phase || r.Stage != stage || r.Revision != revision || r.StableRevision != stable {
		f.t.Fatalf("rollout %+v, want phase %s stage %q revision %d stable %d", r, phase, stage, revision, stable)
	}
	return fap
}

func TestStagedRolloutWaitsForApprovalThenCompletes(t *testing.T) {
	f := rolloutFixture(t, nil)
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	fap := f.expectRollout("web", trafficv1alpha1.RolloutPaused, "canary", 2, 1)
	if c := condition(fap, trafficv1alpha1.AccessPointRolledOut); c.Reason != trafficv1alpha1.RolledOutReasonAwaitingApproval {
		t.Fatalf("RolledOut = %+v", c)
	}
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=1 b=1 c=1" {
		t.Fatalf("before approval the clusters were sent %s", got)
	}
	if c := condition(fap, trafficv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Fatalf("a waiting rollout holds Ready back: %+v", c)
	}
	if rev, err := f.pc.TrafficV1alpha1().AccessPointRevisions("shop").Get(context.Background(), "web-2", metav1.GetOptions{}); err != nil ||
		rev.Spec.Revision != 2 || len(rev.OwnerReferences) != 1 || rev.OwnerReferences[0].UID != fap.UID {
		t.Fatalf("revision web-2: %+v %v", rev, err)
	}

	f.approve("web")
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "canary", 2, 1)
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=2 b=1 c=1" {
		t.Fatalf("after approval the clusters were sent %s, want only the canary on 2", got)
	}
	f.healthy("web", "a")
	f.mustSync("web")
	fap = f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "rest", 2, 1)
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=2 b=2 c=2" {
		t.Fatalf("stage rest sent %s", got)
	}
	if fap.Status.Rollout.UpdatedClusters != 1 || fap.Status.Rollout.TotalClusters != 3 || len(fap.Status.Rollout.Approvals) != 1 {
		t.Fatalf("rollout %+v", fap.Status.Rollout)
	}
	f.healthy("web", "b", "c")
	f.mustSync("web")
	fap = f.expectRollout("web", trafficv1alpha1.RolloutComplete, "rest", 2, 2)
	if c := condition(fap, trafficv1alpha1.AccessPointRolledOut); c.Status != metav1.ConditionTrue || fap.Status.Rollout.UpdatedClusters != 3 {
		t.Fatalf("RolledOut = %+v, rollout %+v", c, fap.Status.Rollout)
	}
	for _, cs := range fap.Status.Clusters {
		if cs.Revision != 2 || cs.Phase != trafficv1alpha1.ClusterPhaseApplied {
			t.Fatalf("cluster %+v", cs)
		}
	}
	events := f.drainEvents()
	if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, "Normal Complete revision 2 runs on all 3 clusters") }) {
		t.Fatalf("events %q", events)
	}
}

func TestStagedRolloutHaltsAndRollsBack(t *testing.T) {
	for _, autoRollback := range []bool{false, true} {
		t.Run(fmt.Sprintf("autoRollback=%t", autoRollback), func(t *testing.T) {
			f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) { r.AutoRollback = autoRollback })
			f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
				fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
			})
			f.mustSync("web")
			f.approve("web")
			f.mustSync("web")
			f.degraded("web", "a")
			f.mustSync("web")
			fap := f.expectRollout("web", trafficv1alpha1.RolloutHalted, "canary", 2, 1)
			if !strings.Contains(fap.Status.Rollout.Message, "a: Degraded: VirtualService shop/web: denied by policy") {
				t.Fatalf("message %q", fap.Status.Rollout.Message)
			}
			want := "a=2 b=1 c=1"
			if autoRollback {
				want = "a=1 b=1 c=1"
			}
			if got := f.revisionsSent("web", "a", "b", "c"); got != want {
				t.Fatalf("after the halt the clusters were sent %s, want %s", got, want)
			}
			events := f.drainEvents()
			if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, "Warning RolloutHalted revision 2 halted") }) {
				t.Fatalf("events %q", events)
			}
			// A halt stays: the canary recovering does not resume the rollout.
			if autoRollback {
				f.healthy("web", "a")
			}
			before := len(f.pc.Actions())
			f.mustSync("web")
			f.expectRollout("web", trafficv1alpha1.RolloutHalted, "canary", 2, 1)
			if w := f.writes(before); slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "clusteraccesspoints") }) {
				t.Fatalf("a halted rollout wrote %v", w)
			}
		})
	}
}

func TestRolloutPausedWritesNothing(t *testing.T) {
	f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) { r.Stages[0].Pause = false })
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
		fap.Spec.Rollout.Paused = true
	})
	before := len(f.pc.Actions())
	f.mustSync("web")
	fap := f.expectRollout("web", trafficv1alpha1.RolloutPaused, "", 2, 1)
	if c := condition(fap, trafficv1alpha1.AccessPointRolledOut); c.Reason != trafficv1alpha1.RolledOutReasonPausedBySpec {
		t.Fatalf("RolledOut = %+v", c)
	}
	if w := f.writes(before); slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "clusteraccesspoints") }) {
		t.Fatalf("a paused rollout wrote %v", w)
	}
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) { fap.Spec.Rollout.Paused = false })
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "canary", 2, 1)
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=2 b=1 c=1" {
		t.Fatalf("resumed rollout sent %s", got)
	}
}

func TestRolloutSoaksBeforeTheNextStage(t *testing.T) {
	f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) { r.Stages[0].Pause, r.Stages[0].SoakSeconds = false, 60 })
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	f.healthy("web", "a")
	f.refresh()
	requeue, err := f.c.sync(context.Background(), "shop/web")
	if err != nil || requeue != time.Minute {
		t.Fatalf("sync asked to look again in %v (%v), want 1m", requeue, err)
	}
	fap := f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "canary", 2, 1)
	if s := fap.Status.Rollout.StageHealthySince; s == nil || !s.Time.Equal(f.now) {
		t.Fatalf("stageHealthySince %v", s)
	}
	f.now = f.now.Add(59 * time.Second)
	f.mustSync("web")
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=2 b=1 c=1" {
		t.Fatalf("during the soak the clusters were sent %s", got)
	}
	f.now = f.now.Add(time.Second)
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "rest", 2, 1)
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=2 b=2 c=2" {
		t.Fatalf("after the soak the clusters were sent %s", got)
	}
}

// TestRolloutContinuesUnderANewLeader: a second controller, with nothing in
// memory, continues from the recorded stage and rewrites nothing the first
// one finished.
func TestRolloutContinuesUnderANewLeader(t *testing.T) {
	f := rolloutFixture(t, nil)
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	f.approve("web")
	f.mustSync("web")

	g := &fixture{t: t, pc: f.pc, events: f.events, now: f.now}
	g.wire()
	g.healthy("web", "a")
	canary := g.clusterAccessPoint("web", "a").ResourceVersion
	g.mustSync("web")
	g.expectRollout("web", trafficv1alpha1.RolloutProgressing, "rest", 2, 1)
	if rv := g.clusterAccessPoint("web", "a").ResourceVersion; rv != canary {
		t.Fatalf("the new leader rewrote the finished canary stage (resourceVersion %s -> %s)", canary, rv)
	}
	if got := g.revisionsSent("web", "a", "b", "c"); got != "a=2 b=2 c=2" {
		t.Fatalf("the new leader sent %s", got)
	}
}

func TestUndoGoesEverywhereAtOnce(t *testing.T) {
	f := rolloutFixture(t, nil)
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	f.approve("web")
	f.mustSync("web")
	f.degraded("web", "a")
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutHalted, "canary", 2, 1)
	// kubectl portico rollout undo --to-revision=1
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("1s")
		fap.Annotations = map[string]string{trafficv1alpha1.RollbackAnnotation: "1"}
	})
	f.mustSync("web")
	fap := f.expectRollout("web", trafficv1alpha1.RolloutProgressing, "", 3, 1)
	if got := clusterRevisions(fap); got != "a=3 b=3 c=3" {
		t.Fatalf("the rollback sent %s, want every cluster at once", got)
	}
	// b and c run revision 1, which renders what 3 does: only a is rewritten.
	if got := f.revisionsSent("web", "a", "b", "c"); got != "a=3 b=1 c=1" {
		t.Fatalf("the rollback wrote %s, want only a's ClusterAccessPoint", got)
	}
	f.healthy("web", "a")
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutComplete, "", 3, 3)
}

// clusterRevisions is the revision status.clusters says each cluster is
// sent, as "a=1 b=1".
func clusterRevisions(fap *trafficv1alpha1.FederatedAccessPoint) string {
	var out []string
	for _, c := range fap.Status.Clusters {
		out = append(out, fmt.Sprintf("%s=%d", c.Name, c.Revision))
	}
	return strings.Join(out, " ")
}

func TestNewClusterGetsTheStableRevisionUntilItsStage(t *testing.T) {
	f := rolloutFixture(t, nil)
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
		fap.Spec.Placement.Clusters = append(fap.Spec.Placement.Clusters, trafficv1alpha1.ClusterReference{Name: "d"})
	})
	_, err := f.pc.ClusterV1alpha1().MemberClusters().Create(context.Background(), memberCluster("d", true), metav1.CreateOptions{})
	f.check(err)
	f.mustSync("web")
	if got := f.revisionsSent("web", "a", "b", "c", "d"); got != "a=1 b=1 c=1 d=1" {
		t.Fatalf("the new cluster got %s, want the stable revision", got)
	}
}

func TestRevisionsArePrunedBeyondTheHistoryLimit(t *testing.T) {
	limit := int32(2)
	f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) {
		r.Strategy, r.Stages, r.RevisionHistoryLimit = trafficv1alpha1.RolloutAllAtOnce, nil, &limit
	})
	for i := 2; i <= 5; i++ {
		f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
			fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout(fmt.Sprintf("%ds", i))
		})
		f.mustSync("web")
		f.healthy("web", "a", "b", "c")
		f.mustSync("web")
	}
	list, err := f.pc.TrafficV1alpha1().AccessPointRevisions("shop").List(context.Background(), metav1.ListOptions{})
	f.check(err)
	var got []string
	for _, r := range list.Items {
		got = append(got, r.Name)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "web-4,web-5" {
		t.Fatalf("revisions %v, want web-4,web-5", got)
	}
}

// TestHaltSurvivesAStaleCache: a sync that runs before the access point
// cache has seen the halt this controller wrote still finds the rollout
// halted (it reads an access point in mid-rollout from the API server) and
// sends nothing again.
func TestHaltSurvivesAStaleCache(t *testing.T) {
	f := rolloutFixture(t, func(r *trafficv1alpha1.RolloutSpec) { r.AutoRollback = true })
	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	f.mustSync("web")
	f.approve("web")
	f.mustSync("web")
	f.degraded("web", "a")
	stale := f.accessPoint("web") // Progressing at stage canary
	f.mustSync("web")
	f.expectRollout("web", trafficv1alpha1.RolloutHalted, "canary", 2, 1)
	f.healthy("web", "a") // the canary, back on revision 1, reports it applied

	f.refresh()
	f.check(f.factory.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Update(stale))
	before := len(f.pc.Actions())
	if _, err := f.c.sync(context.Background(), "shop/web"); err != nil {
		t.Fatal(err)
	}
	f.expectRollout("web", trafficv1alpha1.RolloutHalted, "canary", 2, 1)
	if w := f.writes(before); slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "clusteraccesspoints") }) {
		t.Fatalf("a sync from a stale cache wrote %v", w)
	}
}
