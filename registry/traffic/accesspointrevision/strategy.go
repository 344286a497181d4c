// Package accesspointrevision describes the storage of AccessPointRevisions.
package accesspointrevision

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes AccessPointRevisions: namespaced, short name apr, written by the
// hub. A revision has no status and its spec never changes; its metadata
// (labels, owner references) may.
var Kind = &store.Kind[*traffic.AccessPointRevision]{
	Resource:        traffic.Resource("accesspointrevisions"),
	Singular:        traffic.Resource("accesspointrevision"),
	GroupVersion:    v1alpha1.SchemeGroupVersion,
	NamespaceScoped: true,
	ShortNames:      []string{"apr"},
	New:             func() *traffic.AccessPointRevision { return &traffic.AccessPointRevision{} },
	NewList:         func() runtime.Object { return &traffic.AccessPointRevisionList{} },
	Validate: func(_ context.Context, r *traffic.AccessPointRevision) field.ErrorList {
		return validation.ValidateAccessPointRevision(r)
	},
	ValidateUpdate: func(_ context.Context, r, old *traffic.AccessPointRevision) field.ErrorList {
		return validation.ValidateAccessPointRevisionUpdate(r, old)
	},
	Columns: []metav1.TableColumnDefinition{
		{Name: "Access Point", Type: "string", Description: "The FederatedAccessPoint the revision belongs to."},
		{Name: "Revision", Type: "integer", Description: "Sequence number of the revision."},
		{Name: "Hash", Type: "string", Description: "Hash of the revision's content."},
	},
	Row: func(r *traffic.AccessPointRevision) []any {
		return []any{r.Spec.AccessPointRef.Name, r.Spec.Revision, r.Spec.Hash}
	},
}
