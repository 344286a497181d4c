package accesspoint

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/rollout"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// decideRollout gathers what the rollout decision looks at: the stages of
// the placed clusters that hold no host conflict, whether the target is a
// rollback, and each cluster's health on the target revision.
func (c *Controller) decideRollout(fap *trafficv1alpha1.FederatedAccessPoint, p *plan,
	existing map[string]*trafficv1alpha1.ClusterAccessPoint, vip *trafficv1alpha1.VirtualIP) (*rolloutDecision, error) {
	var clusters []*clusterv1alpha1.MemberCluster
	byName := map[string]*clusterv1alpha1.MemberCluster{}
	for _, mc := range p.placed {
		if _, conflict := p.conflicts[mc.Name]; !conflict {
			clusters = append(clusters, mc)
			byName[mc.Name] = mc
		}
	}
	stages, err := rollout.Stages(fap.Spec.Rollout, clusters)
	if err != nil {
		return nil, err
	}
	return decideRollout(rolloutInput{
		spec: fap.Spec.Rollout, prev: fap.Status.Rollout, target: p.target, atOnce: isRollback(fap, p),
		stages: stages, now: c.now(),
		health: func(cluster string) Health { return c.health(fap, p, byName[cluster], existing[cluster], vip) },
	}), nil
}

// isRollback tells whether the target revision was written back by
// `kubectl portico rollout undo`: the rollback annotation names a revision
// with the target's content.
func isRollback(fap *trafficv1alpha1.FederatedAccessPoint, p *plan) bool {
	n, err := strconv.ParseInt(fap.Annotations[trafficv1alpha1.RollbackAnnotation], 10, 64)
	if err != nil {
		return false
	}
	from, target := p.revs[n], p.revs[p.target]
	return from != nil && target != nil && from.Spec.Hash == target.Spec.Hash
}

// health is how a cluster does on the target revision: the agent applied
// what the target renders for the cluster (Degraded fails), its gateway
// endpoints are ready (none of them ready fails), and the VIP, when lb nodes
// announce it, has every backend healthy (none healthy fails). The lb-agents
// report healthy backends per VIP, not per backend, so a partial VIP failure
// holds the stage rather than halting it.
func (c *Controller) health(fap *trafficv1alpha1.FederatedAccessPoint, p *plan, mc *clusterv1alpha1.MemberCluster,
	cap *trafficv1alpha1.ClusterAccessPoint, vip *trafficv1alpha1.VirtualIP) Health {
	if mc == nil {
		return Health{Message: "not placed"}
	}
	target := p.render(fap, p.target, mc.Name)
	if target.err != nil {
		return Health{Failed: true, Message: target.err.Error()}
	}
	switch {
	case !Available(mc):
		return Health{Message: "the cluster's agent is not available"}
	case cap == nil || cap.Spec.Revision != target.hash ||
		cap.Status.ObservedRevision != cap.Spec.Revision || cap.Status.ObservedGeneration != cap.Generation:
		// A cluster whose ClusterAccessPoint carries what the target renders
		// for it is on the target, whichever revision last changed that. One
		// message whether or not the ClusterAccessPoint carries it yet: the
		// sync that decides this writes it, and the next one, which sees the
		// write, must not rewrite the status only to say so.
		return Health{Message: fmt.Sprintf("revision %d not applied yet", p.target)}
	}
	if d := meta.FindStatusCondition(cap.Status.Conditions, trafficv1alpha1.ClusterAccessPointDegraded); d != nil && d.Status == "True" {
		return Health{Failed: true, Message: "Degraded: " + d.Message}
	}
	if !meta.IsStatusConditionTrue(cap.Status.Conditions, trafficv1alpha1.ClusterAccessPointApplied) {
		return Health{Message: "not reported Applied yet"}
	}
	ready := 0
	for _, ep := range cap.Status.Gateway.Endpoints {
		if ep.Ready {
			ready++
		}
	}
	switch total := len(cap.Status.Gateway.Endpoints); {
	case total == 0:
		return Health{Message: "no gateway endpoint reported"}
	case ready == 0:
		return Health{Failed: true, Message: fmt.Sprintf("none of its %d gateway endpoints is ready", total)}
	case ready < total:
		return Health{Message: fmt.Sprintf("%d of %d gateway endpoints ready", ready, total)}
	}
	if fap.Spec.LoadBalancer != nil && vip != nil && len(vip.Spec.Backends) > 0 &&
		len(vip.Status.AnnouncedBy) > 0 && c.hasNodes(vip.Spec.Groups) {
		switch healthy, total := int(vip.Status.HealthyBackends), len(vip.Spec.Backends); {
		case healthy == 0:
			return Health{Failed: true, Message: fmt.Sprintf("VIP %s has none of its %d backends healthy", vip.Spec.Address, total)}
		case healthy < total:
			return Health{Message: fmt.Sprintf("VIP %s has %d of %d backends healthy", vip.Spec.Address, healthy, total)}
		}
	}
	return Health{Healthy: true}
}
