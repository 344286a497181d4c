package loadbalancergroup

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/test/framework"
)

// now is the fixtures' clock.
var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture runs the controller's informers on fake clientsets (the generated
// one for Portico kinds, client-go's for Leases) but not its workers: tests
// call sync themselves, or look at what the informers' events put in the queue.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	pc     *fake.Clientset
	kube   *kubefake.Clientset
	portic externalversions.SharedInformerFactory
	leases informers.SharedInformerFactory
	c      *Controller
	clock  time.Time
	// recorder holds the controller's Events.
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, portico []runtime.Object, leases ...runtime.Object) *fixture {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, pc: fake.NewSimpleClientset(portico...), kube: kubefake.NewClientset(leases...), clock: now}
	f.portic = externalversions.NewSharedInformerFactory(f.pc, 0)
	f.leases = informers.NewSharedInformerFactoryWithOptions(f.kube, 0, informers.WithNamespace(lblease.Namespace))
	cluster := f.portic.Cluster().V1alpha1()
	f.recorder = record.NewFakeRecorder(10)
	f.c = NewController(f.pc, cluster.LoadBalancerGroups(), cluster.LoadBalancerNodes(), f.leases.Coordination().V1().Leases(),
		f.portic.Traffic().V1alpha1().VirtualIPs(), f.recorder)
	f.c.now = func() time.Time { return f.clock }
	t.Cleanup(f.c.queue.ShutDown)
	f.portic.Start(ctx.Done())
	f.leases.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), f.c.synced...) {
		t.Fatal("caches did not sync")
	}
	return f
}

func group(name string) *clusterv1alpha1.LoadBalancerGroup {
	return &clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 2},
		Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: name}}
}

// node is a LoadBalancerNode of group whose Ready condition has the given
// reason (True for "Ready", False otherwise; none when reason is empty).
func node(name, group, reason string) *clusterv1alpha1.LoadBalancerNode {
	n := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: group, Address: "192.0.2.1"}}
	if reason != "" {
		status := metav1.ConditionFalse
		if reason == "Ready" {
			status = metav1.ConditionTrue
		}
		n.Status.Conditions = []metav1.Condition{{Type: clusterv1alpha1.ConditionReady, Status: status, Reason: reason,
			LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}
	}
	return n
}

// lease is the node's lb-agent Lease of 40s, renewed at now+renewed.
func lease(node string, renewed time.Duration) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: lblease.Name(node), Namespace: lblease.Namespace},
		Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: now.Add(renewed)}, LeaseDurationSeconds: ptr.To[int32](40)}}
}

// sync reconciles one group, waits until the informer has the written
// status (so the next sync starts from it), and returns the requeue delay and
// the number of status writes.
func (f *fixture) sync(name string) (time.Duration, int) {
	f.t.Helper()
	before := len(f.pc.Actions())
	next, err := f.c.sync(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	writes := 0
	for _, a := range f.pc.Actions()[before:] {
		switch res := a.GetResource().Resource; {
		case a.GetVerb() == "update" && a.GetSubresource() == "status":
			writes++
		case a.GetVerb() == "update" && res == "loadbalancergroups" && a.GetSubresource() == "": // the finalizer
		case a.GetVerb() == "list" && res == "virtualips": // before the finalizer goes
		default:
			f.t.Fatalf("unexpected action %s %s/%s", a.GetVerb(), res, a.GetSubresource())
		}
	}
	if want, err := f.pc.ClusterV1alpha1().LoadBalancerGroups().Get(f.ctx, name, metav1.GetOptions{}); err == nil {
		// The fake clientset keeps no resourceVersion: compare the status.
		f.waitFor("the informer to see "+name+"'s status", func() bool {
			g, err := f.c.groups.Get(name)
			return err == nil && apiequality.Semantic.DeepEqual(g.Status, want.Status)
		})
	}
	return next, writes
}

func (f *fixture) get(name string) *clusterv1alpha1.LoadBalancerGroup {
	f.t.Helper()
	g, err := f.pc.ClusterV1alpha1().LoadBalancerGroups().Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

func (f *fixture) ready(name string) metav1.Condition {
	f.t.Helper()
	c := meta.FindStatusCondition(f.get(name).Status.Conditions, clusterv1alpha1.ConditionReady)
	if c == nil {
		f.t.Fatalf("%s has no Ready condition: %+v", name, f.get(name).Status)
	}
	return *c
}

// waitFor waits for an informer-fed condition: the fake clientsets deliver
// events asynchronously.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	framework.Eventually(f.t, 5*time.Second, what, func() (bool, string) { return cond(), "not yet" })
}

// drain empties the queue and returns what was in it.
func (f *fixture) drain() map[string]bool {
	got := map[string]bool{}
	for f.c.queue.Len() > 0 {
		key, _ := f.c.queue.Get()
		got[key] = true
		f.c.queue.Forget(key)
		f.c.queue.Done(key)
	}
	return got
}

// TestNodesCountedPerGroup: a group counts the nodes whose spec.group names it,
// and as ready only those whose Ready condition is True and whose lb-agent
// Lease holds. The message names the others with their cause.
func TestNodesCountedPerGroup(t *testing.T) {
	f := newFixture(t, []runtime.Object{
		group("zone-a"), group("zone-b"),
		node("edge-a-1", "zone-a", "Ready"),
		node("edge-a-2", "zone-a", "Ready"),          // Lease expired
		node("edge-a-3", "zone-a", "NotEstablished"), // live, not ready
		node("edge-a-4", "zone-a", "Ready"),          // no Lease at all
		node("edge-b-1", "zone-b", "Ready"),
		node("edge-c-1", "zone-c", "Ready"), // a group that does not exist
	}, lease("edge-a-1", -10*time.Second), lease("edge-a-2", -50*time.Second), lease("edge-a-3", -5*time.Second),
		lease("edge-b-1", -20*time.Second))

	next, writes := f.sync("zone-a")
	st := f.get("zone-a").Status
	if st.Nodes != 4 || st.ReadyNodes != 1 || st.ObservedGeneration != 2 || writes != 1 {
		t.Fatalf("zone-a: nodes %d ready %d generation %d writes %d, want 4, 1, 2, 1", st.Nodes, st.ReadyNodes, st.ObservedGeneration, writes)
	}
	c := f.ready("zone-a")
	wantMsg := "1 of 4 nodes are ready; not ready: edge-a-2 (LeaseExpired), edge-a-3 (NotEstablished), edge-a-4 (LeaseExpired)"
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonNodesReady || c.Message != wantMsg || c.ObservedGeneration != 2 {
		t.Fatalf("zone-a Ready = %s %s %q, want True %s %q", c.Status, c.Reason, c.Message, ReasonNodesReady, wantMsg)
	}
	// edge-a-1's Lease ends in 30s, edge-a-3's in 35s: look again at the first.
	if next != 30*time.Second {
		t.Fatalf("look again in %v, want 30s (when edge-a-1's Lease expires)", next)
	}

	f.sync("zone-b")
	if st := f.get("zone-b").Status; st.Nodes != 1 || st.ReadyNodes != 1 {
		t.Fatalf("zone-b: %d/%d, want 1/1 (edge-c-1 belongs to no existing group)", st.ReadyNodes, st.Nodes)
	}
	if c := f.ready("zone-b"); c.Status != metav1.ConditionTrue || c.Message != "all 1 nodes are ready" {
		t.Fatalf("zone-b Ready = %s %q", c.Status, c.Message)
	}
	if _, writes := f.sync("zone-c"); writes != 0 {
		t.Fatalf("a group that does not exist was written")
	}
}

// TestExpiredLeaseNotReady: when the only ready node's Lease expires (nothing
// but time passes), the group's next sync — which sync asked for — counts it as
// not ready, and Ready turns False; a renewal makes it True again. Each
// transition moves lastTransitionTime to the controller's clock; a sync that
// changes nothing writes nothing.
func TestExpiredLeaseNotReady(t *testing.T) {
	f := newFixture(t, []runtime.Object{group("zone-a"), node("edge-a-1", "zone-a", "Ready"), node("edge-a-2", "zone-a", "SyncFailed")},
		lease("edge-a-1", -10*time.Second), lease("edge-a-2", 0))
	next, _ := f.sync("zone-a")
	if c := f.ready("zone-a"); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Time.Equal(now) || f.get("zone-a").Status.ReadyNodes != 1 {
		t.Fatalf("Ready = %+v, status %+v", c, f.get("zone-a").Status)
	}
	if next != 30*time.Second {
		t.Fatalf("look again in %v, want 30s", next)
	}
	f.clock = now.Add(5 * time.Second)
	if _, writes := f.sync("zone-a"); writes != 0 {
		t.Fatalf("%d status writes on a sync that changed nothing", writes)
	}

	// Time passes to when sync asked to look again: edge-a-1's Lease expired.
	f.clock = now.Add(30 * time.Second)
	next, writes := f.sync("zone-a")
	st := f.get("zone-a").Status
	c := f.ready("zone-a")
	if writes != 1 || st.Nodes != 2 || st.ReadyNodes != 0 || c.Status != metav1.ConditionFalse || c.Reason != ReasonNoNodeReady ||
		c.Message != "none of 2 nodes is ready: edge-a-1 (LeaseExpired), edge-a-2 (SyncFailed)" {
		t.Fatalf("after the Lease expired: writes %d, status %d/%d, Ready %s %s %q", writes, st.ReadyNodes, st.Nodes, c.Status, c.Reason, c.Message)
	}
	if !c.LastTransitionTime.Time.Equal(f.clock) {
		t.Fatalf("lastTransitionTime %v, want the transition's time %v", c.LastTransitionTime, f.clock)
	}
	if next != 10*time.Second {
		t.Fatalf("look again in %v, want 10s (edge-a-2's Lease, renewed at the start, still holds)", next)
	}

	// edge-a-1's agent comes back when edge-a-2's Lease ends.
	f.clock = now.Add(40 * time.Second)
	renewed := lease("edge-a-1", 40*time.Second)
	if _, err := f.kube.CoordinationV1().Leases(lblease.Namespace).Update(f.ctx, renewed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the renewed Lease in the cache", func() bool {
		l, err := f.c.leases.Leases(lblease.Namespace).Get(lblease.Name("edge-a-1"))
		return err == nil && l.Spec.RenewTime.Equal(renewed.Spec.RenewTime)
	})
	next, _ = f.sync("zone-a")
	c = f.ready("zone-a")
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonNodesReady || !c.LastTransitionTime.Time.Equal(f.clock) ||
		c.Message != "1 of 2 nodes are ready; not ready: edge-a-2 (LeaseExpired)" || f.get("zone-a").Status.ReadyNodes != 1 {
		t.Fatalf("after the renewal: Ready %s %s %q since %v, status %+v", c.Status, c.Reason, c.Message, c.LastTransitionTime, f.get("zone-a").Status)
	}
	if next != 40*time.Second {
		t.Fatalf("look again in %v, want 40s (the renewed Lease)", next)
	}
}

// TestNoNodes: a group without nodes is not Ready, and says how to add one.
func TestNoNodes(t *testing.T) {
	f := newFixture(t, []runtime.Object{group("zone-a")})
	f.sync("zone-a")
	c := f.ready("zone-a")
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonNoNodes || !strings.Contains(c.Message, "--group zone-a") {
		t.Fatalf("Ready = %s %s %q", c.Status, c.Reason, c.Message)
	}
	if st := f.get("zone-a").Status; st.Nodes != 0 || st.ReadyNodes != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestEventsRequeueOnlyTheAffectedGroup: a node's readiness change, a node
// moving between groups and a Lease that stops or starts holding requeue the
// groups concerned and no other; a renewal of a live Lease and a node status
// write that leaves Ready alone requeue nothing.
func TestEventsRequeueOnlyTheAffectedGroup(t *testing.T) {
	f := newFixture(t, []runtime.Object{group("zone-a"), group("zone-b"), group("zone-c"),
		node("edge-a-1", "zone-a", "Ready"), node("edge-b-1", "zone-b", "Ready")},
		lease("edge-a-1", 0), lease("edge-b-1", 0))
	f.waitFor("the initial adds", func() bool { return f.c.queue.Len() == 3 })
	f.drain()
	nodes := f.pc.ClusterV1alpha1().LoadBalancerNodes()
	leases := f.kube.CoordinationV1().Leases(lblease.Namespace)

	expect := func(what string, change func() error, want ...string) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		f.waitFor(what+" to requeue "+strings.Join(want, ","), func() bool { return f.c.queue.Len() >= len(want) })
		got := f.drain()
		if len(got) != len(want) {
			t.Fatalf("%s requeued %v, want %v", what, got, want)
		}
		for _, g := range want {
			if !got[g] {
				t.Fatalf("%s requeued %v, want %v", what, got, want)
			}
		}
	}
	updateNode := func(name string, mutate func(*clusterv1alpha1.LoadBalancerNode)) func() error {
		return func() error {
			n, err := nodes.Get(f.ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			mutate(n)
			_, err = nodes.Update(f.ctx, n, metav1.UpdateOptions{})
			return err
		}
	}

	expect("edge-b-1 turning not ready", updateNode("edge-b-1", func(n *clusterv1alpha1.LoadBalancerNode) {
		n.Status.Conditions[0].Status, n.Status.Conditions[0].Reason = metav1.ConditionFalse, "Draining"
	}), "zone-b")
	expect("edge-b-1's reason changing (the group's message names it)", updateNode("edge-b-1", func(n *clusterv1alpha1.LoadBalancerNode) {
		n.Status.Conditions[0].Reason = "NotEstablished"
	}), "zone-b")
	expect("edge-b-1 moving to zone-c", updateNode("edge-b-1", func(n *clusterv1alpha1.LoadBalancerNode) {
		n.Spec.Group = "zone-c"
	}), "zone-b", "zone-c")
	expect("edge-a-1's Lease expiring", func() error {
		_, err := leases.Update(f.ctx, lease("edge-a-1", -time.Minute), metav1.UpdateOptions{})
		return err
	}, "zone-a")
	expect("edge-a-1's Lease renewed again", func() error {
		_, err := leases.Update(f.ctx, lease("edge-a-1", time.Second), metav1.UpdateOptions{})
		return err
	}, "zone-a")
	expect("edge-c-1 joining", func() error {
		_, err := nodes.Create(f.ctx, node("edge-c-1", "zone-c", ""), metav1.CreateOptions{})
		return err
	}, "zone-c")
	expect("edge-a-1 leaving", func() error { return nodes.Delete(f.ctx, "edge-a-1", metav1.DeleteOptions{}) }, "zone-a")

	// Changes that concern no group's status (they would requeue zone-c): a
	// live Lease renewed, a node status write that leaves Ready alone, a Lease
	// of no lb-agent. Then, on the same informers, changes that requeue
	// zone-b: each informer delivers in order, so a requeue by the quiet
	// changes would show beside zone-b.
	expect("edge-b-2 joining", func() error {
		_, err := nodes.Create(f.ctx, node("edge-b-2", "zone-b", "Ready"), metav1.CreateOptions{})
		return err
	}, "zone-b")
	quiet := []func() error{
		func() error {
			_, err := leases.Update(f.ctx, lease("edge-b-1", 2*time.Second), metav1.UpdateOptions{})
			return err
		},
		updateNode("edge-c-1", func(n *clusterv1alpha1.LoadBalancerNode) { n.Status.Announced = []string{"198.51.100.1"} }),
		func() error {
			_, err := leases.Create(f.ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "portico-hub", Namespace: lblease.Namespace}},
				metav1.CreateOptions{})
			return err
		},
	}
	for i, change := range quiet {
		if err := change(); err != nil {
			t.Fatalf("quiet change %d: %v", i, err)
		}
	}
	expect("edge-b-2's first Lease", func() error {
		_, err := leases.Create(f.ctx, lease("edge-b-2", 0), metav1.CreateOptions{})
		return err
	}, "zone-b")
	expect("edge-b-2 draining", updateNode("edge-b-2", func(n *clusterv1alpha1.LoadBalancerNode) {
		n.Status.Conditions[0].Status, n.Status.Conditions[0].Reason = metav1.ConditionFalse, "Draining"
	}), "zone-b")
}
