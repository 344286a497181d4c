package membercluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// TestConditionsFromLease: the agent's Lease, against the controller's clock,
// decides Joined and Available with the reasons docs/api.md documents, and sync
// asks to look again when a fresh Lease would expire.
func TestConditionsFromLease(t *testing.T) {
	wasAvailable := func(heartbeat time.Time) *clusterv1alpha1.MemberCluster {
		mc := joined("zone-a-1")
		setCondition(&mc.Status, clusterv1alpha1.MemberClusterJoined, metav1.ConditionTrue, ReasonAgentConnected, "connected")
		setCondition(&mc.Status, clusterv1alpha1.MemberClusterAvailable, metav1.ConditionTrue, ReasonLeaseRenewed, "renews")
		mc.Status.Agent.LastHeartbeatTime = &metav1.Time{Time: heartbeat}
		return mc
	}
	for _, tc := range []struct {
		name             string
		cluster          *clusterv1alpha1.MemberCluster
		lease            *coordinationv1.Lease
		joined           metav1.ConditionStatus
		joinedReason     string
		available        metav1.ConditionStatus
		availableReason  string
		heartbeat        time.Time // zero: none
		requeue          time.Duration
		availableMessage string // a substring, when set
	}{
		{name: "no Lease yet", cluster: joined("zone-a-1"),
			joined: metav1.ConditionFalse, joinedReason: "AgentNeverConnected",
			available: metav1.ConditionUnknown, availableReason: "AgentNotConnected"},
		{name: "only another cluster's Lease", cluster: joined("zone-a-1"), lease: newLease("zone-b-1", t0),
			joined: metav1.ConditionFalse, joinedReason: "AgentNeverConnected",
			available: metav1.ConditionUnknown, availableReason: "AgentNotConnected"},
		{name: "Lease without renewTime", cluster: joined("zone-a-1"), lease: &coordinationv1.Lease{ObjectMeta: newLease("zone-a-1", t0).ObjectMeta},
			joined: metav1.ConditionFalse, joinedReason: "AgentNeverConnected",
			available: metav1.ConditionUnknown, availableReason: "AgentNotConnected"},
		{name: "fresh Lease", cluster: joined("zone-a-1"), lease: newLease("zone-a-1", t0.Add(-10*time.Second)),
			joined: metav1.ConditionTrue, joinedReason: "AgentConnected",
			available: metav1.ConditionTrue, availableReason: "LeaseRenewed",
			heartbeat: t0.Add(-10 * time.Second), requeue: grace - 10*time.Second + time.Second},
		{name: "Lease renewed exactly a grace ago", cluster: joined("zone-a-1"), lease: newLease("zone-a-1", t0.Add(-grace)),
			joined: metav1.ConditionTrue, joinedReason: "AgentConnected",
			available: metav1.ConditionTrue, availableReason: "LeaseRenewed",
			heartbeat: t0.Add(-grace), requeue: time.Second},
		{name: "expired Lease", cluster: wasAvailable(t0.Add(-grace - time.Second)), lease: newLease("zone-a-1", t0.Add(-grace-time.Second)),
			joined: metav1.ConditionTrue, joinedReason: "AgentConnected",
			available: metav1.ConditionUnknown, availableReason: "LeaseExpired",
			heartbeat: t0.Add(-grace - time.Second), availableMessage: "last renewed at 2026-03-01T11:59:19Z (grace 40s)"},
		{name: "Lease deleted after joining", cluster: wasAvailable(t0.Add(-20 * time.Second)),
			joined: metav1.ConditionTrue, joinedReason: "AgentConnected",
			available: metav1.ConditionUnknown, availableReason: "AgentNotConnected",
			heartbeat: t0.Add(-20 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kubeObjects []runtime.Object
			if tc.lease != nil {
				kubeObjects = append(kubeObjects, tc.lease)
			}
			f := newFixture(t, []*clusterv1alpha1.MemberCluster{tc.cluster}, kubeObjects...)
			requeue, err := f.c.sync(f.ctx, "zone-a-1")
			if err != nil {
				t.Fatal(err)
			}
			if requeue != tc.requeue {
				t.Errorf("look again in %v, want %v", requeue, tc.requeue)
			}
			st := f.memberCluster(t, "zone-a-1").Status
			checkCondition(t, st, clusterv1alpha1.MemberClusterJoined, tc.joined, tc.joinedReason, "")
			checkCondition(t, st, clusterv1alpha1.MemberClusterAvailable, tc.available, tc.availableReason, tc.availableMessage)
			if hb := st.Agent.LastHeartbeatTime; (hb == nil) != tc.heartbeat.IsZero() || (hb != nil && !hb.Time.Equal(tc.heartbeat)) {
				t.Errorf("lastHeartbeatTime = %v, want %v", hb, tc.heartbeat)
			}
			if st.Namespace != "portico-cluster-zone-a-1" || st.ObservedGeneration != 1 {
				t.Errorf("namespace %q, observedGeneration %d", st.Namespace, st.ObservedGeneration)
			}
		})
	}
}

func checkCondition(t *testing.T, st clusterv1alpha1.MemberClusterStatus, typ string, status metav1.ConditionStatus, reason, message string) {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, message) || c.ObservedGeneration != 1 {
		t.Errorf("%s = %+v, want %s %s (message containing %q, observedGeneration 1)", typ, c, status, reason, message)
	}
}

// TestHeartbeatCopiedOncePerPeriod: on its own, the reported heartbeat follows
// the Lease only when it moved by the copy period or more (or backwards), so
// renewals do not become status writes.
func TestHeartbeatCopiedOncePerPeriod(t *testing.T) {
	c := newController(nil, nil, nil, nil, grace, heartbeatCopy, func() time.Time { return t0 })
	defer c.queue.ShutDown()
	for _, tc := range []struct {
		name     string
		reported time.Time
		renewed  time.Time
		want     time.Time
	}{
		{"moved more than a grace, less than the period", t0.Add(-heartbeatCopy + time.Second), t0, t0.Add(-heartbeatCopy + time.Second)},
		{"moved the period", t0.Add(-heartbeatCopy), t0, t0},
		{"moved backwards", t0, t0.Add(-time.Second), t0.Add(-time.Second)},
	} {
		leases := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		_ = leases.Add(newLease("zone-a-1", tc.renewed))
		c.leases = coordinationlisters.NewLeaseLister(leases)
		st := &clusterv1alpha1.MemberClusterStatus{Agent: clusterv1alpha1.AgentStatus{LastHeartbeatTime: &metav1.Time{Time: tc.reported}}}
		_, renewed := c.applyLease(st, "zone-a-1")
		if got := st.Agent.LastHeartbeatTime.Time; !got.Equal(tc.want) {
			t.Errorf("%s: lastHeartbeatTime = %v, want %v", tc.name, got, tc.want)
		}
		if renewed == nil || !renewed.Time.Equal(tc.renewed) {
			t.Errorf("%s: applyLease returned renewal %v, want %v", tc.name, renewed, tc.renewed)
		}
	}
}

// TestHeartbeatCopyRidesOtherStatusWrites: a renewal within the copy period
// writes nothing, but a status write for another reason (here a spec change,
// observedGeneration) carries the latest renewal.
func TestHeartbeatCopyRidesOtherStatusWrites(t *testing.T) {
	first, second := t0.Add(-20*time.Second), t0.Add(-5*time.Second)
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{joined("zone-a-1")}, newLease("zone-a-1", first))
	statusWrites := func() int { return f.writes.count(0, "update memberclusters/status") }
	// sync once the controller's cache shows the cluster at generation gen.
	syncAt := func(gen int64) {
		t.Helper()
		framework.Eventually(t, 10*time.Second, fmt.Sprintf("the cache shows generation %d", gen), func() (bool, string) {
			mc, err := f.c.clusters.Get("zone-a-1")
			return err == nil && mc.Generation == gen, fmt.Sprintf("%v", err)
		})
		if _, err := f.c.sync(f.ctx, "zone-a-1"); err != nil {
			t.Fatal(err)
		}
	}
	heartbeat := func() time.Time { return f.memberCluster(t, "zone-a-1").Status.Agent.LastHeartbeatTime.Time }

	syncAt(1)
	if n := statusWrites(); n != 1 || !heartbeat().Equal(first) {
		t.Fatalf("joining: %d status writes, lastHeartbeatTime %v; want 1 and %v", n, heartbeat(), first)
	}
	framework.Eventually(t, 10*time.Second, "the cache shows the status", func() (bool, string) {
		mc, _ := f.c.clusters.Get("zone-a-1")
		return mc != nil && mc.Status.Agent.LastHeartbeatTime != nil, "no heartbeat yet"
	})

	f.renewLease(t, "zone-a-1", second)
	framework.Eventually(t, 10*time.Second, "the cache shows the renewal", func() (bool, string) {
		l, err := f.c.leases.Leases(clusterv1alpha1.ClusterNamespace("zone-a-1")).Get(clusterv1alpha1.AgentLease)
		return err == nil && l.Spec.RenewTime.Time.Equal(second), fmt.Sprintf("%v", err)
	})
	syncAt(1)
	if n := statusWrites(); n != 1 || !heartbeat().Equal(first) {
		t.Errorf("a renewal within the copy period: %d status writes in all, lastHeartbeatTime %v; want still 1 and %v", n, heartbeat(), first)
	}

	mc := f.memberCluster(t, "zone-a-1")
	mc.Generation = 2
	if _, err := f.portico.ClusterV1alpha1().MemberClusters().Update(f.ctx, mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAt(2)
	st := f.memberCluster(t, "zone-a-1").Status
	if n := statusWrites(); n != 2 || st.ObservedGeneration != 2 || !heartbeat().Equal(second) {
		t.Errorf("after a spec change: %d status writes in all, observedGeneration %d, lastHeartbeatTime %v; want 2, 2 and the Lease's renewal %v",
			n, st.ObservedGeneration, heartbeat(), second)
	}
}

// TestLeaseEventsEnqueueTheirCluster: a Lease event enqueues the cluster whose
// hub namespace holds it, also from a tombstone; Leases elsewhere are ignored.
func TestLeaseEventsEnqueueTheirCluster(t *testing.T) {
	c := newController(nil, nil, nil, nil, grace, heartbeatCopy, time.Now)
	defer c.queue.ShutDown()
	elsewhere := newLease("x", t0)
	elsewhere.Namespace = "kube-system"
	c.enqueueLease(elsewhere)
	c.enqueueLease(&clusterv1alpha1.MemberCluster{})
	if n := c.queue.Len(); n != 0 {
		t.Fatalf("%d keys queued for Leases outside cluster namespaces", n)
	}
	c.enqueueLease(cache.DeletedFinalStateUnknown{Key: "portico-cluster-zone-b-1/member-agent", Obj: newLease("zone-b-1", t0)})
	c.enqueueLease(newLease("zone-a-1", t0))
	var got []string
	for c.queue.Len() > 0 {
		key, _ := c.queue.Get()
		got = append(got, key)
		c.queue.Done(key)
	}
	if len(got) != 2 || got[0] != "zone-b-1" || got[1] != "zone-a-1" {
		t.Errorf("queued %v, want [zone-b-1 zone-a-1]", got)
	}
}
