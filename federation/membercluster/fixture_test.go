package membercluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	"github.com/portico-dev/portico/test/framework"
)

// grace is the Lease grace the tests give the controller (portico-hub's default).
const grace = 40 * time.Second

// heartbeatCopy is how often the tests' controller copies a Lease renewal
// into the status on its own (portico-hub's default).
const heartbeatCopy = 5 * time.Minute

// t0 is when every test starts, on the controller's clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the controller's settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// journal records, in order, every write made through both fake clientsets, as
// "verb resource[/subresource] [namespace/]name"; an apply is recorded as "apply".
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) reactor(action clienttesting.Action) (bool, runtime.Object, error) {
	if entry, ok := describeWrite(action); ok {
		j.mu.Lock()
		j.entries = append(j.entries, entry)
		j.mu.Unlock()
	}
	return false, nil, nil
}

// since returns the entries recorded from index from on.
func (j *journal) since(from int) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries[from:])
}

func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// count returns how many entries from index from on start with prefix.
func (j *journal) count(from int, prefix string) int {
	n := 0
	for _, e := range j.since(from) {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func describeWrite(action clienttesting.Action) (string, bool) {
	verb, name := action.GetVerb(), ""
	switch a := action.(type) {
	case clienttesting.CreateAction:
		name = objectName(a.GetObject())
	case clienttesting.UpdateAction:
		name = objectName(a.GetObject())
	case clienttesting.PatchAction:
		name = a.GetName()
		if a.GetPatchType() == types.ApplyPatchType {
			verb = "apply"
		}
	case clienttesting.DeleteAction:
		name = a.GetName()
	default:
		return "", false
	}
	resource := action.GetResource().Resource
	if sub := action.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	if ns := action.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return verb + " " + resource + " " + name, true
}

func objectName(obj runtime.Object) string {
	if m, err := meta.Accessor(obj); err == nil {
		return m.GetName()
	}
	return "?"
}

// fixture is the controller with fake hub and portico-hub clients, informers
// fed from them, and a settable clock.
type fixture struct {
	kube    *kubefake.Clientset
	portico *fake.Clientset
	clock   *clock
	writes  *journal
	c       *Controller
	ctx     context.Context
}

// newFixture builds the controller through NewController over the given objects
// and waits for its informers to sync. It does not run the controller's queue.
func newFixture(t *testing.T, clusters []*clusterv1alpha1.MemberCluster, kubeObjects ...runtime.Object) *fixture {
	t.Helper()
	porticoObjects := make([]runtime.Object, 0, len(clusters))
	for _, mc := range clusters {
		porticoObjects = append(porticoObjects, mc)
	}
	f := &fixture{
		kube: kubefake.NewClientset(kubeObjects...), portico: fake.NewClientset(porticoObjects...),
		clock: &clock{now: t0}, writes: &journal{},
	}
	f.kube.PrependReactor("*", "*", f.writes.reactor)
	f.portico.PrependReactor("*", "*", f.writes.reactor)
	ctx, cancel := context.WithCancel(context.Background())
	f.ctx = ctx
	pi := externalversions.NewSharedInformerFactory(f.portico, 0)
	ki := informers.NewSharedInformerFactory(f.kube, 0)
	f.c = NewController(f.portico, f.kube, pi.Cluster().V1alpha1().MemberClusters(), ki.Coordination().V1().Leases(), grace, heartbeatCopy)
	f.c.now = f.clock.Now
	pi.Start(ctx.Done())
	ki.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		f.c.queue.ShutDown()
		pi.Shutdown()
		ki.Shutdown()
	})
	for typ, ok := range pi.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}
	for typ, ok := range ki.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}
	return f
}

// run runs the controller's queue with one worker until the test ends.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.c.Run(ctx, 1)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func (f *fixture) memberCluster(t *testing.T, name string) *clusterv1alpha1.MemberCluster {
	t.Helper()
	mc, err := f.portico.ClusterV1alpha1().MemberClusters().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("MemberCluster %s: %v", name, err)
	}
	return mc
}

// waitCondition waits until the MemberCluster carries the finalizer and its
// condition typ has status and reason.
func (f *fixture) waitCondition(t *testing.T, cluster, typ string, status metav1.ConditionStatus, reason string) *clusterv1alpha1.MemberCluster {
	t.Helper()
	var mc *clusterv1alpha1.MemberCluster
	framework.Eventually(t, 10*time.Second, fmt.Sprintf("%s %s=%s (%s)", cluster, typ, status, reason), func() (bool, string) {
		var err error
		mc, err = f.portico.ClusterV1alpha1().MemberClusters().Get(context.Background(), cluster, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(mc.Status.Conditions, typ)
		return c != nil && c.Status == status && c.Reason == reason && slices.Contains(mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer),
			fmt.Sprintf("finalizers %v, conditions %+v", mc.Finalizers, mc.Status.Conditions)
	})
	return mc
}

// renewLease creates or updates the agent's Lease of cluster, renewed at at.
func (f *fixture) renewLease(t *testing.T, cluster string, at time.Time) {
	t.Helper()
	ns := clusterv1alpha1.ClusterNamespace(cluster)
	leases := f.kube.CoordinationV1().Leases(ns)
	renewed := metav1.NewMicroTime(at)
	lease, err := leases.Get(context.Background(), clusterv1alpha1.AgentLease, metav1.GetOptions{})
	if err != nil {
		lease = newLease(cluster, at)
		_, err = leases.Create(context.Background(), lease, metav1.CreateOptions{})
	} else {
		lease.Spec.RenewTime = &renewed
		_, err = leases.Update(context.Background(), lease, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("renewing the Lease of %s: %v", cluster, err)
	}
}

// waitLeaseSeen waits until the controller's cache holds the cluster's Lease
// renewed at at and its queue is empty, so that the test's clock does not move
// on before the controller has looked at the renewal.
func (f *fixture) waitLeaseSeen(t *testing.T, cluster string, at time.Time) {
	t.Helper()
	framework.Eventually(t, 10*time.Second, fmt.Sprintf("the controller saw %s's Lease renewed at %s", cluster, at), func() (bool, string) {
		l, err := f.c.leases.Leases(clusterv1alpha1.ClusterNamespace(cluster)).Get(clusterv1alpha1.AgentLease)
		if err != nil || l.Spec.RenewTime == nil || !l.Spec.RenewTime.Time.Equal(at) {
			return false, fmt.Sprintf("lease %v", err)
		}
		return f.c.queue.Len() == 0, fmt.Sprintf("%d queued", f.c.queue.Len())
	})
	// The item taken off the queue may still be in its sync.
	time.Sleep(50 * time.Millisecond)
}

func newLease(cluster string, renewed time.Time) *coordinationv1.Lease {
	at := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: clusterv1alpha1.AgentLease, Namespace: clusterv1alpha1.ClusterNamespace(cluster)},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &at},
	}
}

func newMemberCluster(name string) *clusterv1alpha1.MemberCluster {
	return &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1}}
}

// joined is a MemberCluster the controller has already taken in: it carries the
// finalizer and the status namespace.
func joined(name string) *clusterv1alpha1.MemberCluster {
	mc := newMemberCluster(name)
	mc.Finalizers = []string{clusterv1alpha1.MemberClusterFinalizer}
	mc.Status.ObservedGeneration = 1
	mc.Status.Namespace = clusterv1alpha1.ClusterNamespace(name)
	return mc
}
