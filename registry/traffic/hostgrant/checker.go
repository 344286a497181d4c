package hostgrant

import (
	"context"
	"fmt"
	"slices"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/portico-dev/portico/apis/traffic"
)

// Modes of --host-grants.
const (
	Enforce = "enforce"
	Off     = "off"
)

// Checker tells whether a namespace holds a grant for a host.
type Checker struct {
	grants     rest.Lister
	namespaces corelisters.NamespaceLister
}

// NewChecker checks against the HostGrants of grants (the HostGrant
// storage, read from its watch cache) and the labels of the hub cluster's
// namespaces (for namespaceSelector; nil when portico-hub cannot read them).
func NewChecker(grants rest.Lister, namespaces corelisters.NamespaceLister) *Checker {
	return &Checker{grants: grants, namespaces: namespaces}
}

// Check returns a Forbidden error, at the path at(i), for every hosts[i]
// that is not in old and that no grant covers for the namespace. Hosts
// already held (old) are not checked again: revoking a grant does not freeze
// the objects that serve it.
func (c *Checker) Check(ctx context.Context, namespace string, hosts, old []string, at func(i int) *field.Path) field.ErrorList {
	var check []int
	for i, h := range hosts {
		if !slices.Contains(old, h) {
			check = append(check, i)
		}
	}
	if len(check) == 0 {
		return nil
	}
	list, err := c.grants.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceNone),
		&metainternalversion.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return field.ErrorList{field.InternalError(at(check[0]), fmt.Errorf("reading HostGrants: %w", err))}
	}
	var granted []string
	for _, g := range list.(*traffic.HostGrantList).Items {
		if c.grantsNamespace(&g, namespace) {
			granted = append(granted, g.Spec.Hosts...)
		}
	}
	var allErrs field.ErrorList
	for _, i := range check {
		if h := hosts[i]; !traffic.HostWithin(h, granted) {
			allErrs = append(allErrs, field.Forbidden(at(i), fmt.Sprintf(
				"no HostGrant gives host %q to namespace %q: a cluster admin grants it with a HostGrant "+
					"(spec.hosts: [%q], spec.namespaces: [%q]); kubectl get hostgrants lists the grants",
				h, namespace, h, namespace)))
		}
	}
	return allErrs
}

func (c *Checker) grantsNamespace(g *traffic.HostGrant, namespace string) bool {
	for _, ns := range g.Spec.Namespaces {
		if ns == namespace {
			return true
		}
	}
	if g.Spec.NamespaceSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(g.Spec.NamespaceSelector)
	if err != nil {
		return false
	}
	if sel.Empty() {
		return true // every namespace, including one the cache has not seen yet
	}
	if c.namespaces == nil {
		return false
	}
	ns, err := c.namespaces.Get(namespace)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(ns.Labels))
}
