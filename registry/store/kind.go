// Package store builds the storage of every Portico resource from a small
// per-kind description: strategies with the Kubernetes conventions (create clears
// status, spec changes bump generation, status updates change only the status,
// reset fields for server-side apply), a /status subresource (for kinds with a
// status) and a table convertor.
package store

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Object is an internal Portico object: it has ObjectMeta and Spec, and Status
// unless it is an immutable record (AccessPointRevision).
type Object interface {
	runtime.Object
	metav1.Object
}

// Category groups every Portico kind: `kubectl get portico` lists them all.
const Category = "portico"

// Kind describes one resource. T is the internal type's pointer.
type Kind[T Object] struct {
	// Resource is the plural resource; Singular the singular one.
	Resource, Singular schema.GroupResource
	// GroupVersion is the served version, for the reset-fields paths.
	GroupVersion schema.GroupVersion
	// NamespaceScoped is true for namespaced kinds.
	NamespaceScoped bool
	// ShortNames for kubectl.
	ShortNames []string
	// New and NewList make empty objects.
	New     func() T
	NewList func() runtime.Object

	// Validate checks a new object; ValidateUpdate an update of the main resource;
	// ValidateStatus an update through /status.
	Validate       func(ctx context.Context, obj T) field.ErrorList
	ValidateUpdate func(ctx context.Context, obj, old T) field.ErrorList
	ValidateStatus func(ctx context.Context, obj, old T) field.ErrorList
	// Prepare, when set, derives fields on create and update (after status and spec
	// are reset), e.g. labels from spec.
	Prepare func(obj T)
	// PrepareCreate, when set, derives fields on create alone, after Prepare.
	PrepareCreate func(obj T)

	// Serialized makes the creates and updates of this kind wait for each
	// other, in every hub replica sharing the etcd (an etcd lock held until the
	// write is stored), for checks that look at other objects of the kind
	// (pool overlap).
	Serialized bool

	// SelectableFields returns the fields a field selector may use, besides
	// metadata.name and metadata.namespace: the kind's declaration next to its
	// internal type (e.g. traffic.VirtualIPFields), from which the served
	// version's field label conversion takes its names.
	SelectableFields func(obj T) fields.Set
	// Columns and Row make the table kubectl prints. Name and Age columns are added.
	Columns []metav1.TableColumnDefinition
	Row     func(obj T) []any
}
