// Package vippool describes the storage of VIPPools. Pools may not overlap: a write
// is checked against every other pool, and writes of pools are serialized.
package vippool

import (
	"context"
	"fmt"
	"strings"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Lister lists every pool.
type Lister func(ctx context.Context) ([]traffic.VIPPool, error)

// NewKind describes VIPPools; list gives the other pools for the overlap check.
func NewKind(list Lister) *store.Kind[*traffic.VIPPool] {
	return &store.Kind[*traffic.VIPPool]{
		Resource:     traffic.Resource("vippools"),
		Singular:     traffic.Resource("vippool"),
		GroupVersion: v1alpha1.SchemeGroupVersion,
		New:          func() *traffic.VIPPool { return &traffic.VIPPool{} },
		NewList:      func() runtime.Object { return &traffic.VIPPoolList{} },
		Serialized:   true,
		Validate: func(ctx context.Context, pool *traffic.VIPPool) field.ErrorList {
			return append(validation.ValidateVIPPool(pool), validateOverlap(ctx, pool, list)...)
		},
		ValidateUpdate: func(ctx context.Context, pool, old *traffic.VIPPool) field.ErrorList {
			return append(validation.ValidateVIPPoolUpdate(pool, old), validateOverlap(ctx, pool, list)...)
		},
		ValidateStatus: func(_ context.Context, pool, _ *traffic.VIPPool) field.ErrorList {
			return validation.ValidateVIPPoolStatus(pool)
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "CIDRs", Type: "string", Description: "Address ranges of the pool."},
			{Name: "Allocated", Type: "integer", Description: "Allocated addresses."},
			{Name: "Available", Type: "integer", Description: "Available addresses."},
			{Name: "Zones", Type: "string", Priority: 1, Description: "Zones announcing the pool."},
		},
		Row: func(pool *traffic.VIPPool) []any {
			return []any{strings.Join(pool.Spec.CIDRs, ","), pool.Status.Allocated, pool.Status.Available, strings.Join(pool.Spec.Zones, ",")}
		},
	}
}

// NewREST builds the storage of VIPPools.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*store.REST, *store.StatusREST, error) {
	var rest *store.REST
	list := func(ctx context.Context) ([]traffic.VIPPool, error) {
		obj, err := rest.List(ctx, &metainternalversion.ListOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*traffic.VIPPoolList).Items, nil
	}
	var status *store.StatusREST
	var err error
	rest, status, err = store.New(scheme, optsGetter, NewKind(list))
	return rest, status, err
}

func validateOverlap(ctx context.Context, pool *traffic.VIPPool, list Lister) field.ErrorList {
	others, err := list(ctx)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec", "cidrs"), fmt.Errorf("listing pools: %w", err))}
	}
	var allErrs field.ErrorList
	ranges := validation.PoolRanges(pool)
	for _, other := range others {
		if other.Name == pool.Name {
			continue
		}
		for _, o := range validation.PoolRanges(&other) {
			for i, r := range ranges {
				if r.Overlaps(o) {
					allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "cidrs").Index(i), pool.Spec.CIDRs[i],
						fmt.Sprintf("overlaps %s of VIPPool %q", o, other.Name)))
				}
			}
		}
	}
	return allErrs
}
