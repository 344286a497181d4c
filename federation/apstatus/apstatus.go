// Package apstatus writes one controller's part of a FederatedAccessPoint's
// status. Several hub controllers share that status (OCM's and Kubernetes'
// habit): each one owns some fields and some condition types and writes only
// those, with server-side apply on /status under its own field manager, so
// that no controller keeps another's state in memory and every part survives
// a leader change because it is in the object.
package apstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	applytraffic "github.com/portico-dev/portico/apis/generated/applyconfiguration/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Part is what one controller owns of the status.
type Part struct {
	// Manager is the controller's field manager.
	Manager string
	// ConditionTypes are the condition types it owns; those it does not
	// report are removed.
	ConditionTypes []string
	// Fields copies the fields it owns (not the conditions) from src to dst.
	Fields func(dst, src *trafficv1alpha1.FederatedAccessPointStatus)
}

// Merge returns fap's status with this part replaced by desired's: the owned
// fields copied, the owned conditions set (a condition keeps its transition
// time while its status does not change; a new one gets now) or removed.
func (p Part) Merge(cur *trafficv1alpha1.FederatedAccessPointStatus, desired *trafficv1alpha1.FederatedAccessPointStatus, now time.Time) *trafficv1alpha1.FederatedAccessPointStatus {
	merged := cur.DeepCopy()
	if p.Fields != nil {
		p.Fields(merged, desired)
	}
	for _, t := range p.ConditionTypes {
		c := meta.FindStatusCondition(desired.Conditions, t)
		if c == nil {
			meta.RemoveStatusCondition(&merged.Conditions, t)
			continue
		}
		cond := *c
		if cond.LastTransitionTime.IsZero() {
			cond.LastTransitionTime = metav1.NewTime(now)
		}
		meta.SetStatusCondition(&merged.Conditions, cond)
	}
	return merged
}

// Write applies desired's part of the status when it differs from fap's,
// and returns the access point as written (nil when it did not write).
func (p Part) Write(ctx context.Context, client versioned.Interface, fap *trafficv1alpha1.FederatedAccessPoint,
	desired *trafficv1alpha1.FederatedAccessPointStatus, now time.Time) (*trafficv1alpha1.FederatedAccessPoint, error) {
	merged := p.Merge(&fap.Status, desired, now)
	if apiequality.Semantic.DeepEqual(merged, &fap.Status) {
		return nil, nil
	}
	mine := &trafficv1alpha1.FederatedAccessPointStatus{}
	if p.Fields != nil {
		p.Fields(mine, merged)
	}
	for _, t := range p.ConditionTypes {
		if c := meta.FindStatusCondition(merged.Conditions, t); c != nil {
			mine.Conditions = append(mine.Conditions, *c)
		}
	}
	status, err := applyConfiguration(mine)
	if err != nil {
		return nil, err
	}
	patch, err := json.Marshal(applytraffic.FederatedAccessPoint(fap.Name, fap.Namespace).WithStatus(status))
	if err != nil {
		return nil, err
	}
	// Field validation off: the patch is marshalled from this package's own
	// types, and a strict check parses it (YAML) a second time on every write.
	written, err := client.TrafficV1alpha1().FederatedAccessPoints(fap.Namespace).Patch(ctx, fap.Name, types.ApplyPatchType, patch,
		metav1.PatchOptions{FieldManager: p.Manager, Force: ptr.To(true), FieldValidation: metav1.FieldValidationIgnore}, "status")
	if err != nil {
		return nil, fmt.Errorf("writing the %s part of %s/%s status: %w", p.Manager, fap.Namespace, fap.Name, err)
	}
	return written, nil
}

// applyConfiguration converts a typed status (only what is set) to its apply
// configuration: both have the same JSON form.
func applyConfiguration(s *trafficv1alpha1.FederatedAccessPointStatus) (*applytraffic.FederatedAccessPointStatusApplyConfiguration, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	out := applytraffic.FederatedAccessPointStatus()
	return out, json.Unmarshal(raw, out)
}
