package accesspoint

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
)

// Condition reasons of FederatedAccessPoint.
const (
	ReasonPlaced = "Placed"
	// ReasonMoving: under a Staged rollout, clusters the access point left
	// keep it until the placed ones are healthy.
	ReasonMoving              = "Moving"
	ReasonNoClusters          = "NoClusters"
	ReasonHostConflict        = "HostConflict"
	ReasonAllApplied          = "AllApplied"
	ReasonApplying            = "Applying"
	ReasonApplyFailed         = "ApplyFailed"
	ReasonClustersUnavailable = "ClustersUnavailable"
	ReasonAllocated           = "Allocated"
	ReasonAnnounced           = "Announced"
	ReasonNotAnnounced        = "NotAnnounced"
	ReasonNoHealthyBackends   = "NoHealthyBackends"
	ReasonNoLoadBalancerNodes = "NoLoadBalancerNodes"
	ReasonReady               = "Ready"
	ReasonNotReady            = "NotReady"
	// ReasonNotReported: a condition another controller owns that applies
	// (CertificateReady with spec.tls, DNSReady with a NameService) is not
	// there yet.
	ReasonNotReported = "NotReported"
	// ReasonNotObserved: that condition was computed for an older generation.
	ReasonNotObserved = "NotObserved"
)

// FieldManager owns the access point controller's part of a
// FederatedAccessPoint's status: observedGeneration, revision, vip, clusters,
// and the conditions Placed, Applied, VIPAllocated, LoadBalancerReady,
// GatewayReady, RolledOut and Ready. The certificate and DNS controllers own their parts.
const FieldManager = "portico-accesspoint"

// statusPart is what this controller owns of an access point's status.
var statusPart = apstatus.Part{
	Manager: FieldManager,
	ConditionTypes: []string{trafficv1alpha1.AccessPointPlaced, trafficv1alpha1.AccessPointApplied,
		trafficv1alpha1.AccessPointVIPAllocated, trafficv1alpha1.AccessPointLoadBalancerReady,
		trafficv1alpha1.AccessPointRolledOut, trafficv1alpha1.AccessPointGatewayReady, trafficv1alpha1.ConditionReady},
	Fields: func(dst, src *trafficv1alpha1.FederatedAccessPointStatus) {
		dst.ObservedGeneration, dst.Revision = src.ObservedGeneration, src.Revision
		dst.VIP = src.VIP.DeepCopy()
		dst.Clusters = nil
		for _, c := range src.Clusters {
			dst.Clusters = append(dst.Clusters, *c.DeepCopy())
		}
		// status.rollout.approvals belong to the approve subresource: they
		// stay as dst holds them and are never part of this controller's apply.
		var approvals []trafficv1alpha1.RolloutApprovalRecord
		if dst.Rollout != nil {
			approvals = dst.Rollout.Approvals
		}
		dst.Rollout = src.Rollout.DeepCopy()
		if dst.Rollout != nil {
			dst.Rollout.Approvals = approvals
		}
	},
}

// othersConditions are the conditions other controllers own that Ready
// depends on.
var othersConditions = []string{trafficv1alpha1.AccessPointCertificateReady, trafficv1alpha1.AccessPointDNSReady}

func (c *Controller) updateStatus(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, p *plan, vip *trafficv1alpha1.VirtualIP, failure *vipFailure) error {
	status := &trafficv1alpha1.FederatedAccessPointStatus{ObservedGeneration: fap.Generation, Revision: p.revision}
	status.Clusters = c.clusterStatuses(fap, p)
	conds := []metav1.Condition{placedCondition(p), appliedCondition(status.Clusters)}
	if fap.Spec.Template.GatewayAPI != nil {
		conds = append(conds, gatewayReadyCondition(status.Clusters))
	}
	if fap.Spec.LoadBalancer != nil {
		status.VIP = vipStatus(fap, vip)
		conds = append(conds, vipCondition(vip, failure), c.loadBalancerCondition(vip))
	}
	ready := readyCondition(append(slices.Clone(conds), c.othersConditions(fap)...))
	// RolledOut does not hold Ready back: clusters on the stable revision serve.
	conds = append(conds, p.rollout.condition, ready)
	for i := range conds {
		conds[i].ObservedGeneration = fap.Generation
	}
	status.Conditions = conds
	status.Rollout = &p.rollout.status
	wasReady := meta.IsStatusConditionTrue(fap.Status.Conditions, trafficv1alpha1.ConditionReady)
	written, err := statusPart.Write(ctx, c.client, fap, status, c.now())
	if err != nil || written == nil {
		return err
	}
	c.wrote(written)
	c.recordTransition(fap, wasReady, ready)
	c.recordRollout(fap, p.rollout)
	return nil
}

// recordRollout records the rollout's transitions as Events.
func (c *Controller) recordRollout(fap *trafficv1alpha1.FederatedAccessPoint, d *rolloutDecision) {
	if c.events == nil {
		return
	}
	for _, e := range d.events {
		kind := corev1.EventTypeNormal
		if e[0] == EventRolloutHalted {
			kind = corev1.EventTypeWarning
		}
		c.events.Event(fap, kind, e[0], e[1])
	}
}

// othersConditions are the conditions of the certificate and DNS controllers
// that apply to the access point, as the object holds them. One that applies
// but is missing, or was computed for an older generation, counts as Unknown.
func (c *Controller) othersConditions(fap *trafficv1alpha1.FederatedAccessPoint) []metav1.Condition {
	applies := map[string]bool{
		trafficv1alpha1.AccessPointCertificateReady: fap.Spec.TLS != nil,
		trafficv1alpha1.AccessPointDNSReady:         c.published(fap),
	}
	var out []metav1.Condition
	for _, t := range othersConditions {
		cond := meta.FindStatusCondition(fap.Status.Conditions, t)
		switch {
		case !applies[t]:
		case cond == nil:
			out = append(out, metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: ReasonNotReported})
		case cond.ObservedGeneration < fap.Generation:
			out = append(out, metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: ReasonNotObserved})
		default:
			out = append(out, *cond)
		}
	}
	return out
}

// published tells whether a NameService publishes the access point.
func (c *Controller) published(fap *trafficv1alpha1.FederatedAccessPoint) bool {
	names, _ := c.names.NameServices(fap.Namespace).List(labels.Everything())
	for _, ns := range names {
		if ns.DeletionTimestamp == nil && ns.Spec.Target.AccessPointRef != nil && ns.Spec.Target.AccessPointRef.Name == fap.Name {
			return true
		}
	}
	return false
}

func (c *Controller) recordTransition(fap *trafficv1alpha1.FederatedAccessPoint, wasReady bool, ready metav1.Condition) {
	if c.events == nil || wasReady == (ready.Status == metav1.ConditionTrue) {
		return
	}
	kind := corev1.EventTypeNormal
	if !wasReady {
		c.events.Event(fap, kind, ReasonReady, ready.Message)
		return
	}
	c.events.Event(fap, corev1.EventTypeWarning, ReasonNotReady, ready.Message)
}

// clusterStatuses reports every placed cluster, keeping each phase's transition time.
func (c *Controller) clusterStatuses(fap *trafficv1alpha1.FederatedAccessPoint, p *plan) []trafficv1alpha1.ClusterStatus {
	existing := c.rendered(fap)
	prev := map[string]trafficv1alpha1.ClusterStatus{}
	for _, s := range fap.Status.Clusters {
		prev[s.Name] = s
	}
	var out []trafficv1alpha1.ClusterStatus
	for _, mc := range p.placed {
		s := clusterStatus(fap, mc, existing[mc.Name], p)
		if old, ok := prev[mc.Name]; ok && old.Phase == s.Phase && old.LastTransitionTime != nil {
			s.LastTransitionTime = old.LastTransitionTime
		} else {
			now := metav1.NewTime(c.now())
			s.LastTransitionTime = &now
		}
		out = append(out, s)
	}
	return out
}

// clusterStatus is a placed cluster's entry of status.clusters. The cluster
// is Applied when its agent applied, for the current spec of its
// ClusterAccessPoint, what its revision renders for it (a revision that
// renders the same there as an earlier one did not rewrite it).
func clusterStatus(fap *trafficv1alpha1.FederatedAccessPoint, mc *clusterv1alpha1.MemberCluster,
	cap *trafficv1alpha1.ClusterAccessPoint, p *plan) trafficv1alpha1.ClusterStatus {
	n := p.assign[mc.Name]
	s := trafficv1alpha1.ClusterStatus{Name: mc.Name, Zone: mc.Spec.Zone, Revision: n}
	if cap != nil {
		s.ObservedRevision = p.observedRevision(fap, mc.Name, cap)
		s.Objects.Total = int32(len(cap.Spec.Manifests))
		for _, o := range cap.Status.Objects {
			if o.Applied {
				s.Objects.Applied++
			}
		}
		for _, ep := range cap.Status.Gateway.Endpoints {
			if ep.Ready {
				s.GatewayEndpoints++
			}
		}
		s.GatewayAPI = cap.Status.GatewayAPI.DeepCopy()
	}
	switch conflict, failure := p.conflicts[mc.Name], p.failures[mc.Name]; {
	case conflict != "":
		s.Phase, s.Message = trafficv1alpha1.ClusterPhaseFailed, conflict
	case failure != "":
		s.Phase, s.Message = trafficv1alpha1.ClusterPhaseFailed, failure
	case !Available(mc):
		s.Phase, s.Message = trafficv1alpha1.ClusterPhaseUnavailable, "the cluster's agent is not available; it keeps its last configuration"
	case cap == nil || cap.Status.ObservedRevision == "":
		s.Phase, s.Message = trafficv1alpha1.ClusterPhasePending, "waiting for the cluster's agent"
	case cap.Status.ObservedGeneration != cap.Generation:
		// The agent's status is about an earlier spec: it cannot say whether
		// this one is applied, even when the content hashes alike (a change
		// reverted while the agent could not report).
		s.Phase, s.Message = trafficv1alpha1.ClusterPhaseApplying, fmt.Sprintf("applying revision %d (%s)", n, p.hashes[n])
	case meta.IsStatusConditionTrue(cap.Status.Conditions, trafficv1alpha1.ClusterAccessPointDegraded):
		s.Phase = trafficv1alpha1.ClusterPhaseFailed
		if d := meta.FindStatusCondition(cap.Status.Conditions, trafficv1alpha1.ClusterAccessPointDegraded); d != nil {
			s.Message = d.Message
		}
	case cap.Status.ObservedRevision != p.clusterRevision(fap, n, mc.Name):
		s.Phase, s.Message = trafficv1alpha1.ClusterPhaseApplying, fmt.Sprintf("applying revision %d (%s)", n, p.hashes[n])
	default:
		s.Phase = trafficv1alpha1.ClusterPhaseApplied
	}
	return s
}

// observedRevision is what the cluster's agent applied last, in the terms of
// status.revision: the hash of the revision the cluster is sent, of the one
// its ClusterAccessPoint was written for, or of the stable one, whichever's
// rendering for the cluster the agent reports (its ClusterAccessPoint's
// status.observedRevision, a hash of the cluster's manifests); that manifests
// hash itself when it is none of theirs. A cluster on the target therefore
// reports status.revision, even when the target rendered nothing new for it.
func (p *plan) observedRevision(fap *trafficv1alpha1.FederatedAccessPoint, cluster string, cap *trafficv1alpha1.ClusterAccessPoint) string {
	applied := cap.Status.ObservedRevision
	if applied == "" {
		return ""
	}
	for _, n := range []int64{p.assign[cluster], cap.Spec.AccessPointRevision, p.rollout.status.StableRevision} {
		if n > 0 && applied == p.clusterRevision(fap, n, cluster) {
			return p.hashes[n]
		}
	}
	return applied
}

func placedCondition(p *plan) metav1.Condition {
	names := make([]string, 0, len(p.placed))
	for _, mc := range p.placed {
		names = append(names, mc.Name)
	}
	switch {
	case len(p.conflicts) > 0:
		return metav1.Condition{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionFalse, Reason: ReasonHostConflict,
			Message: "not rendered on " + joinSorted(p.conflicts)}
	case p.follow != nil && p.follow.err != nil:
		kept := "it is on no cluster"
		if len(names) > 0 {
			kept = "it stays on " + strings.Join(names, ", ")
		}
		return metav1.Condition{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionFalse, Reason: p.follow.err.Reason,
			Message: p.follow.err.Message + "; keeping the last placement: " + kept}
	case len(p.placed) == 0:
		msg := "no member cluster matches the placement"
		if p.follow != nil && len(p.follow.unmapped) > 0 {
			msg += "; no MemberCluster for the followed object's kubefed clusters " + strings.Join(p.follow.unmapped, ", ")
		}
		return metav1.Condition{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionFalse, Reason: ReasonNoClusters, Message: msg}
	case len(p.leaving) > 0:
		return metav1.Condition{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionTrue, Reason: ReasonMoving,
			Message: fmt.Sprintf("placed on %s; leaving %s once %s %s healthy on revision %d (staged rollout: make before break)",
				strings.Join(names, ", "), strings.Join(p.leaving, ", "), strings.Join(p.waitingFor, ", "), isAre(len(p.waitingFor)), p.target)}
	case p.follow != nil && len(p.follow.unmapped) > 0:
		return metav1.Condition{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionTrue, Reason: ReasonUnmappedClusters,
			Message: "placed on " + strings.Join(names, ", ") + "; no MemberCluster for the followed object's kubefed clusters " +
				strings.Join(p.follow.unmapped, ", ") + " (name a MemberCluster after each, or label one " + clusterv1alpha1.LabelKubefedCluster + "=NAME)"}
	}
	return metav1.Condition{Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionTrue, Reason: ReasonPlaced,
		Message: "placed on " + strings.Join(names, ", ")}
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func appliedCondition(clusters []trafficv1alpha1.ClusterStatus) metav1.Condition {
	cond := metav1.Condition{Type: trafficv1alpha1.AccessPointApplied, Status: metav1.ConditionFalse}
	byPhase := map[string][]string{}
	for _, s := range clusters {
		byPhase[s.Phase] = append(byPhase[s.Phase], s.Name)
	}
	switch {
	case len(clusters) == 0:
		cond.Reason, cond.Message = ReasonNoClusters, "no cluster to apply to"
	case len(byPhase[trafficv1alpha1.ClusterPhaseFailed]) > 0:
		cond.Reason, cond.Message = ReasonApplyFailed, "failed on "+strings.Join(byPhase[trafficv1alpha1.ClusterPhaseFailed], ", ")
	case len(byPhase[trafficv1alpha1.ClusterPhaseUnavailable]) > 0:
		cond.Reason, cond.Message = ReasonClustersUnavailable, "unavailable: "+strings.Join(byPhase[trafficv1alpha1.ClusterPhaseUnavailable], ", ")
	case len(byPhase[trafficv1alpha1.ClusterPhaseApplied]) < len(clusters):
		cond.Reason = ReasonApplying
		cond.Message = fmt.Sprintf("%d of %d clusters applied", len(byPhase[trafficv1alpha1.ClusterPhaseApplied]), len(clusters))
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonAllApplied
		cond.Message = fmt.Sprintf("applied on %d clusters", len(clusters))
	}
	return cond
}

func vipStatus(fap *trafficv1alpha1.FederatedAccessPoint, vip *trafficv1alpha1.VirtualIP) *trafficv1alpha1.VIPStatus {
	s := &trafficv1alpha1.VIPStatus{Pool: fap.Spec.LoadBalancer.Pool}
	if vip != nil {
		s.Address, s.AnnouncedBy = vip.Spec.Address, vip.Status.AnnouncedBy
		s.HealthyBackends, s.TotalBackends = vip.Status.HealthyBackends, int32(len(vip.Spec.Backends))
		s.Zones = zoneWeights(&vip.Spec)
	}
	return s
}

// zoneWeights is the weight the edge nodes give the backends of each zone, as
// the lb-agents read the VirtualIP: local and remote weights, remote zones
// limited by crossZone.remoteZones, drained backends at 0. Sorted by zone.
func zoneWeights(spec *trafficv1alpha1.VirtualIPSpec) []trafficv1alpha1.ZoneWeight {
	local, remote := int32(trafficv1alpha1.DefaultLocalWeight), int32(trafficv1alpha1.DefaultRemoteWeight)
	var remoteZones, drainedZones []string
	if cz := spec.CrossZone; cz != nil {
		if cz.LocalWeight != nil {
			local = *cz.LocalWeight
		}
		if cz.RemoteWeight != nil {
			remote = *cz.RemoteWeight
		}
		remoteZones, drainedZones = cz.RemoteZones, cz.DrainedZones
	}
	var out []trafficv1alpha1.ZoneWeight
	for _, b := range spec.Backends {
		i := slices.IndexFunc(out, func(z trafficv1alpha1.ZoneWeight) bool { return z.Zone == b.Zone })
		if i < 0 {
			out = append(out, trafficv1alpha1.ZoneWeight{Zone: b.Zone})
			i = len(out) - 1
		}
		out[i].Backends++
		if b.Drained || slices.Contains(drainedZones, b.Zone) {
			out[i].DrainedBackends++
		}
	}
	for i := range out {
		z := &out[i]
		if z.DrainedBackends < z.Backends {
			z.LocalWeight = local
			if len(remoteZones) == 0 || slices.Contains(remoteZones, z.Zone) {
				z.RemoteWeight = remote
			}
		}
	}
	slices.SortFunc(out, func(a, b trafficv1alpha1.ZoneWeight) int { return strings.Compare(a.Zone, b.Zone) })
	return out
}

func vipCondition(vip *trafficv1alpha1.VirtualIP, failure *vipFailure) metav1.Condition {
	if failure != nil {
		return metav1.Condition{Type: trafficv1alpha1.AccessPointVIPAllocated, Status: metav1.ConditionFalse, Reason: failure.Reason, Message: failure.Message}
	}
	return metav1.Condition{Type: trafficv1alpha1.AccessPointVIPAllocated, Status: metav1.ConditionTrue, Reason: ReasonAllocated,
		Message: "allocated " + vip.Spec.Address + " from pool " + vip.Spec.Pool}
}

// loadBalancerCondition is True when an lb node announces the VIP with healthy
// backends. An access point with a VIP is not served without it: when the
// VIP's groups have no LoadBalancerNode at all, it is False (reason
// NoLoadBalancerNodes) and holds Ready back like any other reason.
func (c *Controller) loadBalancerCondition(vip *trafficv1alpha1.VirtualIP) metav1.Condition {
	cond := metav1.Condition{Type: trafficv1alpha1.AccessPointLoadBalancerReady, Status: metav1.ConditionFalse}
	switch {
	case vip == nil:
		cond.Reason, cond.Message = ReasonNotAnnounced, "no VIP allocated"
	case !c.hasNodes(vip.Spec.Groups):
		cond.Reason = ReasonNoLoadBalancerNodes
		cond.Message = fmt.Sprintf("no LoadBalancerNode in groups %v: %s is allocated but no edge node serves it", vip.Spec.Groups, vip.Spec.Address)
	case len(vip.Status.AnnouncedBy) == 0:
		cond.Reason, cond.Message = ReasonNotAnnounced, vip.Spec.Address+" is not announced by any LoadBalancerNode"
	case vip.Status.HealthyBackends == 0:
		cond.Reason, cond.Message = ReasonNoHealthyBackends, vip.Spec.Address+" has no healthy backend"
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonAnnounced
		cond.Message = fmt.Sprintf("%s announced by %s with %d healthy backends", vip.Spec.Address, strings.Join(vip.Status.AnnouncedBy, ", "), vip.Status.HealthyBackends)
	}
	return cond
}

func (c *Controller) hasNodes(groups []string) bool {
	nodes, _ := c.nodes.List(labels.Everything())
	for _, n := range nodes {
		for _, g := range groups {
			if n.Spec.Group == g {
				return true
			}
		}
	}
	return false
}

// readyCondition is True when every condition that applies is True.
func readyCondition(conds []metav1.Condition) metav1.Condition {
	var notReady []string
	for _, cond := range conds {
		if cond.Status != metav1.ConditionTrue {
			notReady = append(notReady, cond.Type+" ("+cond.Reason+")")
		}
	}
	if len(notReady) > 0 {
		return metav1.Condition{Type: trafficv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonNotReady,
			Message: "not ready: " + strings.Join(notReady, ", ")}
	}
	return metav1.Condition{Type: trafficv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonReady,
		Message: "every part of the access point is in place"}
}
