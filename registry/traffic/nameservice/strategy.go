// Package nameservice describes the storage of NameServices.
package nameservice

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes NameServices: namespaced, short name nsvc.
var Kind = &store.Kind[*traffic.NameService]{
	Resource:        traffic.Resource("nameservices"),
	Singular:        traffic.Resource("nameservice"),
	GroupVersion:    v1alpha1.SchemeGroupVersion,
	NamespaceScoped: true,
	ShortNames:      []string{"nsvc"},
	New:             func() *traffic.NameService { return &traffic.NameService{} },
	NewList:         func() runtime.Object { return &traffic.NameServiceList{} },
	Validate: func(_ context.Context, ns *traffic.NameService) field.ErrorList {
		return validation.ValidateNameService(ns)
	},
	ValidateUpdate: func(_ context.Context, ns, old *traffic.NameService) field.ErrorList {
		return validation.ValidateNameServiceUpdate(ns, old)
	},
	ValidateStatus: func(_ context.Context, ns, _ *traffic.NameService) field.ErrorList {
		return validation.ValidateNameServiceStatus(ns)
	},
	SelectableFields: traffic.NameServiceFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "FQDN", Type: "string", Description: "Published name."},
		{Name: "Target", Type: "string", Description: "What the name resolves to."},
		{Name: "Published", Type: "string", Description: "Published condition."},
	},
	Row: func(ns *traffic.NameService) []any {
		return []any{ns.Spec.FQDN, target(&ns.Spec.Target), store.ConditionStatus(ns.Status.Conditions, traffic.NameServicePublished)}
	},
}

func target(t *traffic.NameServiceTarget) string {
	switch {
	case t.AccessPointRef != nil:
		return "fap/" + t.AccessPointRef.Name
	case t.CNAME != "":
		return t.CNAME
	default:
		return strings.Join(t.Addresses, ",")
	}
}
