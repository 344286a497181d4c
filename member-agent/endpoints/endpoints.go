// Package endpoints finds the gateway endpoints that serve an access point in a
// member cluster.
//
// The rule: a Service serves a Gateway when every label of the Gateway's
// spec.selector appears, with the same value, in the Service's spec.selector (the
// Service then selects a subset of the pods the Gateway configures, e.g. the
// istio-ingressgateway Service, selector {app: istio-ingressgateway, istio:
// ingressgateway}, serves a Gateway with selector {istio: ingressgateway}). The
// endpoints are the addresses of those Services' EndpointSlices, ready when the
// slice's ready condition is unset or true.
package endpoints

import (
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
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
		sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
		endpointSlices, err := r.Slices.EndpointSlices(svc.Namespace).List(sel)
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
	}
	slices.SortFunc(out, func(a, b trafficv1alpha1.GatewayEndpoint) int {
		if a.Address < b.Address {
			return -1
		}
		if a.Address > b.Address {
			return 1
		}
		return 0
	})
	return out, nil
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
