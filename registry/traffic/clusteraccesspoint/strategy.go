// Package clusteraccesspoint describes the storage of ClusterAccessPoints.
package clusteraccesspoint

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes ClusterAccessPoints: namespaced (portico-cluster-<cluster>), short
// name cap.
var Kind = &store.Kind[*traffic.ClusterAccessPoint]{
	Resource:        traffic.Resource("clusteraccesspoints"),
	Singular:        traffic.Resource("clusteraccesspoint"),
	GroupVersion:    v1alpha1.SchemeGroupVersion,
	NamespaceScoped: true,
	ShortNames:      []string{"cap"},
	New:             func() *traffic.ClusterAccessPoint { return &traffic.ClusterAccessPoint{} },
	NewList:         func() runtime.Object { return &traffic.ClusterAccessPointList{} },
	Validate: func(_ context.Context, cap *traffic.ClusterAccessPoint) field.ErrorList {
		return validation.ValidateClusterAccessPoint(cap)
	},
	ValidateUpdate: func(_ context.Context, cap, old *traffic.ClusterAccessPoint) field.ErrorList {
		return validation.ValidateClusterAccessPointUpdate(cap, old)
	},
	ValidateStatus: func(_ context.Context, cap, _ *traffic.ClusterAccessPoint) field.ErrorList {
		return validation.ValidateClusterAccessPointStatus(cap)
	},
	SelectableFields: traffic.ClusterAccessPointFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "Access Point", Type: "string", Description: "The FederatedAccessPoint it was rendered from."},
		{Name: "Revision", Type: "string", Description: "Revision of the manifests."},
		{Name: "Observed", Type: "string", Description: "Revision the agent applied last."},
		{Name: "Applied", Type: "string", Description: "Applied objects / objects."},
		{Name: "Degraded", Type: "string", Priority: 1, Description: "Degraded condition."},
	},
	Row: func(cap *traffic.ClusterAccessPoint) []any {
		applied := 0
		for _, o := range cap.Status.Objects {
			if o.Applied {
				applied++
			}
		}
		ref := ""
		if cap.Spec.AccessPointRef.Name != "" {
			ref = cap.Spec.AccessPointRef.Namespace + "/" + cap.Spec.AccessPointRef.Name
		}
		return []any{ref, cap.Spec.Revision, cap.Status.ObservedRevision,
			fmt.Sprintf("%d/%d", applied, len(cap.Spec.Manifests)),
			store.ConditionStatus(cap.Status.Conditions, traffic.ClusterAccessPointDegraded)}
	},
}
