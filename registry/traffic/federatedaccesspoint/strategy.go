// Package federatedaccesspoint describes the storage of FederatedAccessPoints.
package federatedaccesspoint

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes FederatedAccessPoints: namespaced, short name fap. Every Istio
// template, and every cluster's patched copy of them, is validated against Istio's
// schema at write time.
var Kind = &store.Kind[*traffic.FederatedAccessPoint]{
	Resource:        traffic.Resource("federatedaccesspoints"),
	Singular:        traffic.Resource("federatedaccesspoint"),
	GroupVersion:    v1alpha1.SchemeGroupVersion,
	NamespaceScoped: true,
	ShortNames:      []string{"fap"},
	New:             func() *traffic.FederatedAccessPoint { return &traffic.FederatedAccessPoint{} },
	NewList:         func() runtime.Object { return &traffic.FederatedAccessPointList{} },
	Validate: func(ctx context.Context, fap *traffic.FederatedAccessPoint) field.ErrorList {
		return append(validation.ValidateFederatedAccessPoint(fap), ValidateTemplates(ctx, &fap.Spec)...)
	},
	ValidateUpdate: func(ctx context.Context, fap, old *traffic.FederatedAccessPoint) field.ErrorList {
		return append(validation.ValidateFederatedAccessPointUpdate(fap, old), ValidateTemplates(ctx, &fap.Spec)...)
	},
	ValidateStatus: func(_ context.Context, fap, _ *traffic.FederatedAccessPoint) field.ErrorList {
		return validation.ValidateFederatedAccessPointStatus(fap)
	},
	SelectableFields: traffic.FederatedAccessPointFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "Hosts", Type: "string", Description: "Hosts the access point serves."},
		{Name: "VIP", Type: "string", Description: "Allocated virtual IP."},
		{Name: "Clusters", Type: "string", Description: "Clusters applied / placed."},
		{Name: "Ready", Type: "string", Description: "Ready condition."},
		{Name: "Rollout", Type: "string", Description: "Rollout progress: stage, updated / total clusters and phase; the strategy before the first rollout."},
		{Name: "Cert", Type: "string", Priority: 1, Description: "Certificate version."},
		{Name: "DNS", Type: "string", Priority: 1, Description: "Whether DNS is published."},
	},
	Row: row,
}

// WithFinalizer is kind whose new access points carry the finalizer of the
// hub's access point controller (v1alpha1.AccessPointFinalizer), for a hub that
// runs that controller: it would otherwise add the finalizer with an update of
// every new access point. A hub without the controller must not use it: nothing
// would remove the finalizer. The finalizer is added after the field manager
// ran, so no manager owns it: an apply without it does not remove it.
func WithFinalizer(kind *store.Kind[*traffic.FederatedAccessPoint]) *store.Kind[*traffic.FederatedAccessPoint] {
	k := *kind
	k.PrepareCreate = func(fap *traffic.FederatedAccessPoint) {
		if !slices.Contains(fap.Finalizers, v1alpha1.AccessPointFinalizer) {
			fap.Finalizers = append(fap.Finalizers, v1alpha1.AccessPointFinalizer)
		}
	}
	return &k
}

func row(fap *traffic.FederatedAccessPoint) []any {
	st := &fap.Status
	vip, cert, dns := "<pending>", "<none>", "<none>"
	if fap.Spec.LoadBalancer == nil {
		vip = "<none>"
	}
	if st.VIP != nil && st.VIP.Address != "" {
		vip = st.VIP.Address
	}
	if st.Certificate != nil && st.Certificate.Version > 0 {
		cert = fmt.Sprintf("v%d", st.Certificate.Version)
	}
	if st.DNS != nil {
		dns = fmt.Sprintf("%t", st.DNS.Published)
	}
	applied := 0
	for _, c := range st.Clusters {
		if c.Phase == traffic.ClusterPhaseApplied {
			applied++
		}
	}
	return []any{strings.Join(fap.Spec.Hosts, ","), vip, fmt.Sprintf("%d/%d", applied, len(st.Clusters)),
		store.ConditionStatus(st.Conditions, traffic.ConditionReady), rolloutCell(fap), cert, dns}
}

// rolloutCell prints status.rollout as "<stage> <updated>/<total> <phase>" (e.g.
// "canary 1/3 Paused"; no stage when it is empty), or the strategy when no
// rollout is recorded.
func rolloutCell(fap *traffic.FederatedAccessPoint) string {
	ro := fap.Status.Rollout
	if ro == nil {
		if fap.Spec.Rollout != nil && fap.Spec.Rollout.Strategy != "" {
			return fap.Spec.Rollout.Strategy
		}
		return traffic.RolloutAllAtOnce
	}
	cell := fmt.Sprintf("%d/%d %s", ro.UpdatedClusters, ro.TotalClusters, ro.Phase)
	if ro.Stage != "" {
		cell = ro.Stage + " " + cell
	}
	return cell
}
