package membercluster

import (
	"context"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// Condition reasons.
const (
	ReasonAgentConnected    = "AgentConnected"
	ReasonAgentNeverJoined  = "AgentNeverConnected"
	ReasonLeaseRenewed      = "LeaseRenewed"
	ReasonLeaseExpired      = "LeaseExpired"
	ReasonAgentDisconnected = "AgentNotConnected"
)

// updateStatus derives the namespace, heartbeat and conditions from the agent's
// Lease and the credential it reported, writes them only when they changed, and
// returns when a condition would change by time alone: the Lease expires, or
// the credential nears or passes its expiry.
func (c *Controller) updateStatus(ctx context.Context, mc *clusterv1alpha1.MemberCluster) (time.Duration, error) {
	status := mc.Status.DeepCopy()
	status.ObservedGeneration = mc.Generation
	status.Namespace = clusterv1alpha1.ClusterNamespace(mc.Name)
	requeue, renewed := c.applyLease(status, mc.Name)
	if flip := c.applyCredential(status, mc.Name); flip > 0 && (requeue == 0 || flip < requeue) {
		requeue = flip
	}
	if apiequality.Semantic.DeepEqual(status, &mc.Status) {
		return requeue, nil
	}
	if renewed != nil {
		// Written anyway: the copy of the heartbeat may as well be the latest.
		status.Agent.LastHeartbeatTime = renewed
	}
	updated := mc.DeepCopy()
	updated.Status = *status
	_, err := c.portico.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return requeue, fmt.Errorf("status of %s changed meanwhile: %w", mc.Name, err)
	}
	return requeue, err
}

// applyLease sets Joined, Available and the heartbeat from the agent's Lease and
// returns how long until the Lease goes stale (0 when it already is) and its
// last renewal (nil without one).
func (c *Controller) applyLease(status *clusterv1alpha1.MemberClusterStatus, cluster string) (time.Duration, *metav1.Time) {
	lease, err := c.leases.Leases(clusterv1alpha1.ClusterNamespace(cluster)).Get(clusterv1alpha1.AgentLease)
	if err != nil || lease.Spec.RenewTime == nil {
		if !meta.IsStatusConditionTrue(status.Conditions, clusterv1alpha1.MemberClusterJoined) {
			setCondition(status, clusterv1alpha1.MemberClusterJoined, metav1.ConditionFalse, ReasonAgentNeverJoined, "the member-agent has not connected yet")
		}
		setCondition(status, clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, ReasonAgentDisconnected, "no Lease from the member-agent")
		return 0, nil
	}
	renewed := lease.Spec.RenewTime.Time
	// Heartbeats are Lease renewals, and Available follows the Lease. The copy
	// in the status is refreshed on its own only once per heartbeatCopy (like
	// a kubelet's node status report), so that renewals do not turn into
	// status writes: 1000 clusters renewing every 10 s would otherwise be a
	// steady stream of MemberCluster writes and events.
	if hb := status.Agent.LastHeartbeatTime; hb == nil || renewed.Sub(hb.Time) >= c.heartbeatCopy || renewed.Before(hb.Time) {
		status.Agent.LastHeartbeatTime = &metav1.Time{Time: renewed}
	}
	setCondition(status, clusterv1alpha1.MemberClusterJoined, metav1.ConditionTrue, ReasonAgentConnected, "the member-agent has connected")
	age := c.now().Sub(renewed)
	if age > c.grace {
		setCondition(status, clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, ReasonLeaseExpired,
			fmt.Sprintf("the member-agent's Lease was last renewed at %s (grace %s)", renewed.UTC().Format(time.RFC3339), c.grace))
		return 0, &metav1.Time{Time: renewed}
	}
	setCondition(status, clusterv1alpha1.MemberClusterAvailable, metav1.ConditionTrue, ReasonLeaseRenewed, "the member-agent renews its Lease")
	return c.grace - age + time.Second, &metav1.Time{Time: renewed}
}

func setCondition(status *clusterv1alpha1.MemberClusterStatus, typ string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: status.ObservedGeneration,
	})
}
