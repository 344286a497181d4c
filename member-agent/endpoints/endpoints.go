// Package endpoints finds the gateway endpoints that serve an access point in a
// member cluster.
//
// The rule: a Service serves a Gateway when every label of the Gateway's
// spec.selector appears, with the same value, in the Service's spec.selector (the
// Service then selects a subset of the pods the Gateway configures, e.g. the
// istio-ingressgateway Service, selector {app: istio-ingressgateway, istio:
// ingressgateway}, serves a Gateway with selector {istio: ingressgateway}). The
// endpoints are the addresses of those Services' EndpointSlices, ready when the
// slice's ready condition is unset or true. A Gateway API Gateway names the
// Service that serves it instead (ForService).
package endpoints

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Resolver reads Services and EndpointSlices from informer caches.
type Resolver struct {
	Services corelisters.ServiceLister
	Slices   discoverylisters.EndpointSliceLister
}

// For returns the endpoints serving a Gateway selector, sorted by address.
func (r *Resolver) For(gatewaySelector map[string]string) ([]trafficv1alpha1.GatewayEndpoint, error) {
	if len(gatewaySelector) == 0 {
		return nil, nil
	}
	services, err := r.Services.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []trafficv1alpha1.GatewayEndpoint
	for _, svc := range services {
		if !Serves(svc.Spec.Selector, gatewaySelector) {
			continue
		}
		if out, err = r.add(out, seen, svc.Namespace, svc.Name); err != nil {
			return nil, err
		}
	}
	sortEndpoints(out)
	return out, nil
}

// ForService returns the endpoints of the Service namespace/name, sorted by
// address: those of a Gateway API Gateway, which names its Service.
func (r *Resolver) ForService(namespace, name string) ([]trafficv1alpha1.GatewayEndpoint, error) {
	out, err := r.add(nil, map[string]bool{}, namespace, name)
	sortEndpoints(out)
	return out, err
}

// add appends the addresses of a Service's EndpointSlices not seen yet.
func (r *Resolver) add(out []trafficv1alpha1.GatewayEndpoint, seen map[string]bool, namespace, service string) ([]trafficv1alpha1.GatewayEndpoint, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service})
	endpointSlices, err := r.Slices.EndpointSlices(namespace).List(sel)
	if err != nil {
		return nil, err
	}
	for _, slice := range endpointSlices {
		for _, ep := range slice.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			for _, addr := range ep.Addresses {
				if !seen[addr] {
					seen[addr] = true
					out = append(out, trafficv1alpha1.GatewayEndpoint{Address: addr, Ready: ready})
				}
			}
		}
	}
	return out, nil
}

func sortEndpoints(out []trafficv1alpha1.GatewayEndpoint) {
	slices.SortFunc(out, func(a, b trafficv1alpha1.GatewayEndpoint) int {
		if a.Address < b.Address {
			return -1
		}
		if a.Address > b.Address {
			return 1
		}
		return 0
	})
}

// Serves reports whether a Service selector covers a Gateway selector.
func Serves(serviceSelector, gatewaySelector map[string]string) bool {
	if len(serviceSelector) == 0 {
		return false
	}
	for k, v := range gatewaySelector {
		if sv, ok := serviceSelector[k]; !ok || sv != v {
			return false
		}
	}
	return true
}

// Transform (a cache.TransformFunc for the Services and EndpointSlices
// informers) keeps of each Service and EndpointSlice only what Resolver reads:
// names, a Service's selector, a slice's Service label and its endpoints'
// addresses and readiness. The agent watches every Service and EndpointSlice
// of its cluster; the rest of them (ports, topology, pod references, managed
// fields) would be most of its memory in a large cluster.
func Transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return &corev1.Service{ObjectMeta: trimmedMeta(o.ObjectMeta, ""), Spec: corev1.ServiceSpec{Selector: o.Spec.Selector}}, nil
	case *discoveryv1.EndpointSlice:
		out := &discoveryv1.EndpointSlice{ObjectMeta: trimmedMeta(o.ObjectMeta, discoveryv1.LabelServiceName), AddressType: o.AddressType}
		for _, ep := range o.Endpoints {
			out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{Addresses: ep.Addresses,
				Conditions: discoveryv1.EndpointConditions{Ready: ep.Conditions.Ready}})
		}
		return out, nil
	}
	return obj, nil
}

// trimmedMeta keeps an object's name, namespace, resource version and, when
// label is not empty and set, that label.
func trimmedMeta(m metav1.ObjectMeta, label string) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion}
	if v, ok := m.Labels[label]; ok && label != "" {
		out.Labels = map[string]string{label: v}
	}
	return out
}
