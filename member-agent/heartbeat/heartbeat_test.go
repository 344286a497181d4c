package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/member-agent/reconciler"
	"github.com/portico-dev/portico/test/framework"
)

const ns = "portico-cluster-zone-a-1"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	hub, member *kubefake.Clientset
	portico     *fake.Clientset
	h           *Heartbeat
}

// newFixture is a heartbeat of cluster zone-a-1 with fake hub, portico-hub and
// member clients; the member cluster runs Kubernetes v1.37.1 and memberObjects.
func newFixture(hubObjects []runtime.Object, memberObjects ...runtime.Object) *fixture {
	f := &fixture{
		hub: kubefake.NewClientset(hubObjects...), member: kubefake.NewClientset(memberObjects...),
		portico: fake.NewClientset(&clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1"}}),
	}
	f.member.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.37.1"}
	f.h = &Heartbeat{Hub: f.hub, Portico: f.portico, Member: f.member, Cluster: "zone-a-1",
		Identity: "member-agent-7d9f-x2", Version: "v0.4.0", Interval: 10 * time.Second}
	return f
}

func (f *fixture) lease(t *testing.T) *coordinationv1.Lease {
	t.Helper()
	lease, err := f.hub.CoordinationV1().Leases(ns).Get(context.Background(), clusterv1alpha1.AgentLease, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Lease %s/%s: %v", ns, clusterv1alpha1.AgentLease, err)
	}
	return lease
}

func (f *fixture) status(t *testing.T) clusterv1alpha1.MemberClusterStatus {
	t.Helper()
	mc, err := f.portico.ClusterV1alpha1().MemberClusters().Get(context.Background(), "zone-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return mc.Status
}

// verbs lists the verb and resource of every action on c.
func verbs(c *clienttesting.Fake) []string {
	var out []string
	for _, a := range c.Actions() {
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		out = append(out, a.GetVerb()+" "+r)
	}
	return out
}

// TestRenewCreatesLeaseWhenMissing: the first renewal creates the Lease in the
// cluster's hub namespace, held by the agent, valid for four intervals.
func TestRenewCreatesLeaseWhenMissing(t *testing.T) {
	f := newFixture(nil)
	f.h.now = func() time.Time { return t0 }
	if err := f.h.renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(verbs(&f.hub.Fake)); got != "[get leases create leases]" {
		t.Errorf("hub actions %s", got)
	}
	spec := f.lease(t).Spec
	if ptr.Deref(spec.HolderIdentity, "") != "member-agent-7d9f-x2" || ptr.Deref(spec.LeaseDurationSeconds, 0) != 40 ||
		spec.RenewTime == nil || !spec.RenewTime.Time.Equal(t0) || spec.AcquireTime == nil || !spec.AcquireTime.Time.Equal(t0) {
		t.Errorf("Lease spec = %+v, want holder member-agent-7d9f-x2, 40s, acquired and renewed at %v", spec, t0)
	}
}

// TestRenewUpdatesExistingLease: later renewals move renewTime and take over the
// holder, keep the acquire time, and never re-create the Lease.
func TestRenewUpdatesExistingLease(t *testing.T) {
	before := metav1.NewMicroTime(t0.Add(-time.Hour))
	existing := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: clusterv1alpha1.AgentLease, Namespace: ns},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("member-agent-old"), AcquireTime: &before, RenewTime: &before,
			LeaseDurationSeconds: ptr.To[int32](40)},
	}
	f := newFixture([]runtime.Object{existing})
	now := t0
	f.h.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		now = t0.Add(time.Duration(i) * f.h.Interval)
		f.hub.ClearActions()
		if err := f.h.renew(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(verbs(&f.hub.Fake)); got != "[get leases update leases]" {
			t.Errorf("renewal %d: hub actions %s, want a get and an update", i, got)
		}
		if spec := f.lease(t).Spec; !spec.RenewTime.Time.Equal(now) {
			t.Errorf("renewal %d: renewTime %v, want %v", i, spec.RenewTime, now)
		}
	}
	spec := f.lease(t).Spec
	if ptr.Deref(spec.HolderIdentity, "") != "member-agent-7d9f-x2" || !spec.AcquireTime.Time.Equal(before.Time) {
		t.Errorf("holder %v, acquired %v; want member-agent-7d9f-x2, acquired %v", ptr.Deref(spec.HolderIdentity, ""), spec.AcquireTime, before)
	}
}

// TestRunRenewsEveryInterval: Run renews at most once per Interval, reports
// renewals through OnRenew, and reports versions on every tenth renewal only.
func TestRunRenewsEveryInterval(t *testing.T) {
	f := newFixture(nil)
	f.h.Interval = 20 * time.Millisecond
	var mu sync.Mutex
	var renewals []time.Time
	f.h.OnRenew = func(at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		renewals = append(renewals, at)
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(renewals)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.h.Run(ctx)
	}()
	framework.Eventually(t, 10*time.Second, "12 renewals", func() (bool, string) {
		return count() >= 12, fmt.Sprintf("%d renewals", count())
	})
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(renewals); i++ {
		if gap := renewals[i].Sub(renewals[i-1]); gap < f.h.Interval {
			t.Errorf("renewals %d and %d %v apart, less than the %v interval", i-1, i, gap, f.h.Interval)
		}
	}
	var gets, creates, updates int
	for _, a := range f.hub.Actions() {
		switch a.GetVerb() {
		case "get":
			gets++
		case "create":
			creates++
		case "update":
			updates++
		}
	}
	if n := len(renewals); creates != 1 || updates != n-1 || gets != n {
		t.Errorf("%d renewals made %d gets, %d creates, %d updates of the Lease; want %d, 1, %d", n, gets, creates, updates, n, n-1)
	}
	reports := 0
	for _, v := range verbs(&f.portico.Fake) {
		if v == "get memberclusters" {
			reports++
		}
	}
	if want := (len(renewals) + 9) / 10; reports != want {
		t.Errorf("%d renewals made %d version reports, want %d (the first and every tenth)", len(renewals), reports, want)
	}
	if st := f.status(t); st.Agent.Version != "v0.4.0" {
		t.Errorf("agent version %q, want v0.4.0", st.Agent.Version)
	}
}

func istiod(image string, labels map[string]string, sidecar bool) *appsv1.Deployment {
	containers := []corev1.Container{{Name: "discovery", Image: image}}
	if sidecar {
		containers = append([]corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:9.9.9"}}, containers...)
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: "istio-system", Labels: labels},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}},
	}
}

// TestReportWritesVersions: the agent, Kubernetes and Istio versions land in the
// MemberCluster's status next to what the hub wrote there, and an unchanged
// report writes nothing.
func TestReportWritesVersions(t *testing.T) {
	f := newFixture(nil, istiod("docker.io/istio/pilot:1.24.2@sha256:0123abcd", map[string]string{"istio.io/rev": "1-24-2"}, true))
	mc, _ := f.portico.ClusterV1alpha1().MemberClusters().Get(context.Background(), "zone-a-1", metav1.GetOptions{})
	hubWrote := metav1.Condition{Type: clusterv1alpha1.MemberClusterAvailable, Status: metav1.ConditionTrue, Reason: "LeaseRenewed",
		LastTransitionTime: metav1.NewTime(t0)}
	mc.Status.Conditions = []metav1.Condition{hubWrote}
	mc.Status.Agent.LastHeartbeatTime = &metav1.Time{Time: t0}
	if _, err := f.portico.ClusterV1alpha1().MemberClusters().UpdateStatus(context.Background(), mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.portico.ClearActions()

	if err := f.h.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := f.status(t)
	want := clusterv1alpha1.IstioStatus{Version: "1.24.2", Revision: "1-24-2"}
	if st.Agent.Version != "v0.4.0" || st.KubernetesVersion != "v1.37.1" || st.Istio != want {
		t.Errorf("reported agent %q, kubernetes %q, istio %+v; want v0.4.0, v1.37.1, %+v", st.Agent.Version, st.KubernetesVersion, st.Istio, want)
	}
	if c := meta.FindStatusCondition(st.Conditions, hubWrote.Type); c == nil || c.Reason != hubWrote.Reason ||
		st.Agent.LastHeartbeatTime == nil || !st.Agent.LastHeartbeatTime.Time.Equal(t0) {
		t.Errorf("the report lost what the hub wrote: %+v", st)
	}

	f.portico.ClearActions()
	if err := f.h.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(verbs(&f.portico.Fake)); got != "[get memberclusters]" {
		t.Errorf("an unchanged report made %s, want only a get", got)
	}

	f.h.Version = "v0.5.0"
	if err := f.h.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := f.status(t).Agent.Version; v != "v0.5.0" {
		t.Errorf("agent version %q after an upgrade, want v0.5.0", v)
	}
}

// TestReportWritesCredential: the credential's issue and expiry land in
// status.agent; an agent that does not renew its credential reports none.
func TestReportWritesCredential(t *testing.T) {
	f := newFixture(nil)
	f.h.Credential = func() (time.Time, time.Time) { return t0, t0.Add(24 * time.Hour) }
	if err := f.h.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	agent := f.status(t).Agent
	if agent.CredentialIssueTime == nil || !agent.CredentialIssueTime.Time.Equal(t0) ||
		agent.CredentialExpirationTime == nil || !agent.CredentialExpirationTime.Time.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("agent status %+v, want the credential issued at %v, expiring a day later", agent, t0)
	}
	f.h.Credential = nil
	if err := f.h.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	if agent := f.status(t).Agent; agent.CredentialIssueTime != nil || agent.CredentialExpirationTime != nil {
		t.Errorf("agent status %+v, want no credential", agent)
	}
}

// TestRunReportsRenewedCredential: a renewed credential is reported on the
// next heartbeat, not only on every tenth; heartbeats in between report
// nothing.
func TestRunReportsRenewedCredential(t *testing.T) {
	f := newFixture(nil)
	expires := t0.Add(time.Hour)
	f.h.Credential = func() (time.Time, time.Time) { return expires.Add(-time.Hour), expires }
	reportedExpiry := func() time.Time {
		if e := f.status(t).Agent.CredentialExpirationTime; e != nil {
			return e.Time
		}
		return time.Time{}
	}
	var s beatState
	ctx := context.Background()
	f.h.beat(ctx, &s)
	if got := reportedExpiry(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("first heartbeat reported expiry %v, want %v", got, t0.Add(time.Hour))
	}
	for i := 0; i < 3; i++ {
		f.portico.ClearActions()
		f.h.beat(ctx, &s)
		for _, a := range f.portico.Actions() {
			if a.GetResource().Resource == "memberclusters" {
				t.Fatalf("heartbeat %d with an unchanged credential made %s %s, want no report", i+2, a.GetVerb(), a.GetResource().Resource)
			}
		}
	}
	expires = t0.Add(2 * time.Hour)
	f.h.beat(ctx, &s)
	if got := reportedExpiry(); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("the heartbeat after the renewal reported expiry %v, want %v", got, t0.Add(2*time.Hour))
	}
}

// TestReportWithoutIstiod: without istiod the Istio status is empty, and the
// Kubernetes version is still reported.
func TestReportWithoutIstiod(t *testing.T) {
	f := newFixture(nil)
	if err := f.h.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.status(t); st.Istio != (clusterv1alpha1.IstioStatus{}) || st.KubernetesVersion != "v1.37.1" {
		t.Errorf("istio %+v, kubernetes %q; want none, v1.37.1", st.Istio, st.KubernetesVersion)
	}
}

// TestReportRetriesOnConflict: a status write that lost a race with the hub is
// retried on a fresh read.
func TestReportRetriesOnConflict(t *testing.T) {
	f := newFixture(nil)
	conflicts := 0
	f.portico.PrependReactor("update", "memberclusters", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts++; conflicts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "cluster.portico.dev", Resource: "memberclusters"}, "zone-a-1", errors.New("changed"))
		}
		return false, nil, nil
	})
	if err := f.h.report(context.Background()); err != nil {
		t.Fatalf("report after one conflict: %v", err)
	}
	if got := fmt.Sprint(verbs(&f.portico.Fake)); got != "[get memberclusters update memberclusters/status get memberclusters update memberclusters/status]" {
		t.Errorf("portico actions %s, want a second read and write", got)
	}
	if st := f.status(t); st.Agent.Version != "v0.4.0" {
		t.Errorf("agent version %q, want v0.4.0", st.Agent.Version)
	}
}

// TestRunWhileHubUnreachable: while the hub refuses every request the agent
// keeps trying every interval, reports no renewal and writes the Lease only
// after reading it (an error is not a missing Lease); once the hub answers
// again, the Lease is created and versions are reported.
func TestRunWhileHubUnreachable(t *testing.T) {
	f := newFixture(nil)
	f.h.Interval = 5 * time.Millisecond
	var down atomic.Bool
	down.Store(true)
	var attempts, blindWrites atomic.Int32
	unreachable := func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetResource().Resource == "leases" {
			attempts.Add(1)
			if down.Load() && action.GetVerb() != "get" {
				blindWrites.Add(1)
			}
		}
		if down.Load() {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		return false, nil, nil
	}
	f.hub.PrependReactor("*", "*", unreachable)
	f.portico.PrependReactor("*", "*", unreachable)
	var renewed atomic.Int32
	f.h.OnRenew = func(time.Time) { renewed.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.h.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	framework.Eventually(t, 10*time.Second, "five renewal attempts", func() (bool, string) {
		return attempts.Load() >= 5, fmt.Sprintf("%d attempts", attempts.Load())
	})
	if n := renewed.Load(); n != 0 {
		t.Fatalf("OnRenew called %d times while the hub was unreachable", n)
	}
	if n := blindWrites.Load(); n != 0 {
		t.Errorf("%d Lease writes without a successful read while the hub was unreachable", n)
	}
	down.Store(false)
	framework.Eventually(t, 10*time.Second, "Lease created and versions reported", func() (bool, string) {
		lease, err := f.hub.CoordinationV1().Leases(ns).Get(context.Background(), clusterv1alpha1.AgentLease, metav1.GetOptions{})
		if err != nil {
			return false, "Lease: " + err.Error()
		}
		st := f.status(t)
		return renewed.Load() > 0 && st.KubernetesVersion == "v1.37.1",
			fmt.Sprintf("renewed %d, holder %v, kubernetes %q", renewed.Load(), ptr.Deref(lease.Spec.HolderIdentity, ""), st.KubernetesVersion)
	})
}

func TestImageTag(t *testing.T) {
	for _, tc := range []struct {
		image   string
		sidecar bool
		want    string
	}{
		{"docker.io/istio/pilot:1.24.2", false, "1.24.2"},
		{"docker.io/istio/pilot:1.24.2-distroless@sha256:0123abcd", false, "1.24.2-distroless"},
		{"registry.local:5000/istio/pilot", false, ""},
		{"registry.local:5000/istio/pilot:1.23.0", false, "1.23.0"},
		{"docker.io/istio/pilot@sha256:0123abcd", false, ""},
		{"docker.io/istio/pilot:1.24.2", true, "1.24.2"}, // the discovery container, not the sidecar
	} {
		if got := imageTag(istiod(tc.image, nil, tc.sidecar)); got != tc.want {
			t.Errorf("imageTag(%q, sidecar %v) = %q, want %q", tc.image, tc.sidecar, got, tc.want)
		}
	}
}

// TestReportsAndConfirmsHeldRemoval: while the guard holds a removal, every
// heartbeat reports PruneHeld True with the hold's numbers; the confirmation
// annotation on the MemberCluster reaches the guard; with nothing held the
// condition is False.
func TestReportsAndConfirmsHeldRemoval(t *testing.T) {
	f := newFixture(nil)
	g := &reconciler.Guard{Fraction: 0.5, Min: 3}
	f.h.Guard = g
	confirmed := false
	g.Recheck = func() { confirmed = true }
	ctx := context.Background()
	var s beatState
	f.h.beat(ctx, &s)
	if c := meta.FindStatusCondition(f.status(t).Conditions, clusterv1alpha1.MemberClusterPruneHeld); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("PruneHeld with nothing held: %+v, want False", c)
	}
	if g.Allow([]string{"shop.a", "shop.b", "shop.c", "shop.d"}, 4, 8) {
		t.Fatal("removing 4 of 4 access points was allowed")
	}
	id := g.Current().ID
	f.h.beat(ctx, &s) // the second beat reports because a hold exists
	c := meta.FindStatusCondition(f.status(t).Conditions, clusterv1alpha1.MemberClusterPruneHeld)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonRemovalHeld ||
		!strings.Contains(c.Message, "8 objects of 4 of the 4 access points") || !strings.Contains(c.Message, id) {
		t.Fatalf("PruneHeld while held: %+v", c)
	}
	mc, err := f.portico.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mc.Annotations = map[string]string{reconciler.ConfirmRemovalAnnotation: id}
	if _, err := f.portico.ClusterV1alpha1().MemberClusters().Update(ctx, mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.h.beat(ctx, &s)
	if !confirmed {
		t.Fatal("the confirmation on the MemberCluster did not reach the guard")
	}
	if !g.Allow([]string{"shop.a", "shop.b", "shop.c", "shop.d"}, 4, 8) {
		t.Fatal("the confirmed removal is still held")
	}
	g.Settle(0)
	f.h.beat(ctx, &s)
	if c := meta.FindStatusCondition(f.status(t).Conditions, clusterv1alpha1.MemberClusterPruneHeld); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("PruneHeld after the removal: %+v, want False", c)
	}
}
