package store

import (
	"context"
	"reflect"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Strategy is the create, update and delete strategy of a kind's main resource.
type Strategy[T Object] struct {
	runtime.ObjectTyper
	names.NameGenerator
	kind *Kind[T]
	// hasStatus is false for kinds without a Status field (AccessPointRevision):
	// they have neither a status to reset nor a /status subresource.
	hasStatus bool
}

// NewStrategy returns the strategy of a kind.
func NewStrategy[T Object](typer runtime.ObjectTyper, kind *Kind[T]) Strategy[T] {
	return Strategy[T]{typer, names.SimpleNameGenerator, kind, hasStatusField[T]()}
}

// hasStatusField tells whether the kind T (a pointer to a struct) has a Status field.
func hasStatusField[T Object]() bool {
	_, ok := reflect.TypeFor[T]().Elem().FieldByName("Status")
	return ok
}

// NamespaceScoped tells whether the kind is namespaced.
func (s Strategy[T]) NamespaceScoped() bool { return s.kind.NamespaceScoped }

// PrepareForCreate clears the status and starts the generation at 1.
func (s Strategy[T]) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if s.hasStatus {
		setField(obj, "Status", reflect.Zero(fieldOf(obj, "Status").Type()))
	}
	obj.(T).SetGeneration(1)
	if s.kind.Prepare != nil {
		s.kind.Prepare(obj.(T))
	}
	if s.kind.PrepareCreate != nil {
		s.kind.PrepareCreate(obj.(T))
	}
}

// PrepareForUpdate keeps the old status and bumps the generation when spec changed.
func (s Strategy[T]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.hasStatus {
		setField(obj, "Status", fieldOf(old, "Status"))
	}
	if !apiequality.Semantic.DeepEqual(fieldOf(obj, "Spec").Interface(), fieldOf(old, "Spec").Interface()) {
		obj.(T).SetGeneration(old.(T).GetGeneration() + 1)
	}
	if s.kind.Prepare != nil {
		s.kind.Prepare(obj.(T))
	}
}

// Validate checks a new object.
func (s Strategy[T]) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return s.kind.Validate(ctx, obj.(T))
}

// ValidateUpdate checks an update.
func (s Strategy[T]) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.kind.ValidateUpdate(ctx, obj.(T), old.(T))
}

// WarningsOnCreate returns no warnings.
func (Strategy[T]) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string { return nil }

// WarningsOnUpdate returns no warnings.
func (Strategy[T]) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// AllowCreateOnUpdate is false: PUT does not create.
func (Strategy[T]) AllowCreateOnUpdate(context.Context) bool { return false }

// AllowUnconditionalUpdate is true, as for built-in kinds.
func (Strategy[T]) AllowUnconditionalUpdate(context.Context) bool { return true }

// Canonicalize does nothing.
func (Strategy[T]) Canonicalize(obj runtime.Object) {}

// GetResetFields tells server-side apply that status is not set through the main
// resource (a kind without status resets nothing).
func (s Strategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	set := fieldpath.NewSet()
	if s.hasStatus {
		set.Insert(fieldpath.MakePathOrDie("status"))
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{fieldpath.APIVersion(s.kind.GroupVersion.String()): set}
}

// StatusStrategy is the update strategy of /status: only the status changes,
// as for custom resources with a status subresource.
type StatusStrategy[T Object] struct {
	Strategy[T]
}

// PrepareForUpdate makes the new object the old one with only the new status
// (and the managed fields server-side apply computed for this write): spec and
// every other part of metadata — labels, annotations, finalizers, owner
// references — stay as they were.
func (StatusStrategy[T]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	status := reflect.New(fieldOf(obj, "Status").Type()).Elem()
	status.Set(fieldOf(obj, "Status"))
	managedFields := obj.(T).GetManagedFields()
	// The old resourceVersion is safe to take: the store has checked that the
	// new object's matches it, or that the write is unconditional.
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(old.DeepCopyObject()).Elem())
	setField(obj, "Status", status)
	obj.(T).SetManagedFields(managedFields)
}

// ValidateUpdate checks metadata and the status.
func (s StatusStrategy[T]) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	newObj, oldObj := obj.(T), old.(T)
	allErrs := apimachineryvalidation.ValidateObjectMetaAccessorUpdate(newObj, oldObj, field.NewPath("metadata"))
	if s.kind.ValidateStatus != nil {
		allErrs = append(allErrs, s.kind.ValidateStatus(ctx, newObj, oldObj)...)
	}
	return allErrs
}

// GetResetFields tells server-side apply that neither metadata nor spec is set
// through /status (apiextensions' status strategy resets the same).
func (s StatusStrategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.kind.GroupVersion.String()): fieldpath.NewSet(
			fieldpath.MakePathOrDie("metadata"),
			fieldpath.MakePathOrDie("spec"),
		),
	}
}

func fieldOf(obj runtime.Object, name string) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByName(name)
}

func setField(obj runtime.Object, name string, v reflect.Value) {
	fieldOf(obj, name).Set(v)
}
