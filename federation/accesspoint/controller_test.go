package accesspoint

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficclient "github.com/portico-dev/portico/apis/generated/clientset/versioned/typed/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
	"github.com/portico-dev/portico/federation/vipallocator"
)

// t0 is the fixture's clock at the start of every test.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// certificateManager is the certificate controller's field manager (that
// package is not imported here, to keep the test about this controller).
const certificateManager = "portico-certificate"

// fixture is the controller over a fake clientset with server-side apply. The
// informers are never started: before every sync the test copies what the
// fake API server holds into their caches, and it reads results back from the
// fake.
type fixture struct {
	t        *testing.T
	follower Follower
	pc       *fake.Clientset
	factory  externalversions.SharedInformerFactory
	events   *record.FakeRecorder
	c        *Controller
	now      time.Time
	rv       int64 // the last ClusterAccessPoint resourceVersion
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, pc: fake.NewClientset(objs...), events: record.NewFakeRecorder(100), now: t0}
	f.pc.PrependReactor("create", "clusteraccesspoints", f.capGeneration)
	f.pc.PrependReactor("update", "clusteraccesspoints", f.capGeneration)
	f.wire()
	return f
}

// capGeneration sets a ClusterAccessPoint's generation as the hub's store
// does: 1 when created, one more on each change of its spec; and a new
// resourceVersion on every write.
func (f *fixture) capGeneration(action k8stesting.Action) (bool, runtime.Object, error) {
	cap, ok := action.(k8stesting.CreateAction).GetObject().(*trafficv1alpha1.ClusterAccessPoint)
	if !ok {
		return false, nil, nil
	}
	f.rv++
	cap.ResourceVersion = strconv.FormatInt(f.rv, 10)
	if action.GetVerb() == "create" {
		cap.Generation = 1
		return false, nil, nil
	}
	old, err := f.pc.Tracker().Get(action.GetResource(), cap.Namespace, cap.Name)
	if err != nil {
		return false, nil, nil
	}
	prev := old.(*trafficv1alpha1.ClusterAccessPoint)
	cap.Generation = prev.Generation
	if action.GetSubresource() == "" && !apiequality.Semantic.DeepEqual(prev.Spec, cap.Spec) {
		cap.Generation++
	}
	return false, nil, nil
}

// wire builds the informers and the controller over f.pc: a fixture wired
// again is a new hub replica with nothing in memory.
func (f *fixture) wire() {
	f.factory = externalversions.NewSharedInformerFactory(f.pc, 0)
	traffic, cluster := f.factory.Traffic().V1alpha1(), f.factory.Cluster().V1alpha1()
	alloc, err := vipallocator.New(f.pc, traffic.VIPPools().Lister(), traffic.VirtualIPs().Informer().GetIndexer(), cluster.LoadBalancerGroups().Lister())
	if err != nil {
		f.t.Fatal(err)
	}
	f.c = NewController(f.pc, Informers{
		AccessPoints: traffic.FederatedAccessPoints(), Revisions: traffic.AccessPointRevisions(), ClusterAccessPoints: traffic.ClusterAccessPoints(),
		VirtualIPs: traffic.VirtualIPs(), MemberClusters: cluster.MemberClusters(), Nodes: cluster.LoadBalancerNodes(),
		NameServices: traffic.NameServices(), Follower: f.follower,
	}, alloc, f.events)
	f.c.now = func() time.Time { return f.now }
	// Every sync writes the status; the tests of holdStatus set it.
	f.c.statusHold = 0
}

// refresh makes the caches hold what the fake API server holds.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	traffic, cluster := f.factory.Traffic().V1alpha1(), f.factory.Cluster().V1alpha1()
	faps, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("").List(ctx, metav1.ListOptions{})
	f.check(err)
	f.replace(traffic.FederatedAccessPoints().Informer(), faps)
	revs, err := f.pc.TrafficV1alpha1().AccessPointRevisions("").List(ctx, metav1.ListOptions{})
	f.check(err)
	f.replace(traffic.AccessPointRevisions().Informer(), revs)
	caps, err := f.pc.TrafficV1alpha1().ClusterAccessPoints("").List(ctx, metav1.ListOptions{})
	f.check(err)
	f.replace(traffic.ClusterAccessPoints().Informer(), caps)
	vips, err := f.pc.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	f.check(err)
	f.replace(traffic.VirtualIPs().Informer(), vips)
	clusters, err := f.pc.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
	f.check(err)
	f.replace(cluster.MemberClusters().Informer(), clusters)
}

func (f *fixture) replace(informer cache.SharedIndexInformer, list runtime.Object) {
	f.t.Helper()
	objs, err := meta.ExtractList(list)
	f.check(err)
	items := make([]any, 0, len(objs))
	for _, o := range objs {
		items = append(items, o)
	}
	f.check(informer.GetIndexer().Replace(items, ""))
}

func (f *fixture) check(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync refreshes the caches and runs one sync of shop/name.
func (f *fixture) sync(name string) error {
	f.t.Helper()
	f.refresh()
	_, err := f.c.sync(context.Background(), "shop/"+name)
	return err
}

func (f *fixture) mustSync(name string) {
	f.t.Helper()
	if err := f.sync(name); err != nil {
		f.t.Fatalf("sync shop/%s: %v", name, err)
	}
}

// writes lists the API writes made since action number since, as
// "verb resource namespace".
func (f *fixture) writes(since int) []string {
	var out []string
	for _, a := range f.pc.Actions()[since:] {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, strings.TrimSpace(a.GetVerb()+" "+a.GetResource().Resource+" "+a.GetNamespace()))
		}
	}
	return out
}

func (f *fixture) accessPoint(name string) *trafficv1alpha1.FederatedAccessPoint {
	f.t.Helper()
	fap, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(context.Background(), name, metav1.GetOptions{})
	f.check(err)
	return fap
}

// clusterAccessPoint is the access point's ClusterAccessPoint on cluster, nil
// when there is none.
func (f *fixture) clusterAccessPoint(name, cluster string) *trafficv1alpha1.ClusterAccessPoint {
	f.t.Helper()
	cap, err := f.pc.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(cluster)).
		Get(context.Background(), "shop."+name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	f.check(err)
	return cap
}

// editAccessPoint changes an access point's spec in the fake API server and
// bumps its generation, as the hub's store would.
func (f *fixture) editAccessPoint(name string, edit func(*trafficv1alpha1.FederatedAccessPoint)) {
	f.t.Helper()
	fap := f.accessPoint(name)
	edit(fap)
	fap.Generation++
	_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Update(context.Background(), fap, metav1.UpdateOptions{})
	f.check(err)
}

// setAvailable sets a MemberCluster's Available condition.
func (f *fixture) setAvailable(name string, available bool) {
	f.t.Helper()
	ctx := context.Background()
	mc, err := f.pc.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
	f.check(err)
	meta.SetStatusCondition(&mc.Status.Conditions, availableCondition(available))
	_, err = f.pc.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{})
	f.check(err)
}

// agentReports writes a ClusterAccessPoint's status as the cluster's agent
// does, for the spec it holds (status.observedGeneration) unless report says
// otherwise.
func (f *fixture) agentReports(name, cluster string, report func(*trafficv1alpha1.ClusterAccessPointStatus)) {
	f.t.Helper()
	cap := f.clusterAccessPoint(name, cluster)
	if cap == nil {
		f.t.Fatalf("no ClusterAccessPoint of shop/%s on %s", name, cluster)
	}
	cap.Status.ObservedGeneration = cap.Generation
	report(&cap.Status)
	_, err := f.pc.TrafficV1alpha1().ClusterAccessPoints(cap.Namespace).UpdateStatus(context.Background(), cap, metav1.UpdateOptions{})
	f.check(err)
}

// reportCertificate writes the certificate controller's part of the status,
// under its field manager.
func (f *fixture) reportCertificate(name string, cert *trafficv1alpha1.CertificateStatus, ready metav1.Condition) {
	f.t.Helper()
	part := apstatus.Part{Manager: certificateManager, ConditionTypes: []string{trafficv1alpha1.AccessPointCertificateReady},
		Fields: func(dst, src *trafficv1alpha1.FederatedAccessPointStatus) {
			dst.Certificate = src.Certificate.DeepCopy()
		}}
	desired := &trafficv1alpha1.FederatedAccessPointStatus{Certificate: cert, Conditions: []metav1.Condition{ready}}
	if _, err := part.Write(context.Background(), f.pc, f.accessPoint(name), desired, f.now); err != nil {
		f.t.Fatal(err)
	}
}

func availableCondition(available bool) metav1.Condition {
	status := metav1.ConditionFalse
	if available {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: clusterv1alpha1.MemberClusterAvailable, Status: status, Reason: "Test",
		LastTransitionTime: metav1.NewTime(t0)}
}

func memberCluster(name string, available bool) *clusterv1alpha1.MemberCluster {
	zone := "zone-" + name
	return &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{clusterv1alpha1.LabelZone: zone}},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: zone},
		Status:     clusterv1alpha1.MemberClusterStatus{Conditions: []metav1.Condition{availableCondition(available)}},
	}
}

// newAccessPoint is shop/name serving host, created at created and placed on
// the named clusters.
func newAccessPoint(name, host string, created time.Time, clusters ...string) *trafficv1alpha1.FederatedAccessPoint {
	fap := &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID("uid-" + name), Generation: 1,
			CreationTimestamp: metav1.NewTime(created)},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts:     []string{host},
			Placement: &trafficv1alpha1.Placement{Clusters: []trafficv1alpha1.ClusterReference{}},
		},
	}
	for _, c := range clusters {
		fap.Spec.Placement.Clusters = append(fap.Spec.Placement.Clusters, trafficv1alpha1.ClusterReference{Name: c})
	}
	return fap
}

func condition(fap *trafficv1alpha1.FederatedAccessPoint, t string) metav1.Condition {
	if c := meta.FindStatusCondition(fap.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// phases is the access point's cluster phases as "cluster=phase".
func phases(fap *trafficv1alpha1.FederatedAccessPoint) string {
	var out []string
	for _, c := range fap.Status.Clusters {
		out = append(out, c.Name+"="+c.Phase)
	}
	return strings.Join(out, ",")
}

func managedBy(fap *trafficv1alpha1.FederatedAccessPoint, manager string) bool {
	return slices.ContainsFunc(fap.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == manager })
}

// applyAll makes the clusters' agents report what their ClusterAccessPoints
// hold applied.
func (f *fixture) applyAll(name string, clusters ...string) {
	f.t.Helper()
	for _, c := range clusters {
		rev := f.clusterAccessPoint(name, c).Spec.Revision
		f.agentReports(name, c, func(s *trafficv1alpha1.ClusterAccessPointStatus) { s.ObservedRevision = rev })
	}
}

// TestPlacesOnAvailableClusters: one ClusterAccessPoint per placed cluster, in
// the cluster's namespace, with that cluster's rendering and its hash (the
// status has the access point's revision hash); an unplaced cluster gets
// nothing.
func TestPlacesOnAvailableClusters(t *testing.T) {
	fap := newAccessPoint("checkout", "checkout.example.test", t0, "a", "b")
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{{Name: "checkout",
		Spec: trafficv1alpha1.JSONObject{Raw: []byte(`{"hosts":["checkout.example.test"],"http":[{"timeout":"5s"}]}`)}}}
	fap.Spec.Overrides = []trafficv1alpha1.ClusterOverride{{ClusterName: "b", ClusterOverrides: []trafficv1alpha1.OverridePatch{
		{Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: &trafficv1alpha1.JSONValue{Raw: []byte(`"10s"`)}}}}}
	f := newFixture(t, fap, memberCluster("a", true), memberCluster("b", true), memberCluster("c", true))
	f.mustSync("checkout")

	rev := Revision(&fap.Spec, nil)
	hashes := map[string]string{}
	for _, cluster := range []string{"a", "b"} {
		cap := f.clusterAccessPoint("checkout", cluster)
		if cap == nil {
			t.Fatalf("no ClusterAccessPoint shop.checkout in %s", clusterv1alpha1.ClusterNamespace(cluster))
		}
		want, err := Render(fap, cluster, nil)
		f.check(err)
		if !apiequality.Semantic.DeepEqual(cap.Spec.Manifests, want) {
			t.Fatalf("cluster %s got manifests\n%s\nwant the cluster's rendering\n%s", cluster, manifests(cap.Spec.Manifests), manifests(want))
		}
		ref := trafficv1alpha1.AccessPointReference{Namespace: "shop", Name: "checkout", UID: fap.UID}
		if cap.Spec.Revision != ManifestsRevision(want) || cap.Spec.AccessPointRevision != 1 || cap.Spec.AccessPointRef != ref {
			t.Fatalf("cluster %s: revision %q (%d) ref %+v, want %q (1) %+v", cluster, cap.Spec.Revision, cap.Spec.AccessPointRevision,
				cap.Spec.AccessPointRef, ManifestsRevision(want), ref)
		}
		hashes[cluster] = cap.Spec.Revision
	}
	if hashes["a"] == hashes["b"] {
		t.Fatalf("clusters a and b render differently (b's override) but have the same revision %s", hashes["a"])
	}
	if f.clusterAccessPoint("checkout", "c") != nil {
		t.Fatal("a ClusterAccessPoint was rendered on cluster c, which is not placed")
	}
	got := f.accessPoint("checkout")
	if got.Status.Revision != rev || phases(got) != "a=Pending,b=Pending" {
		t.Fatalf("status revision %q clusters %s", got.Status.Revision, phases(got))
	}
	if c := condition(got, trafficv1alpha1.AccessPointPlaced); c.Status != metav1.ConditionTrue || c.Reason != ReasonPlaced || c.Message != "placed on a, b" {
		t.Fatalf("Placed = %+v", c)
	}
}

func manifests(objs []trafficv1alpha1.JSONObject) string {
	var out []string
	for _, o := range objs {
		out = append(out, string(o.Raw))
	}
	return strings.Join(out, "\n")
}

// TestUnavailableClusterKeepsItsRevision: a new revision reaches the available
// cluster only; the unavailable one keeps its ClusterAccessPoint untouched and
// shows phase Unavailable.
func TestUnavailableClusterKeepsItsRevision(t *testing.T) {
	f := newFixture(t, newAccessPoint("checkout", "checkout.example.test", t0, "a", "b"), memberCluster("a", true), memberCluster("b", true))
	f.mustSync("checkout")
	old := f.clusterAccessPoint("checkout", "b")

	f.editAccessPoint("checkout", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Hosts = append(fap.Spec.Hosts, "pay.example.test")
	})
	f.setAvailable("b", false)
	before := len(f.pc.Actions())
	f.mustSync("checkout")

	fap := f.accessPoint("checkout")
	if a := f.clusterAccessPoint("checkout", "a"); a.Spec.AccessPointRevision != 2 || a.Spec.Revision == old.Spec.Revision {
		t.Fatalf("available cluster a has revision %d (%q), want 2 with another hash than %q", a.Spec.AccessPointRevision, a.Spec.Revision, old.Spec.Revision)
	}
	if b := f.clusterAccessPoint("checkout", "b"); b == nil || !apiequality.Semantic.DeepEqual(b.Spec, old.Spec) {
		t.Fatalf("unavailable cluster b lost what it had: %+v", b)
	}
	for _, w := range f.writes(before) {
		if strings.HasSuffix(w, clusterv1alpha1.ClusterNamespace("b")) {
			t.Fatalf("wrote to the unavailable cluster: %s", w)
		}
	}
	if phases(fap) != "a=Pending,b=Unavailable" {
		t.Fatalf("clusters %s, want b Unavailable", phases(fap))
	}
	if c := condition(fap, trafficv1alpha1.AccessPointApplied); c.Status != metav1.ConditionFalse || c.Reason != ReasonClustersUnavailable {
		t.Fatalf("Applied = %+v", c)
	}
}

// TestUnplacedClusterLosesItsAccessPoint: a cluster that leaves the placement
// gets its ClusterAccessPoint deleted and leaves the status.
func TestUnplacedClusterLosesItsAccessPoint(t *testing.T) {
	f := newFixture(t, newAccessPoint("checkout", "checkout.example.test", t0, "a", "b"), memberCluster("a", true), memberCluster("b", true))
	f.mustSync("checkout")
	if f.clusterAccessPoint("checkout", "b") == nil {
		t.Fatal("no ClusterAccessPoint on b to begin with")
	}
	f.editAccessPoint("checkout", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Placement.Clusters = []trafficv1alpha1.ClusterReference{{Name: "a"}}
	})
	f.mustSync("checkout")
	if f.clusterAccessPoint("checkout", "b") != nil {
		t.Fatal("cluster b, no longer placed, keeps its ClusterAccessPoint")
	}
	if f.clusterAccessPoint("checkout", "a") == nil {
		t.Fatal("cluster a, still placed, lost its ClusterAccessPoint")
	}
	if got := phases(f.accessPoint("checkout")); got != "a=Pending" {
		t.Fatalf("clusters %s, want only a", got)
	}
}

// TestHostConflict: where an older access point claims the same host, the
// newer one is not rendered and says why; elsewhere it is.
func TestHostConflict(t *testing.T) {
	f := newFixture(t,
		newAccessPoint("first", "shop.example.test", t0, "a"),
		newAccessPoint("second", "shop.example.test", t0.Add(time.Hour), "a", "b"),
		memberCluster("a", true), memberCluster("b", true))
	f.mustSync("first")
	f.mustSync("second")

	if f.clusterAccessPoint("second", "a") != nil {
		t.Fatal("the newer access point was rendered where the older one claims its host")
	}
	if f.clusterAccessPoint("second", "b") == nil || f.clusterAccessPoint("first", "a") == nil {
		t.Fatal("missing the newer access point on b or the older one on a")
	}
	second := f.accessPoint("second")
	c := condition(second, trafficv1alpha1.AccessPointPlaced)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonHostConflict ||
		!strings.Contains(c.Message, "a: host shop.example.test is already claimed on this cluster by shop/first") {
		t.Fatalf("Placed = %+v", c)
	}
	if phases(second) != "a=Failed,b=Pending" {
		t.Fatalf("clusters %s, want a Failed", phases(second))
	}
	if c := condition(f.accessPoint("first"), trafficv1alpha1.AccessPointPlaced); c.Status != metav1.ConditionTrue {
		t.Fatalf("the older access point: Placed = %+v", c)
	}
}

// TestClusterPhasesAndConditions: each cluster's phase follows its agent's
// report, keeping its transition time while it does not change; Applied and
// Ready follow the phases; the status is written under FieldManager.
func TestClusterPhasesAndConditions(t *testing.T) {
	clusters := []string{"a", "b", "c", "d"}
	fap := newAccessPoint("checkout", "checkout.example.test", t0, clusters...)
	fap.Generation = 3
	objs := []runtime.Object{fap}
	for _, c := range clusters {
		objs = append(objs, memberCluster(c, true))
	}
	f := newFixture(t, objs...)
	f.mustSync("checkout")
	got := f.accessPoint("checkout")
	if phases(got) != "a=Pending,b=Pending,c=Pending,d=Pending" {
		t.Fatalf("clusters %s, want all Pending before any agent reports", phases(got))
	}
	if c := condition(got, trafficv1alpha1.AccessPointApplied); c.Reason != ReasonApplying || c.Message != "0 of 4 clusters applied" {
		t.Fatalf("Applied = %+v", c)
	}

	rev := got.Status.Revision
	f.agentReports("checkout", "b", func(s *trafficv1alpha1.ClusterAccessPointStatus) { s.ObservedRevision = "0123456789abcdef" })
	f.agentReports("checkout", "c", func(s *trafficv1alpha1.ClusterAccessPointStatus) {
		s.ObservedRevision = f.clusterAccessPoint("checkout", "c").Spec.Revision
		s.Objects = []trafficv1alpha1.ObjectStatus{{Kind: "Gateway", Namespace: "shop", Name: "checkout", Applied: true}}
	})
	f.agentReports("checkout", "d", func(s *trafficv1alpha1.ClusterAccessPointStatus) {
		s.ObservedRevision = f.clusterAccessPoint("checkout", "d").Spec.Revision
		s.Conditions = []metav1.Condition{{Type: trafficv1alpha1.ClusterAccessPointDegraded, Status: metav1.ConditionTrue,
			Reason: "ApplyFailed", Message: "Gateway shop/checkout: admission webhook denied", LastTransitionTime: metav1.NewTime(t0)}}
	})
	f.now = t0.Add(time.Minute)
	f.mustSync("checkout")

	got = f.accessPoint("checkout")
	if got.Status.ObservedGeneration != 3 || got.Status.Revision != rev {
		t.Fatalf("observedGeneration %d revision %q, want 3 %q", got.Status.ObservedGeneration, got.Status.Revision, rev)
	}
	if phases(got) != "a=Pending,b=Applying,c=Applied,d=Failed" {
		t.Fatalf("clusters %s", phases(got))
	}
	byName := map[string]trafficv1alpha1.ClusterStatus{}
	for _, s := range got.Status.Clusters {
		byName[s.Name] = s
	}
	if s := byName["d"]; s.Message != "Gateway shop/checkout: admission webhook denied" {
		t.Fatalf("cluster d message %q, want the agent's Degraded message", s.Message)
	}
	// c's agent reported its manifests' hash: the status says it in the
	// access point's terms. b's hash is no revision's: it is shown as is.
	if s := byName["c"]; s.ObservedRevision != rev || s.Objects.Applied != 1 || s.Zone != "zone-c" {
		t.Fatalf("cluster c = %+v, want observedRevision %s", s, rev)
	}
	if s := byName["b"]; s.ObservedRevision != "0123456789abcdef" {
		t.Fatalf("cluster b = %+v", s)
	}
	if s := byName["a"]; !s.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("cluster a stayed Pending but its transition time moved to %v", s.LastTransitionTime)
	}
	if s := byName["c"]; !s.LastTransitionTime.Time.Equal(f.now) {
		t.Fatalf("cluster c became Applied at %v, transition time says %v", f.now, s.LastTransitionTime)
	}
	if c := condition(got, trafficv1alpha1.AccessPointApplied); c.Status != metav1.ConditionFalse || c.Reason != ReasonApplyFailed || c.Message != "failed on d" {
		t.Fatalf("Applied = %+v", c)
	}
	if c := condition(got, trafficv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "Applied (ApplyFailed)") {
		t.Fatalf("Ready = %+v", c)
	}
	for _, c := range got.Status.Conditions {
		if c.ObservedGeneration != 3 {
			t.Fatalf("condition %s observedGeneration %d, want 3", c.Type, c.ObservedGeneration)
		}
	}
	if !managedBy(got, FieldManager) {
		t.Fatalf("status not written by field manager %s: %v", FieldManager, got.ManagedFields)
	}

	f.applyAll("checkout", clusters...)
	f.agentReports("checkout", "d", func(s *trafficv1alpha1.ClusterAccessPointStatus) { s.Conditions = nil })
	f.mustSync("checkout")
	got = f.accessPoint("checkout")
	if c := condition(got, trafficv1alpha1.AccessPointApplied); c.Status != metav1.ConditionTrue || c.Reason != ReasonAllApplied {
		t.Fatalf("Applied = %+v", c)
	}
	if c := condition(got, trafficv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != ReasonReady {
		t.Fatalf("Ready = %+v", c)
	}
	if e := <-f.events.Events; !strings.HasPrefix(e, "Normal Ready") {
		t.Fatalf("event %q, want Normal Ready", e)
	}
}

// TestUnchangedStatusIsNotWritten: a sync that finds everything as it is
// writes nothing, however late it runs.
func TestUnchangedStatusIsNotWritten(t *testing.T) {
	f := newFixture(t, newAccessPoint("checkout", "checkout.example.test", t0, "a", "b"), memberCluster("a", true), memberCluster("b", false))
	f.mustSync("checkout")
	if w := f.writes(0); !slices.Contains(w, "patch federatedaccesspoints shop") {
		t.Fatalf("the first sync did not write the status: %v", w)
	}
	f.mustSync("checkout") // sees the ClusterAccessPoint it created (status.clusters[].objects)
	f.now = t0.Add(time.Hour)
	before := len(f.pc.Actions())
	f.mustSync("checkout")
	if w := f.writes(before); len(w) > 0 {
		t.Fatalf("a sync with nothing new wrote %v", w)
	}
}

// TestReadyWaitsForCertificate: with spec.tls, Ready waits for the
// certificate controller's CertificateReady of the current generation.
func TestReadyWaitsForCertificate(t *testing.T) {
	tests := []struct {
		name      string
		report    *metav1.Condition // CertificateReady, nil for none
		wantReady metav1.ConditionStatus
		wantInMsg string
	}{
		{name: "not reported", wantReady: metav1.ConditionFalse, wantInMsg: "CertificateReady (NotReported)"},
		{name: "older generation", report: &metav1.Condition{Status: metav1.ConditionTrue, ObservedGeneration: 1},
			wantReady: metav1.ConditionFalse, wantInMsg: "CertificateReady (NotObserved)"},
		{name: "current and true", report: &metav1.Condition{Status: metav1.ConditionTrue, ObservedGeneration: 2},
			wantReady: metav1.ConditionTrue},
		{name: "current and false", report: &metav1.Condition{Status: metav1.ConditionFalse, ObservedGeneration: 2},
			wantReady: metav1.ConditionFalse, wantInMsg: "CertificateReady (Pending)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fap := newAccessPoint("checkout", "checkout.example.test", t0, "a")
			fap.Generation = 2
			fap.Spec.TLS = &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "ca"}, Mode: trafficv1alpha1.TLSModeSimple}
			f := newFixture(t, fap, memberCluster("a", true))
			f.mustSync("checkout")
			f.applyAll("checkout", "a")
			if tc.report != nil {
				cond := *tc.report
				cond.Type, cond.Reason, cond.Message = trafficv1alpha1.AccessPointCertificateReady, "Pending", "test"
				if cond.Status == metav1.ConditionTrue {
					cond.Reason = "Issued"
				}
				f.reportCertificate("checkout", nil, cond)
			}
			f.mustSync("checkout")
			got := f.accessPoint("checkout")
			if c := condition(got, trafficv1alpha1.AccessPointApplied); c.Status != metav1.ConditionTrue {
				t.Fatalf("Applied = %+v, want True (only the certificate may hold Ready back)", c)
			}
			c := condition(got, trafficv1alpha1.ConditionReady)
			if c.Status != tc.wantReady || !strings.Contains(c.Message, tc.wantInMsg) {
				t.Fatalf("Ready = %+v, want %s with %q", c, tc.wantReady, tc.wantInMsg)
			}
		})
	}
}

// TestLeavesCertificatePartAlone: the certificate controller's fields and
// condition survive this controller's status writes.
func TestLeavesCertificatePartAlone(t *testing.T) {
	fap := newAccessPoint("checkout", "checkout.example.test", t0, "a")
	fap.Spec.TLS = &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "ca"}, Mode: trafficv1alpha1.TLSModeSimple}
	f := newFixture(t, fap, memberCluster("a", true))
	notAfter := metav1.NewTime(t0.Add(90 * 24 * time.Hour))
	cert := &trafficv1alpha1.CertificateStatus{Serial: "0a1b", Version: 3, NotAfter: &notAfter, InstalledClusters: []string{"a"}}
	ready := metav1.Condition{Type: trafficv1alpha1.AccessPointCertificateReady, Status: metav1.ConditionTrue, Reason: "Issued",
		Message: "version 3 installed on a", ObservedGeneration: 1}
	f.reportCertificate("checkout", cert, ready)
	want := f.accessPoint("checkout")

	// Each step makes this controller write its part: first Placed and
	// Applied (Pending), then Applied True.
	steps := []struct {
		before  func()
		applied metav1.ConditionStatus
	}{{func() {}, metav1.ConditionFalse}, {func() { f.applyAll("checkout", "a") }, metav1.ConditionTrue}}
	for i, step := range steps {
		step.before()
		f.now = f.now.Add(time.Minute)
		f.mustSync("checkout")
		got := f.accessPoint("checkout")
		if c := condition(got, trafficv1alpha1.AccessPointApplied); c.Status != step.applied {
			t.Fatalf("step %d: Applied = %+v, want %s: no status write to check", i, c, step.applied)
		}
		if !apiequality.Semantic.DeepEqual(got.Status.Certificate, want.Status.Certificate) {
			t.Fatalf("step %d: status.certificate = %+v, want %+v", i, got.Status.Certificate, want.Status.Certificate)
		}
		if c, w := condition(got, trafficv1alpha1.AccessPointCertificateReady), condition(want, trafficv1alpha1.AccessPointCertificateReady); !apiequality.Semantic.DeepEqual(c, w) {
			t.Fatalf("step %d: CertificateReady = %+v, want %+v", i, c, w)
		}
		if !managedBy(got, certificateManager) || !managedBy(got, FieldManager) {
			t.Fatalf("step %d: managers %v, want both %s and %s", i, got.ManagedFields, certificateManager, FieldManager)
		}
	}
	if c := condition(f.accessPoint("checkout"), trafficv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready = %+v, want True with the certificate ready and applied everywhere", c)
	}
}

// TestFinalizerAndDeletion: the first sync adds the finalizer; deletion
// deletes the ClusterAccessPoints and removes the finalizer only once they are
// gone.
func TestFinalizerAndDeletion(t *testing.T) {
	f := newFixture(t, newAccessPoint("checkout", "checkout.example.test", t0, "a", "b"), memberCluster("a", true), memberCluster("b", true))
	f.mustSync("checkout")
	if !slices.Contains(f.accessPoint("checkout").Finalizers, Finalizer) {
		t.Fatalf("first sync did not add the finalizer %s", Finalizer)
	}
	if f.clusterAccessPoint("checkout", "a") == nil || f.clusterAccessPoint("checkout", "b") == nil {
		t.Fatal("first sync did not render on a and b")
	}

	// Cluster b's ClusterAccessPoint lingers after its deletion (its agent
	// has not removed its objects yet) until hold is cleared.
	hold := true
	f.pc.PrependReactor("delete", "clusteraccesspoints", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return hold && a.GetNamespace() == clusterv1alpha1.ClusterNamespace("b"), nil, nil
	})
	fap := f.accessPoint("checkout")
	deleted := metav1.NewTime(t0.Add(time.Minute))
	fap.DeletionTimestamp = &deleted
	_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Update(context.Background(), fap, metav1.UpdateOptions{})
	f.check(err)

	for i := range 2 {
		if err := f.sync("checkout"); err == nil {
			t.Fatalf("deletion sync %d: no error while ClusterAccessPoints remain", i)
		}
		if f.clusterAccessPoint("checkout", "a") != nil {
			t.Fatalf("deletion sync %d: cluster a's ClusterAccessPoint was not deleted", i)
		}
		if !slices.Contains(f.accessPoint("checkout").Finalizers, Finalizer) {
			t.Fatalf("deletion sync %d: finalizer removed while cluster b's ClusterAccessPoint remains", i)
		}
	}
	hold = false
	if err := f.sync("checkout"); err == nil || f.clusterAccessPoint("checkout", "b") != nil {
		t.Fatalf("cluster b's ClusterAccessPoint not deleted (sync: %v)", err)
	}
	f.mustSync("checkout")
	if got := f.accessPoint("checkout"); slices.Contains(got.Finalizers, Finalizer) {
		t.Fatalf("finalizer kept after every ClusterAccessPoint is gone: %v", got.Finalizers)
	}
}

// TestRevertedChangeIsNotAppliedUntilReported: a change reverted while the
// agent could not report (it applied the change but its status write was
// lost) brings back the content its stale status names; the cluster is
// Applying, not Applied, until the agent reports on the current spec. (The
// chaos tier found this: the member cluster held the change, status said
// Ready with the reverted content.)
func TestRevertedChangeIsNotAppliedUntilReported(t *testing.T) {
	fap := newAccessPoint("web", "web.example.test", t0, "a")
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{{Name: "web", Spec: vsWithTimeout("1s")}}
	f := newFixture(t, fap, memberCluster("a", true))
	f.mustSync("web")
	f.healthy("web", "a")
	f.mustSync("web")
	if s := f.accessPoint("web").Status.Clusters[0]; s.Phase != trafficv1alpha1.ClusterPhaseApplied {
		t.Fatalf("before the change: %+v", s)
	}
	stale := f.clusterAccessPoint("web", "a").Status

	setTimeout := func(timeout string) {
		f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
			fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout(timeout)
		})
		f.mustSync("web")
	}
	setTimeout("2s") // the agent applies it; its status write is lost
	setTimeout("1s") // reverted: the content its status names again
	cap := f.clusterAccessPoint("web", "a")
	if cap.Status.ObservedRevision != cap.Spec.Revision || cap.Status.ObservedGeneration == cap.Generation {
		t.Fatalf("the test needs a stale status with the current hash: status %+v, spec revision %s, generation %d", cap.Status, cap.Spec.Revision, cap.Generation)
	}
	if cap.Status.ObservedGeneration != stale.ObservedGeneration {
		t.Fatalf("the agent's status changed: %+v", cap.Status)
	}
	got := f.accessPoint("web")
	if s := got.Status.Clusters[0]; s.Phase != trafficv1alpha1.ClusterPhaseApplying {
		t.Errorf("a reverted change with the agent's status about an earlier spec: %s, want Applying", s.Phase)
	}
	if c := condition(got, trafficv1alpha1.ConditionReady); c.Status == metav1.ConditionTrue {
		t.Errorf("Ready %+v before the agent reported on the current spec", c)
	}

	f.healthy("web", "a")
	f.mustSync("web")
	if s := f.accessPoint("web").Status.Clusters[0]; s.Phase != trafficv1alpha1.ClusterPhaseApplied {
		t.Errorf("after the agent reported on the current spec: %s, want Applied", s.Phase)
	}
}

// TestClusterAccessPointsAreWrittenTogether: one sync writes the clusters'
// ClusterAccessPoints concurrently. Each create waits until all three are in
// flight: written one after another, the first would give up waiting.
func TestClusterAccessPointsAreWrittenTogether(t *testing.T) {
	fap := newAccessPoint("checkout", "checkout.example.test", t0, "a", "b", "c")
	f := newFixture(t, fap, memberCluster("a", true), memberCluster("b", true), memberCluster("c", true))
	var inFlight sync.WaitGroup
	inFlight.Add(3)
	all := make(chan struct{})
	go func() { inFlight.Wait(); close(all) }()
	// The fake clientset runs one action at a time: wait before it.
	f.c.client = &barrierClient{Clientset: f.pc, before: func() error {
		inFlight.Done()
		select {
		case <-all:
			return nil
		case <-time.After(5 * time.Second):
			return fmt.Errorf("the other ClusterAccessPoints were not written meanwhile")
		}
	}}
	f.mustSync("checkout")
	for _, cluster := range []string{"a", "b", "c"} {
		if f.clusterAccessPoint("checkout", cluster) == nil {
			t.Fatalf("no ClusterAccessPoint in %s", cluster)
		}
	}
}

// barrierClient calls before ahead of every ClusterAccessPoint create.
type barrierClient struct {
	*fake.Clientset
	before func() error
}

func (c *barrierClient) TrafficV1alpha1() trafficclient.TrafficV1alpha1Interface {
	return barrierTraffic{c.Clientset.TrafficV1alpha1(), c.before}
}

type barrierTraffic struct {
	trafficclient.TrafficV1alpha1Interface
	before func() error
}

func (t barrierTraffic) ClusterAccessPoints(ns string) trafficclient.ClusterAccessPointInterface {
	return barrierCAPs{t.TrafficV1alpha1Interface.ClusterAccessPoints(ns), t.before}
}

type barrierCAPs struct {
	trafficclient.ClusterAccessPointInterface
	before func() error
}

func (c barrierCAPs) Create(ctx context.Context, cap *trafficv1alpha1.ClusterAccessPoint, opts metav1.CreateOptions) (*trafficv1alpha1.ClusterAccessPoint, error) {
	if err := c.before(); err != nil {
		return nil, err
	}
	return c.ClusterAccessPointInterface.Create(ctx, cap, opts)
}

// TestSentUpdateIsNotRewrittenBeforeReports: the sync that sends an update
// writes the status once; the next sync, which sees the ClusterAccessPoints
// it wrote but no agent's report yet, writes nothing (the rollout still
// waits for the same clusters, for the same reason). An extra status write
// there sat on the path of every update to Applied.
func TestSentUpdateIsNotRewrittenBeforeReports(t *testing.T) {
	fap := newAccessPoint("web", "web.example.test", t0, "a", "b")
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{{Name: "web", Spec: vsWithTimeout("1s")}}
	f := newFixture(t, fap, memberCluster("a", true), memberCluster("b", true))
	f.mustSync("web")
	f.healthy("web", "a")
	f.healthy("web", "b")
	f.mustSync("web")
	if got := phases(f.accessPoint("web")); got != "a=Applied,b=Applied" {
		t.Fatalf("before the update: %s", got)
	}

	f.editAccessPoint("web", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.Template.VirtualServices[0].Spec = vsWithTimeout("2s")
	})
	before := len(f.pc.Actions())
	f.mustSync("web")
	w := f.writes(before)
	if n := slices.Index(w, "patch federatedaccesspoints shop"); n < 0 || !slices.Contains(w, "update clusteraccesspoints portico-cluster-a") {
		t.Fatalf("the sync of the update wrote %v, want the ClusterAccessPoints and the status", w)
	}
	before = len(f.pc.Actions())
	f.mustSync("web")
	if w := f.writes(before); len(w) > 0 {
		t.Errorf("the next sync, before any agent reported, wrote %v; want nothing", w)
	}
	if m := f.accessPoint("web").Status.Rollout.Message; !strings.Contains(m, "revision 2 not applied yet") {
		t.Errorf("rollout message %q, want the clusters waited for as not applied yet", m)
	}
}
