package federatedaccesspoint

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// ApproveREST is the approve subresource of FederatedAccessPoints: a POST of a
// RolloutApproval approves the stage a staged rollout waits at. Approving is the
// verb create on federatedaccesspoints/approve, apart from editing the access
// point. The approval is recorded in status.rollout.approvals, through the
// /status storage, so neither the spec nor the generation changes; the
// controller reads it and starts the stage.
type ApproveREST struct {
	status *store.StatusREST
}

var _ rest.NamedCreater = &ApproveREST{}

// NewApproveREST returns the approve subresource writing through the access
// points' /status storage.
func NewApproveREST(status *store.StatusREST) *ApproveREST {
	return &ApproveREST{status: status}
}

// New makes an empty RolloutApproval, the body of the POST.
func (r *ApproveREST) New() runtime.Object { return &traffic.RolloutApproval{} }

// Destroy does nothing: the main resource owns the storage.
func (r *ApproveREST) Destroy() {}

// Create approves the stage the access point's rollout waits at and returns the
// updated access point. It fails with NotFound when the access point does not
// exist, Invalid for a malformed approval, and Conflict unless the rollout waits
// for an approval of the stage and revision the approval names (when it names
// them).
func (r *ApproveREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	approval, ok := obj.(*traffic.RolloutApproval)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a RolloutApproval: %T", obj))
	}
	if errs := validation.ValidateRolloutApproval(approval); len(errs) > 0 {
		return nil, apierrors.NewInvalid(traffic.Kind("RolloutApproval"), name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, approval.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	user, ok := genericapirequest.UserFrom(ctx)
	if !ok || user.GetName() == "" {
		return nil, apierrors.NewBadRequest("an approval needs the requesting user")
	}
	record := func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
		fap, ok := old.(*traffic.FederatedAccessPoint)
		if !ok {
			return nil, apierrors.NewInternalError(fmt.Errorf("unexpected object %T", old))
		}
		fap = fap.DeepCopy()
		if err := approve(fap, approval, user.GetName(), metav1.Now()); err != nil {
			return nil, err
		}
		return fap, nil
	}
	// The store calls record again on a fresh copy when the write conflicts.
	out, _, err := r.status.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, record),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{DryRun: options.DryRun})
	return out, err
}

// approve records that user approved, at now, the stage fap's rollout waits at,
// and drops the approvals of other revisions. It returns a Conflict error when
// the rollout waits for no approval, or for one of another stage or revision
// than a names. An approval already recorded is not recorded twice.
func approve(fap *traffic.FederatedAccessPoint, a *traffic.RolloutApproval, user string, now metav1.Time) error {
	ro := fap.Status.Rollout
	key := fap.Namespace + "/" + fap.Name
	if ro == nil {
		return conflict(fap, "%s is not waiting for approval: no rollout is recorded", key)
	}
	if !awaitingApproval(fap) {
		return conflict(fap, "%s is not waiting for approval: rollout of revision %d is %s", key, ro.Revision, phaseOf(fap))
	}
	if (a.Stage != "" && a.Stage != ro.Stage) || (a.Revision != 0 && a.Revision != ro.Revision) {
		return conflict(fap, "%s waits for approval of stage %q of revision %d, not of %s", key, ro.Stage, ro.Revision, requested(a))
	}
	ro.Approvals = slices.DeleteFunc(ro.Approvals, func(r traffic.RolloutApprovalRecord) bool { return r.Revision != ro.Revision })
	if slices.ContainsFunc(ro.Approvals, func(r traffic.RolloutApprovalRecord) bool { return r.Stage == ro.Stage }) {
		return nil
	}
	ro.Approvals = append(ro.Approvals, traffic.RolloutApprovalRecord{Stage: ro.Stage, Revision: ro.Revision, User: user, Time: now})
	return nil
}

// awaitingApproval is the controller's mark of a rollout waiting at a stage with
// pause: phase Paused and RolledOut False for AwaitingApproval.
func awaitingApproval(fap *traffic.FederatedAccessPoint) bool {
	c := meta.FindStatusCondition(fap.Status.Conditions, traffic.AccessPointRolledOut)
	return fap.Status.Rollout.Phase == traffic.RolloutPaused && c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason == traffic.RolledOutReasonAwaitingApproval
}

// phaseOf prints the rollout's phase, with the RolledOut reason when it says
// more (Paused (PausedBySpec)).
func phaseOf(fap *traffic.FederatedAccessPoint) string {
	phase := fap.Status.Rollout.Phase
	if phase == "" {
		phase = "not started"
	}
	if c := meta.FindStatusCondition(fap.Status.Conditions, traffic.AccessPointRolledOut); c != nil && c.Reason != "" && c.Reason != phase {
		phase += " (" + c.Reason + ")"
	}
	return phase
}

// requested prints the stage and revision an approval names.
func requested(a *traffic.RolloutApproval) string {
	var parts []string
	if a.Stage != "" {
		parts = append(parts, fmt.Sprintf("stage %q", a.Stage))
	}
	if a.Revision != 0 {
		parts = append(parts, fmt.Sprintf("revision %d", a.Revision))
	}
	return strings.Join(parts, " of ")
}

func conflict(fap *traffic.FederatedAccessPoint, format string, args ...any) error {
	return apierrors.NewConflict(traffic.Resource("federatedaccesspoints"), fap.Name, fmt.Errorf(format, args...))
}
