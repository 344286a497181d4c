// Package gatewayapi fills in what Portico adds to the Gateway API objects of
// an access point's template (spec.template.gatewayAPI). It is the one
// implementation of those fills: the hub's write-time validation checks each
// template with them, against the Gateway API CRDs' schema, and the renderer
// renders each cluster's objects with the same functions.
//
// Portico fills only what a template leaves out:
//
//   - A Gateway without addresses gets the cluster's gateway Service by
//     hostname (type Hostname, <service>.<gateway namespace>.svc.cluster.local):
//     Istio's "manual deployment", which configures the gateway workload that
//     already runs in the gateway namespace, whose endpoints are the VIP's
//     backends, instead of deploying a new one with a Service of its own.
//   - With spec.tls, a listener that terminates TLS (protocol HTTPS, or TLS
//     in mode Terminate) without certificateRefs gets the access point's
//     delivered certificate Secret, in the gateway namespace.
//   - A route without parentRefs is attached to the access point's Gateway
//     when there is exactly one.
package gatewayapi

import "fmt"

// DefaultGatewayService is the Service of a member cluster's gateway workload
// in its gateway namespace: Istio's default ingress gateway.
const DefaultGatewayService = "istio-ingressgateway"

// ServiceHostname is the address naming the gateway Service of a gateway
// namespace, as Istio's manual deployment reads it.
func ServiceHostname(gatewayNamespace string) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", DefaultGatewayService, gatewayNamespace)
}

// SecretRef is a Secret in a namespace.
type SecretRef struct {
	Name, Namespace string
}

// FillGateway fills a decoded Gateway spec in place: addresses, when it has
// none, with the Hostname address; with cert, the certificateRefs of its
// terminating listeners that have none. It tells whether a listener
// references cert.
func FillGateway(spec map[string]any, address string, cert *SecretRef) (usesCert bool) {
	if unset(spec, "addresses") {
		spec["addresses"] = []any{map[string]any{"type": "Hostname", "value": address}}
	}
	listeners, _ := spec["listeners"].([]any)
	for _, l := range listeners {
		listener, _ := l.(map[string]any)
		if listener == nil {
			continue
		}
		if cert != nil && withCertificate(listener, *cert) {
			usesCert = true
		}
	}
	return usesCert
}

// withCertificate gives a terminating listener without certificateRefs the
// certificate, and tells whether the listener references it.
func withCertificate(listener map[string]any, cert SecretRef) bool {
	tls, hasTLS := listener["tls"].(map[string]any)
	switch listener["protocol"] {
	case "HTTPS":
		if listener["tls"] == nil {
			tls, hasTLS = map[string]any{}, true
			listener["tls"] = tls
		}
	case "TLS":
		// The mode of a TLS listener is the template's to choose (Istio's
		// schema requires it): only Terminate takes a certificate.
	default:
		return false
	}
	if !hasTLS || (tls["mode"] != nil && tls["mode"] != "" && tls["mode"] != "Terminate") {
		return false
	}
	if unset(tls, "certificateRefs") {
		tls["certificateRefs"] = []any{map[string]any{"group": "", "kind": "Secret", "name": cert.Name, "namespace": cert.Namespace}}
		return true
	}
	refs, _ := tls["certificateRefs"].([]any)
	for _, r := range refs {
		if ref, _ := r.(map[string]any); ref != nil && ref["name"] == cert.Name && ref["namespace"] == cert.Namespace {
			return true
		}
	}
	return false
}

// FillRoute attaches a decoded route spec without parentRefs to the Gateway
// named gateway (in the route's namespace); "" leaves it as it is. It tells
// whether it changed the spec.
func FillRoute(spec map[string]any, gateway string) bool {
	if gateway == "" || !unset(spec, "parentRefs") {
		return false
	}
	spec["parentRefs"] = []any{map[string]any{"name": gateway}}
	return true
}

// HasParentRefs tells whether a decoded route spec names its parents.
func HasParentRefs(spec map[string]any) bool { return !unset(spec, "parentRefs") }

// unset tells whether a spec leaves a field out: absent, null or an empty
// list.
func unset(spec map[string]any, key string) bool {
	switch v := spec[key].(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	}
	return false
}
