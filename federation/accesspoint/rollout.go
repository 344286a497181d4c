package accesspoint

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/traffic/rollout"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Reasons of the RolledOut condition and of rollout Events.
const (
	ReasonRolloutProgressing = "Progressing"
	ReasonRolloutComplete    = "Complete"
	ReasonStageStarted       = "StageStarted"
	// EventRolloutHalted is the Warning Event of a halt.
	EventRolloutHalted = "RolloutHalted"
)

// Health is how a cluster of the current stage does on the target revision.
type Health struct {
	// Healthy: applied, gateway endpoints ready, VIP backends healthy.
	Healthy bool
	// Failed halts the rollout.
	Failed bool
	// Message says what is missing or what failed.
	Message string
}

// rolloutInput is what a rollout decision looks at.
type rolloutInput struct {
	spec   *trafficv1alpha1.RolloutSpec
	prev   *trafficv1alpha1.RolloutStatus
	target int64
	// atOnce: the first revision, or a rollback.
	atOnce bool
	stages []rollout.Stage
	// health of a cluster on the target revision.
	health func(cluster string) Health
	now    time.Time
}

// rolloutDecision is where the rollout goes and what each cluster is sent.
type rolloutDecision struct {
	status trafficv1alpha1.RolloutStatus
	// assign is the revision each placed cluster is sent.
	assign map[string]int64
	// frozen: spec.rollout.paused, nothing is written to any cluster.
	frozen    bool
	condition metav1.Condition
	// events to record once the status is written: reason → message
	// (EventRolloutHalted is a Warning).
	events  [][2]string
	requeue time.Duration
}

// decideRollout moves the rollout of the target revision as far as the
// clusters' health allows. Everything it needs to continue is in the status
// it returns (stage, approvals, when the stage became healthy), so another
// hub replica continues where this one stopped.
func decideRollout(in rolloutInput) *rolloutDecision {
	d := &rolloutDecision{assign: map[string]int64{}}
	st := &d.status
	if in.prev != nil {
		st = in.prev.DeepCopy()
		st.Approvals = nil // the approve subresource owns them
		d.status = *st
		st = &d.status
	}
	if st.Revision != in.target {
		stable := st.StableRevision
		if st.Phase == trafficv1alpha1.RolloutComplete {
			stable = st.Revision
		}
		*st = trafficv1alpha1.RolloutStatus{Revision: in.target, StableRevision: stable, Phase: trafficv1alpha1.RolloutProgressing}
	}
	stages := in.stages
	// The first revision and a rollback go everywhere at once: there is
	// nothing to halt, a failed cluster is waited for.
	atOnce := in.atOnce || st.StableRevision == 0
	if atOnce {
		var all []string
		for _, s := range stages {
			all = append(all, s.Clusters...)
		}
		stages = []rollout.Stage{{Clusters: all}}
	}
	if int(st.StageIndex) >= len(stages) {
		st.StageIndex = int32(len(stages) - 1)
	}
	approved := func(stage string) bool {
		return in.prev != nil && slices.ContainsFunc(in.prev.Approvals, func(a trafficv1alpha1.RolloutApprovalRecord) bool {
			return a.Revision == in.target && a.Stage == stage
		})
	}
	total := 0
	for _, s := range stages {
		total += len(s.Clusters)
	}
	st.TotalClusters = int32(total)
	defer func() { d.finish(stages, in) }()

	if in.spec != nil && in.spec.Paused {
		// A halted or complete rollout stays so; one in progress stops where it is.
		d.frozen = true
		if st.Phase != trafficv1alpha1.RolloutHalted && st.Phase != trafficv1alpha1.RolloutComplete {
			d.pause(trafficv1alpha1.RolledOutReasonPausedBySpec, "paused by spec.rollout.paused: nothing is written to any cluster until it is false")
		}
		return d
	}
	for st.Phase != trafficv1alpha1.RolloutHalted && st.Phase != trafficv1alpha1.RolloutComplete {
		stage := stages[st.StageIndex]
		st.Stage = stage.Name
		if stage.Pause && !approved(stage.Name) {
			d.pause(trafficv1alpha1.RolledOutReasonAwaitingApproval,
				fmt.Sprintf("stage %s waits for approval (kubectl portico rollout approve)", stage.Name))
			return d
		}
		if st.Phase == trafficv1alpha1.RolloutPaused {
			st.Phase = trafficv1alpha1.RolloutProgressing
			if stage.Pause {
				d.events = append(d.events, [2]string{ReasonStageStarted, fmt.Sprintf("stage %s of revision %d started on %s (approved)",
					stage.Name, in.target, strings.Join(stage.Clusters, ", "))})
			}
		}
		healthy, waiting, failed := 0, []string{}, ""
		for _, cl := range stage.Clusters {
			h := in.health(cl)
			switch {
			case h.Failed && failed == "" && !atOnce:
				failed = cl + ": " + h.Message
			case h.Healthy:
				healthy++
			case !h.Failed || atOnce:
				waiting = append(waiting, cl+": "+h.Message)
			}
		}
		if failed != "" {
			d.halt(failed, in)
			return d
		}
		if len(waiting) > 0 {
			st.StageHealthySince = nil
			st.Message = fmt.Sprintf("%s%d of %d clusters healthy on revision %d; waiting for %s",
				stagePrefix(stage), healthy, len(stage.Clusters), in.target, strings.Join(waiting, "; "))
			return d
		}
		if st.StageHealthySince == nil {
			now := metav1.NewTime(in.now)
			st.StageHealthySince = &now
		}
		if left := stage.Soak - in.now.Sub(st.StageHealthySince.Time); left > 0 {
			st.Message = fmt.Sprintf("%s%d clusters healthy on revision %d; soaking %s more", stagePrefix(stage), healthy, in.target, left.Round(time.Second))
			d.requeue = left
			return d
		}
		st.StageHealthySince = nil
		if int(st.StageIndex) == len(stages)-1 {
			st.Phase, st.StableRevision = trafficv1alpha1.RolloutComplete, in.target
			st.Message = fmt.Sprintf("revision %d runs on all %d clusters", in.target, total)
			d.events = append(d.events, [2]string{ReasonRolloutComplete, st.Message})
			return d
		}
		st.StageIndex++
		if next := stages[st.StageIndex]; !next.Pause {
			d.events = append(d.events, [2]string{ReasonStageStarted, fmt.Sprintf("stage %s of revision %d started on %s",
				next.Name, in.target, strings.Join(next.Clusters, ", "))})
		}
	}
	return d
}

func stagePrefix(s rollout.Stage) string {
	if s.Name == "" {
		return ""
	}
	return "stage " + s.Name + ": "
}

func (d *rolloutDecision) pause(reason, message string) {
	d.status.Phase, d.status.Message, d.status.StageHealthySince = trafficv1alpha1.RolloutPaused, message, nil
	d.condition = metav1.Condition{Type: trafficv1alpha1.AccessPointRolledOut, Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

func (d *rolloutDecision) halt(failure string, in rolloutInput) {
	st := &d.status
	st.Phase, st.StageHealthySince = trafficv1alpha1.RolloutHalted, nil
	st.Message = fmt.Sprintf("halted at stage %q: %s", st.Stage, failure)
	if in.spec != nil && in.spec.AutoRollback && st.StableRevision > 0 {
		st.Message += fmt.Sprintf("; clusters returned to revision %d (autoRollback)", st.StableRevision)
	}
	d.events = append(d.events, [2]string{EventRolloutHalted, fmt.Sprintf("revision %d %s", in.target, st.Message)})
}

// finish assigns every cluster its revision and sets the condition and counts.
func (d *rolloutDecision) finish(stages []rollout.Stage, in rolloutInput) {
	st := &d.status
	rollback := st.Phase == trafficv1alpha1.RolloutHalted && in.spec != nil && in.spec.AutoRollback && st.StableRevision > 0
	reached := int(st.StageIndex)
	if st.Phase == trafficv1alpha1.RolloutPaused && d.condition.Reason == trafficv1alpha1.RolledOutReasonAwaitingApproval {
		reached-- // the waiting stage has not started
	}
	st.UpdatedClusters = 0
	for i, s := range stages {
		for _, cl := range s.Clusters {
			rev := in.target
			if st.StableRevision > 0 && (rollback || (st.Phase != trafficv1alpha1.RolloutComplete && i > reached)) {
				rev = st.StableRevision
			}
			d.assign[cl] = rev
			if rev == in.target && in.health(cl).Healthy {
				st.UpdatedClusters++
			}
		}
	}
	switch {
	case d.condition.Type != "":
	case st.Phase == trafficv1alpha1.RolloutComplete:
		d.condition = metav1.Condition{Type: trafficv1alpha1.AccessPointRolledOut, Status: metav1.ConditionTrue, Reason: ReasonRolloutComplete, Message: st.Message}
	case st.Phase == trafficv1alpha1.RolloutHalted:
		d.condition = metav1.Condition{Type: trafficv1alpha1.AccessPointRolledOut, Status: metav1.ConditionFalse, Reason: trafficv1alpha1.RolledOutReasonHalted, Message: st.Message}
	default:
		d.condition = metav1.Condition{Type: trafficv1alpha1.AccessPointRolledOut, Status: metav1.ConditionFalse, Reason: ReasonRolloutProgressing, Message: st.Message}
	}
}
