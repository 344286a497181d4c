package plugin

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/rollout"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Reasons of the stage rows of describe.
const (
	reasonStageDone    = "Done"
	reasonStagePending = "Pending"
	reasonApproved     = "Approved"
)

// stageNamesShown is how many clusters a stage row lists before "+N more".
const stageNamesShown = 8

// rolloutNode is the Rollout row: the RolledOut condition, the revision and
// the stable one, where the rollout stands; below it a row per stage of a
// Staged rollout (its clusters, pause and soak, and its approval). Nil when
// the access point has neither spec.rollout nor status.rollout.
func rolloutNode(o *accessPointObjects) *Node {
	fap := o.AccessPoint
	spec, ro := fap.Spec.Rollout, fap.Status.Rollout
	if spec == nil && ro == nil {
		return nil
	}
	strategy := trafficv1alpha1.RolloutAllAtOnce
	if spec != nil && spec.Strategy != "" {
		strategy = spec.Strategy
	}
	n := &Node{Kind: "Rollout", Label: "Rollout " + strategy}
	if ro == nil {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointRolledOut, reasonPending, "portico-hub has not recorded a rollout yet")
	} else {
		n.Label += " " + revisionText(ro)
		setRolloutState(n, fap)
	}
	if spec != nil && spec.Paused {
		n.Message = joinMessages(n.Message, "spec.rollout.paused: nothing new is written to any cluster")
	}
	if spec != nil && strategy == trafficv1alpha1.RolloutStaged {
		n.Children = stageNodes(o)
	}
	if ro != nil {
		// Approvals of stages the spec no longer has.
		for _, a := range ro.Approvals {
			if spec == nil || !slices.ContainsFunc(spec.Stages, func(s trafficv1alpha1.RolloutStage) bool { return s.Name == a.Stage }) {
				n.Children = append(n.Children, approvalNode(a))
			}
		}
	}
	return n
}

// setRolloutState sets the Rollout row from the RolledOut condition (from
// the phase while there is none) and says where the rollout stands.
func setRolloutState(n *Node, fap *trafficv1alpha1.FederatedAccessPoint) {
	ro := fap.Status.Rollout
	if c := meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointRolledOut); c != nil {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointRolledOut, "", "")
	} else {
		n.Status, n.Reason = phaseStatus(ro.Phase), orDefault(ro.Phase, reasonPending)
	}
	where := fmt.Sprintf("%s, %d/%d clusters updated", stageText(fap), ro.UpdatedClusters, ro.TotalClusters)
	n.Message = joinMessages(where, oneLine(ro.Message))
	if stale(fap) {
		n.Message = joinMessages(n.Message, fmt.Sprintf("status of generation %d, the spec is at %d", fap.Status.ObservedGeneration, fap.Generation))
	}
}

// phaseStatus is the READY of a phase: Complete True, Halted False, others
// Unknown.
func phaseStatus(phase string) metav1.ConditionStatus {
	switch phase {
	case trafficv1alpha1.RolloutComplete:
		return metav1.ConditionTrue
	case trafficv1alpha1.RolloutHalted:
		return metav1.ConditionFalse
	}
	return metav1.ConditionUnknown
}

// stageNodes are the stages of a Staged rollout with the clusters each takes
// (as portico-hub splits the placed clusters), its pause and soak, its state
// in the current rollout and its approval.
func stageNodes(o *accessPointObjects) []*Node {
	fap := o.AccessPoint
	spec := fap.Spec.Rollout
	clusters, clustersErr := stageClusters(o)
	var out []*Node
	for i := range spec.Stages {
		s := &spec.Stages[i]
		n := &Node{Kind: "Stage", Name: s.Name, Label: fmt.Sprintf("Stage %s (%d/%d)", s.Name, i+1, len(spec.Stages)), Role: RoleObject}
		n.Status, n.Reason = stageState(fap, i)
		var parts []string
		switch {
		case clustersErr != "":
			parts = append(parts, selectionText(s)+" ("+clustersErr+")")
		case len(clusters[i]) == 0:
			parts = append(parts, "no clusters")
		default:
			parts = append(parts, listNames(clusters[i], stageNamesShown))
		}
		if s.Pause {
			parts = append(parts, "waits for approval")
		}
		if s.SoakSeconds > 0 {
			parts = append(parts, fmt.Sprintf("soak %ds", s.SoakSeconds))
		}
		n.Message = strings.Join(parts, "; ")
		if ro := fap.Status.Rollout; ro != nil {
			for _, a := range ro.Approvals {
				if a.Stage == s.Name {
					n.Children = append(n.Children, approvalNode(a))
				}
			}
		}
		out = append(out, n)
	}
	return out
}

// stageClusters splits the placed clusters into the stages the way
// portico-hub does; the string says why it cannot (the MemberClusters a
// clusterSelector needs are unreadable).
func stageClusters(o *accessPointObjects) ([][]string, string) {
	fap := o.AccessPoint
	spec := fap.Spec.Rollout
	if o.MemberClustersErr != nil && slices.ContainsFunc(spec.Stages, func(s trafficv1alpha1.RolloutStage) bool { return s.ClusterSelector != nil }) {
		return nil, "MemberClusters unreadable"
	}
	placed := make([]*clusterv1alpha1.MemberCluster, 0, len(fap.Status.Clusters))
	for _, s := range fap.Status.Clusters {
		mc := o.MemberClusters[s.Name]
		if mc == nil {
			mc = &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: s.Name}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: s.Zone}}
		}
		placed = append(placed, mc)
	}
	stages, err := rollout.Stages(spec, placed)
	if err != nil {
		return nil, err.Error()
	}
	out := make([][]string, len(spec.Stages))
	for i := range stages {
		if i < len(out) {
			out[i] = stages[i].Clusters
		}
	}
	return out, ""
}

// selectionText is how a stage selects its clusters.
func selectionText(s *trafficv1alpha1.RolloutStage) string {
	var parts []string
	if s.Clusters != nil {
		names := make([]string, 0, len(s.Clusters))
		for _, c := range s.Clusters {
			names = append(names, c.Name)
		}
		parts = append(parts, "clusters "+strings.Join(names, ", "))
	}
	if s.ClusterSelector != nil {
		parts = append(parts, "clusterSelector "+metav1.FormatLabelSelector(s.ClusterSelector))
	}
	if len(s.Zones) > 0 {
		parts = append(parts, "zones "+strings.Join(s.Zones, ", "))
	}
	if s.Count != nil {
		parts = append(parts, fmt.Sprintf("count %d", *s.Count))
	}
	if len(parts) == 0 {
		return "every remaining cluster"
	}
	return strings.Join(parts, ", ")
}

// stageState is the READY and REASON of stage i in the current rollout:
// True Done for the stages passed, the phase for the current one (False
// when Halted), nothing (Pending) for those to come. A revision sent to
// every cluster at once has no current stage.
func stageState(fap *trafficv1alpha1.FederatedAccessPoint, i int) (metav1.ConditionStatus, string) {
	ro := fap.Status.Rollout
	switch {
	case ro == nil:
		return "", reasonStagePending
	case ro.Phase == trafficv1alpha1.RolloutComplete || i < int(ro.StageIndex) && ro.Stage != "":
		return metav1.ConditionTrue, reasonStageDone
	case ro.Stage == "" || i > int(ro.StageIndex):
		return "", reasonStagePending
	case ro.Phase == trafficv1alpha1.RolloutPaused:
		if c := meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointRolledOut); c != nil && c.Reason != "" {
			return metav1.ConditionUnknown, c.Reason
		}
	}
	return phaseStatus(ro.Phase), orDefault(ro.Phase, reasonStagePending)
}

// approvalNode is who approved a stage, and when.
func approvalNode(a trafficv1alpha1.RolloutApprovalRecord) *Node {
	at := a.Time
	return &Node{Kind: "Approval", Name: a.Stage, Label: "Approval", Role: RoleObject, Status: metav1.ConditionTrue,
		Reason: reasonApproved, Since: &at, Message: fmt.Sprintf("stage %s of revision %d approved by %s", a.Stage, a.Revision, a.User)}
}
