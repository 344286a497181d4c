package loadbalancergroup

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// Reasons of the Ready condition.
const (
	// ReasonNodesReady: at least one node of the group is ready (True).
	ReasonNodesReady = "NodesReady"
	// ReasonNoNodes: no LoadBalancerNode names the group (False).
	ReasonNoNodes = "NoNodes"
	// ReasonNoNodeReady: the group has nodes, but none is ready (False).
	ReasonNoNodeReady = "NoNodeReady"
)

// Causes the message gives for a node that is not ready, besides the reason of
// its own Ready condition.
const (
	// CauseLeaseExpired: the node's lb-agent Lease is missing or expired.
	CauseLeaseExpired = "LeaseExpired"
	// CauseNoReadyCondition: the node has reported no Ready condition yet.
	CauseNoReadyCondition = "NoReadyCondition"
)

// maxNamed bounds how many not-ready nodes the message names.
const maxNamed = 10

// Member is one node of a group, with whether its lb-agent's Lease holds.
type Member struct {
	Node      *clusterv1alpha1.LoadBalancerNode
	LeaseHeld bool
}

// Ready tells whether the member counts as ready: its Lease holds and its
// Ready condition is True.
func (m Member) Ready() bool {
	return m.LeaseHeld && meta.IsStatusConditionTrue(m.Node.Status.Conditions, clusterv1alpha1.ConditionReady)
}

// cause says why a member is not ready: CauseLeaseExpired when its agent
// stopped renewing (its status is stale, whatever it says), else the reason of
// its Ready condition.
func (m Member) cause() string {
	if !m.LeaseHeld {
		return CauseLeaseExpired
	}
	if c := meta.FindStatusCondition(m.Node.Status.Conditions, clusterv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return CauseNoReadyCondition
}

// Status computes a group's status from its members on a copy of the current
// one, so that an unchanged condition keeps its lastTransitionTime; a
// transition happens at now.
func Status(group *clusterv1alpha1.LoadBalancerGroup, members []Member, now time.Time) *clusterv1alpha1.LoadBalancerGroupStatus {
	status := group.Status.DeepCopy()
	status.ObservedGeneration = group.Generation
	status.Nodes, status.ReadyNodes = int32(len(members)), 0
	var notReady []string
	for _, m := range members {
		if m.Ready() {
			status.ReadyNodes++
			continue
		}
		notReady = append(notReady, fmt.Sprintf("%s (%s)", m.Node.Name, m.cause()))
	}
	slices.Sort(notReady)
	cond := readyCondition(group, status, notReady)
	cond.LastTransitionTime = metav1.NewTime(now)
	meta.SetStatusCondition(&status.Conditions, cond)
	return status
}

func readyCondition(group *clusterv1alpha1.LoadBalancerGroup, status *clusterv1alpha1.LoadBalancerGroupStatus, notReady []string) metav1.Condition {
	cond := metav1.Condition{Type: clusterv1alpha1.ConditionReady, ObservedGeneration: group.Generation,
		Status: metav1.ConditionTrue, Reason: ReasonNodesReady}
	switch {
	case status.Nodes == 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonNoNodes
		cond.Message = fmt.Sprintf("no LoadBalancerNode has spec.group %s: start lb-agents with --group %s", group.Name, group.Name)
	case status.ReadyNodes == 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonNoNodeReady
		cond.Message = fmt.Sprintf("none of %d nodes is ready: %s", status.Nodes, names(notReady))
	case len(notReady) == 0:
		cond.Message = fmt.Sprintf("all %d nodes are ready", status.Nodes)
	default:
		cond.Message = fmt.Sprintf("%d of %d nodes are ready; not ready: %s", status.ReadyNodes, status.Nodes, names(notReady))
	}
	return cond
}

// names joins the first maxNamed entries and counts the rest.
func names(list []string) string {
	if len(list) <= maxNamed {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:maxNamed], ", "), len(list)-maxNamed)
}

// sameReadiness tells whether two versions of a node agree on their Ready
// condition's status and reason, all that the group's status reads of a node.
func sameReadiness(a, b *clusterv1alpha1.LoadBalancerNode) bool {
	ca := meta.FindStatusCondition(a.Status.Conditions, clusterv1alpha1.ConditionReady)
	cb := meta.FindStatusCondition(b.Status.Conditions, clusterv1alpha1.ConditionReady)
	if ca == nil || cb == nil {
		return ca == cb
	}
	return ca.Status == cb.Status && ca.Reason == cb.Reason
}
