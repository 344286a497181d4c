package reconciler

import (
	"context"
	"encoding/json"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
)

// Condition reasons: Applied when every object is applied, Conflict when an
// object of the same name that is not the ClusterAccessPoint's stands in the way
// of one (it is left as it is), ApplyFailed when objects are not applied for
// other reasons only.
const (
	ReasonApplied     = "Applied"
	ReasonApplyFailed = "ApplyFailed"
	ReasonConflict    = "Conflict"
)

// writeStatus writes the ClusterAccessPoint's status when it changed.
func (r *Reconciler) writeStatus(ctx context.Context, cap *trafficv1alpha1.ClusterAccessPoint, objects []trafficv1alpha1.ObjectStatus, applied []apply.Object) error {
	status := cap.Status.DeepCopy()
	status.ObservedGeneration = cap.Generation
	status.ObservedRevision = cap.Spec.Revision
	status.Objects = objects
	endpoints, err := r.gatewayEndpoints(applied)
	if err != nil {
		return err
	}
	status.Gateway.Endpoints = endpoints
	status.GatewayAPI = r.gatewayAPIStatus(applied)
	setConditions(status, objects)
	if apiequality.Semantic.DeepEqual(status, &cap.Status) {
		return nil
	}
	updated := cap.DeepCopy()
	updated.Status = *status
	_, err = r.caps.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	return err
}

// setConditions sets Applied and Degraded from the objects' results. When an
// object is in conflict the reason is Conflict and the message names the first
// object in conflict, otherwise the first object not applied.
func setConditions(status *trafficv1alpha1.ClusterAccessPointStatus, objects []trafficv1alpha1.ObjectStatus) {
	failed, first, reason := 0, "", ReasonApplyFailed
	for _, o := range objects {
		if o.Applied {
			continue
		}
		failed++
		conflict := inConflict(o)
		if first == "" || (conflict && reason != ReasonConflict) {
			first = fmt.Sprintf("%s %s/%s: %s", o.Kind, o.Namespace, o.Name, o.Message)
		}
		if conflict {
			reason = ReasonConflict
		}
	}
	applied := metav1.Condition{Type: trafficv1alpha1.ClusterAccessPointApplied, Status: metav1.ConditionTrue, Reason: ReasonApplied,
		Message: fmt.Sprintf("%d objects applied", len(objects))}
	degraded := metav1.Condition{Type: trafficv1alpha1.ClusterAccessPointDegraded, Status: metav1.ConditionFalse, Reason: ReasonApplied,
		Message: "every object is applied"}
	if failed > 0 {
		msg := fmt.Sprintf("%d of %d objects not applied; first: %s", failed, len(objects), first)
		applied.Status, applied.Reason, applied.Message = metav1.ConditionFalse, reason, msg
		degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionTrue, reason, msg
	}
	for _, c := range []metav1.Condition{applied, degraded} {
		c.ObservedGeneration = status.ObservedGeneration
		meta.SetStatusCondition(&status.Conditions, c)
	}
}

// gatewayEndpoints collects the endpoints serving the access point's
// Gateways: Istio's by their selector, the Gateway API's by the Service
// that serves them (gatewayAPIService).
func (r *Reconciler) gatewayEndpoints(objects []apply.Object) ([]trafficv1alpha1.GatewayEndpoint, error) {
	var out []trafficv1alpha1.GatewayEndpoint
	seen := map[string]bool{}
	for _, o := range objects {
		if o.GVK.Kind != "Gateway" {
			continue
		}
		var eps []trafficv1alpha1.GatewayEndpoint
		var err error
		if o.GVK.Group == gatewayAPIGroup {
			ns, name, ok := gatewayAPIService(o)
			if !ok || r.gatewayAPI.ServiceEndpoints == nil {
				continue
			}
			eps, err = r.gatewayAPI.ServiceEndpoints(ns, name)
		} else {
			var gw struct {
				Spec struct {
					Selector map[string]string `json:"selector"`
				} `json:"spec"`
			}
			if json.Unmarshal(o.Raw, &gw) != nil {
				continue
			}
			eps, err = r.endpoints(gw.Spec.Selector)
		}
		if err != nil {
			return nil, err
		}
		for _, ep := range eps {
			if !seen[ep.Address] {
				seen[ep.Address] = true
				out = append(out, ep)
			}
		}
	}
	return out, nil
}
