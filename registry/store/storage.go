package store

import (
	"context"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/portico-dev/portico/apis/fieldselector"
)

// REST is the storage of a kind's main resource.
type REST struct {
	*genericregistry.Store
	shortNames []string
	// lock, for a Serialized kind, is held through each create and update.
	lock *writeLock
}

var (
	_ rest.ShortNamesProvider  = &REST{}
	_ rest.CategoriesProvider  = &REST{}
	_ rest.StandardStorage     = &REST{}
	_ rest.Patcher             = &StatusREST{}
	_ rest.ResetFieldsStrategy = &StatusREST{}
)

// ShortNames returns the kind's short names for kubectl.
func (r *REST) ShortNames() []string { return r.shortNames }

// Categories puts every kind in the portico category.
func (r *REST) Categories() []string { return []string{Category} }

// StatusREST is the storage of a kind's /status subresource.
type StatusREST struct {
	store *genericregistry.Store
}

// New makes an empty object.
func (r *StatusREST) New() runtime.Object { return r.store.New() }

// Destroy does nothing: the main resource owns the storage.
func (r *StatusREST) Destroy() {}

// Get returns the object.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update changes only the status.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// Subresources never create.
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields returns the fields /status does not set.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// ConvertToTable prints the object as the main resource does.
func (r *StatusREST) ConvertToTable(ctx context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, opts)
}

// New builds the storage of a kind: the main resource and its /status, which is
// nil for a kind without status.
func New[T Object](scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, kind *Kind[T]) (*REST, *StatusREST, error) {
	strategy := NewStrategy(scheme, kind)
	s := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return kind.New() },
		NewListFunc:               kind.NewList,
		PredicateFunc:             predicate(kind),
		DefaultQualifiedResource:  kind.Resource,
		SingularQualifiedResource: kind.Singular,
		CreateStrategy:            strategy,
		UpdateStrategy:            strategy,
		DeleteStrategy:            strategy,
		ResetFieldsStrategy:       strategy,
		TableConvertor:            newTableConvertor(kind),
	}
	options := &generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: attrs(kind)}
	if err := s.CompleteWithOptions(options); err != nil {
		return nil, nil, err
	}
	main := &REST{Store: s, shortNames: kind.ShortNames}
	if kind.Serialized {
		opts, err := optsGetter.GetRESTOptions(kind.Resource, kind.New())
		if err != nil {
			return nil, nil, err
		}
		key := path.Join("/", opts.StorageConfig.Prefix, "locks", kind.Resource.Group, kind.Resource.Resource)
		if main.lock, err = newWriteLock(opts.StorageConfig.Transport, key); err != nil {
			return nil, nil, err
		}
	}
	if !strategy.hasStatus {
		return main, nil, nil
	}
	statusStore := *s
	statusStrategy := StatusStrategy[T]{strategy}
	statusStore.UpdateStrategy = statusStrategy
	statusStore.ResetFieldsStrategy = statusStrategy
	return main, &StatusREST{store: &statusStore}, nil
}

// Create stores a new object; for a Serialized kind under the kind's write lock,
// from before validation until the object is stored.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	if r.lock == nil {
		return r.Store.Create(ctx, obj, createValidation, options)
	}
	unlock, err := r.lock.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.Store.Create(ctx, obj, createValidation, options)
}

// Update changes an object (or creates it, for server-side apply); for a
// Serialized kind under the kind's write lock, until the object is stored.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	if r.lock == nil {
		return r.Store.Update(ctx, name, objInfo, createValidation, updateValidation, forceAllowCreate, options)
	}
	unlock, err := r.lock.Lock(ctx)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	return r.Store.Update(ctx, name, objInfo, createValidation, updateValidation, forceAllowCreate, options)
}

// Destroy releases the write lock's etcd session, then the storage.
func (r *REST) Destroy() {
	if r.lock != nil {
		r.lock.Close()
	}
	r.Store.Destroy()
}

func attrs[T Object](kind *Kind[T]) storage.AttrFunc {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		o := obj.(T)
		set := fields.Set{fieldselector.MetadataName: o.GetName()}
		if kind.NamespaceScoped {
			set[fieldselector.MetadataNamespace] = o.GetNamespace()
		}
		if kind.SelectableFields != nil {
			set = generic.MergeFieldsSets(set, kind.SelectableFields(o))
		}
		return o.GetLabels(), set, nil
	}
}

func predicate[T Object](kind *Kind[T]) func(labels.Selector, fields.Selector) storage.SelectionPredicate {
	return func(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
		return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: attrs(kind)}
	}
}
