//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/federation/loadbalancergroup"
	"github.com/portico-dev/portico/test/framework"
)

// TestLoadBalancerGroupStatus runs portico-hub with only its loadbalancergroup
// controller against real LoadBalancerNodes and lb-agent Leases in the hub
// cluster: of a group's two Ready nodes only the one whose Lease holds is
// ready (`kubectl get lbg` shows NODES 1/2), a node of another group does not
// count, the group turns not Ready within seconds of that Lease expiring
// without any other change, and becomes Ready again when the Lease is renewed.
func TestLoadBalancerGroupStatus(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers=loadbalancergroup"}})
	ctx := context.Background()
	pc := versioned.NewForConfigOrDie(hub.RestConfig)
	leases := kubernetes.NewForConfigOrDie(hub.RestConfig).CoordinationV1().Leases(lblease.Namespace)

	group, other := uniqueName("lbg"), uniqueName("lbg-other")
	live, stale, elsewhere := uniqueName("edge-live"), uniqueName("edge-stale"), uniqueName("edge-other")
	for _, g := range []string{group, other} {
		if _, err := pc.ClusterV1alpha1().LoadBalancerGroups().Create(ctx, &clusterv1alpha1.LoadBalancerGroup{
			ObjectMeta: metav1.ObjectMeta{Name: g}, Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: "zone-a"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	createReadyNode(t, pc, live, group, "192.0.2.21")
	createReadyNode(t, pc, stale, group, "192.0.2.22") // its agent never renewed a Lease
	createReadyNode(t, pc, elsewhere, other, "192.0.2.23")
	const leaseSeconds = 8
	renewed := time.Now()
	lease, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: lblease.Name(live)},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(live), LeaseDurationSeconds: ptr.To[int32](leaseSeconds),
			RenewTime: &metav1.MicroTime{Time: renewed}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	framework.Eventually(t, 30*time.Second, group+" counting 1 ready node of 2", groupStatusIs(pc, group, 2, 1,
		metav1.ConditionTrue, loadbalancergroup.ReasonNodesReady, stale+" (LeaseExpired)"))
	framework.Eventually(t, 30*time.Second, other+" counting only its own node", groupStatusIs(pc, other, 1, 0,
		metav1.ConditionFalse, loadbalancergroup.ReasonNoNodeReady, elsewhere+" (LeaseExpired)"))
	tb := parseTable(t, mustKubectlAs(t, hub.KubeconfigPath, "get", "lbg", group))
	if row := tb.row(group); row == nil || row["NODES"] != "1/2" || row["READY"] != "True" {
		t.Errorf("kubectl get lbg %s: row %v (header %v), want NODES 1/2 and READY True", group, row, tb.header)
	}

	// Nobody writes anything now: the Lease just expires.
	expiry := renewed.Add(leaseSeconds * time.Second)
	framework.Eventually(t, leaseSeconds*time.Second+30*time.Second, group+" not Ready once "+live+"'s Lease expired",
		groupStatusIs(pc, group, 2, 0, metav1.ConditionFalse, loadbalancergroup.ReasonNoNodeReady, live+" (LeaseExpired)"))
	if late := time.Since(expiry); late > 10*time.Second {
		t.Errorf("the expiry was noticed %v after the Lease expired: the group is not looked at again when its Leases expire", late.Round(time.Millisecond))
	} else {
		t.Logf("the expiry was noticed %v after the Lease expired", late.Round(time.Millisecond))
	}
	tb = parseTable(t, mustKubectlAs(t, hub.KubeconfigPath, "get", "lbg", group))
	if row := tb.row(group); row == nil || row["NODES"] != "0/2" || row["READY"] != "False" {
		t.Errorf("kubectl get lbg %s after the expiry: row %v, want NODES 0/2 and READY False", group, row)
	}

	// The agent comes back.
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](600)
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, group+" Ready again after the renewal", groupStatusIs(pc, group, 2, 1,
		metav1.ConditionTrue, loadbalancergroup.ReasonNodesReady, stale+" (LeaseExpired)"))
}

// createReadyNode creates a LoadBalancerNode of group whose status says Ready,
// as its lb-agent would.
func createReadyNode(t *testing.T, pc versioned.Interface, name, group, address string) {
	t.Helper()
	ctx := context.Background()
	n, err := pc.ClusterV1alpha1().LoadBalancerNodes().Create(ctx, &clusterv1alpha1.LoadBalancerNode{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: group, Address: address}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []metav1.Condition{{Type: clusterv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready",
		Message: "dataplane synced, BGP established", LastTransitionTime: metav1.Now()}}
	if _, err := pc.ClusterV1alpha1().LoadBalancerNodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// groupStatusIs reports whether the group's status counts nodes and ready
// nodes and has a Ready condition of status and reason whose message mentions
// named.
func groupStatusIs(pc versioned.Interface, name string, nodes, ready int32, status metav1.ConditionStatus, reason, named string) func() (bool, string) {
	return func() (bool, string) {
		g, err := pc.ClusterV1alpha1().LoadBalancerGroups().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(g.Status.Conditions, clusterv1alpha1.ConditionReady)
		state := fmt.Sprintf("nodes %d, readyNodes %d, Ready %+v", g.Status.Nodes, g.Status.ReadyNodes, c)
		ok := g.Status.Nodes == nodes && g.Status.ReadyNodes == ready && c != nil &&
			c.Status == status && c.Reason == reason && strings.Contains(c.Message, named) && g.Status.ObservedGeneration == g.Generation
		return ok, state
	}
}
