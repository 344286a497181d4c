// Package hostgrant describes the storage of HostGrants and checks, for the
// access point and NameService storages, that a namespace holds a grant for
// every host it claims.
package hostgrant

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes HostGrants: cluster-scoped, short name hg, no status.
var Kind = &store.Kind[*traffic.HostGrant]{
	Resource:     traffic.Resource("hostgrants"),
	Singular:     traffic.Resource("hostgrant"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:   []string{"hg"},
	New:          func() *traffic.HostGrant { return &traffic.HostGrant{} },
	NewList:      func() runtime.Object { return &traffic.HostGrantList{} },
	Validate: func(_ context.Context, g *traffic.HostGrant) field.ErrorList {
		return validation.ValidateHostGrant(g)
	},
	ValidateUpdate: func(_ context.Context, g, old *traffic.HostGrant) field.ErrorList {
		return validation.ValidateHostGrantUpdate(g, old)
	},
	Columns: []metav1.TableColumnDefinition{
		{Name: "Hosts", Type: "string", Description: "Hosts granted."},
		{Name: "Namespaces", Type: "string", Description: "Namespaces granted them (by name, and by selector)."},
	},
	Row: func(g *traffic.HostGrant) []any {
		namespaces := strings.Join(g.Spec.Namespaces, ",")
		if g.Spec.NamespaceSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(g.Spec.NamespaceSelector)
			if err == nil {
				namespaces = strings.Trim(namespaces+","+fmt.Sprintf("selector(%s)", sel), ",")
			}
		}
		return []any{strings.Join(g.Spec.Hosts, ","), namespaces}
	},
}
