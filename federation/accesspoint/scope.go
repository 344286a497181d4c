package accesspoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"k8s.io/apimachinery/pkg/util/validation"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
)

// An access point's objects serve its Gateway, so each cluster's rendering
// scopes them to it where the template leaves the scope out; what the
// template sets is kept as it is.
//
//   - A VirtualService with hosts and no gateways is bound to the rendered
//     Gateway (gateways: [<namespace>/<name>]); without gateways Istio would
//     bind it to the sidecars of the whole mesh ("mesh") and not to the
//     gateway at all. A VirtualService without hosts is a delegate, bound
//     through its root, and left alone.
//   - A VirtualService bound only to that Gateway and without exportTo is
//     exported to the gateway namespace only: istiod sends it to the proxies
//     of that namespace (the gateway's) and to no sidecar. exportTo: ["."]
//     would hide it from the gateway, whose proxies run in the gateway
//     namespace (MemberCluster spec.gatewayNamespace), not in the access
//     point's. Istio's default (every namespace) puts every access point's
//     routes into every proxy of the mesh: with thousands of access points,
//     that is most of each sidecar's configuration.
//   - A DestinationRule or ServiceEntry without exportTo is exported to the
//     access point's namespace and the gateway namespace (".", <gateway
//     namespace>): the gateway sees it, and so do the sidecars of the
//     application's own namespace, as before; the rest of the mesh does not.
//     A DestinationRule with a workloadSelector is left alone (Istio exports
//     those to their own namespace only).
//   - An AuthorizationPolicy, RequestAuthentication or Telemetry without
//     selector, targetRef and targetRefs applies to the gateway workload: it
//     gets the Gateway's selector as matchLabels and goes to the gateway
//     namespace, where the workload runs (Istio applies a policy's selector
//     in the policy's own namespace), named <namespace>.<access
//     point>.<name> so that access points of different namespaces do not
//     collide there. One with a scope of its own stays in the access point's
//     namespace under its name.
type gatewayScope struct {
	// gateway is the rendered Gateway as VirtualServices name it
	// (namespace/name), name its short form.
	gateway, name string
	// selector is the Gateway's selector: the gateway workload's labels.
	selector any
	// namespace is the access point's, gatewayNamespace the one where the
	// cluster's gateway workload runs.
	namespace, gatewayNamespace string
}

// newGatewayScope is the scope of fap's Gateway, whose selector is given, in
// a cluster whose gateway runs in gatewayNamespace ("": the default).
func newGatewayScope(fap *trafficv1alpha1.FederatedAccessPoint, selector any, gatewayNamespace string) gatewayScope {
	if gatewayNamespace == "" {
		gatewayNamespace = certsecret.DeliveryNamespace(nil)
	}
	return gatewayScope{gateway: fap.Namespace + "/" + fap.Name, name: fap.Name, selector: selector,
		namespace: fap.Namespace, gatewayNamespace: gatewayNamespace}
}

// placement is where a template object is rendered, and its spec there.
type placement struct {
	name, namespace string
	spec            []byte
}

// errNoGatewaySelector: a gateway-scoped policy without a selector would
// apply to every workload of the gateway namespace, or, in Istio's root
// namespace, of the mesh.
var errNoGatewaySelector = errors.New("the Gateway has no selector, so a policy without selector, targetRef or " +
	"targetRefs cannot be scoped to the gateway workload: give the Gateway a selector or the policy a scope")

// place scopes one template object of kind to the Gateway.
func (s gatewayScope) place(kind, name string, raw []byte) (placement, error) {
	p := placement{name: name, namespace: s.namespace, spec: raw}
	spec, err := decodeObject(raw)
	if err != nil {
		return p, err
	}
	var changed bool
	switch kind {
	case "VirtualService":
		changed = s.bind(spec)
	case "DestinationRule":
		changed = unset(spec, "workloadSelector") && setDefault(spec, "exportTo", s.exportTo(true))
	case "ServiceEntry":
		changed = setDefault(spec, "exportTo", s.exportTo(true))
	case "AuthorizationPolicy", "RequestAuthentication", "Telemetry":
		if changed, err = s.selectWorkload(spec); changed {
			p.name, p.namespace = s.policyName(name), s.gatewayNamespace
		}
	}
	if err != nil || !changed {
		return p, err
	}
	p.spec, err = json.Marshal(spec)
	return p, err
}

// bind binds a VirtualService to the Gateway and exports it to the gateway
// namespace, unless the template says otherwise.
func (s gatewayScope) bind(vs map[string]any) bool {
	if unset(vs, "hosts") {
		return false // a delegate
	}
	bound := setDefault(vs, "gateways", []any{s.gateway})
	if !s.onlyThisGateway(vs["gateways"]) {
		// Bound to the mesh or to other gateways too: who needs to see it is
		// not Portico's to say.
		return bound
	}
	exported := setDefault(vs, "exportTo", s.exportTo(false))
	return bound || exported
}

// onlyThisGateway tells whether a VirtualService's gateways name the
// rendered Gateway and nothing else.
func (s gatewayScope) onlyThisGateway(gateways any) bool {
	list, _ := gateways.([]any)
	for _, g := range list {
		if g != s.gateway && g != s.name {
			return false
		}
	}
	return len(list) > 0
}

// selectWorkload scopes a policy without a scope to the gateway workload.
func (s gatewayScope) selectWorkload(policy map[string]any) (bool, error) {
	for _, k := range []string{"selector", "targetRef", "targetRefs"} {
		if !unset(policy, k) {
			return false, nil
		}
	}
	if labels, _ := s.selector.(map[string]any); len(labels) == 0 {
		return false, errNoGatewaySelector
	}
	// Istio's rule allows one of the three: an empty targetRefs counts.
	delete(policy, "targetRef")
	delete(policy, "targetRefs")
	policy["selector"] = map[string]any{"matchLabels": s.selector}
	return true, nil
}

// exportTo is the exportTo of the objects the gateway reads: the gateway
// namespace, and with home the access point's namespace too.
func (s gatewayScope) exportTo(home bool) []any {
	switch {
	case s.gatewayNamespace == s.namespace:
		return []any{"."}
	case home:
		return []any{".", s.gatewayNamespace}
	default:
		return []any{s.gatewayNamespace}
	}
}

// policyName is the name of a gateway-scoped policy in the gateway namespace:
// <namespace>.<access point>.<name>, or a hash of it when that is too long.
func (s gatewayScope) policyName(name string) string {
	n := s.namespace + "." + s.name + "." + name
	if len(n) <= validation.DNS1123SubdomainMaxLength {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return s.namespace + "." + hex.EncodeToString(sum[:16])
}

// setDefault sets spec[key] to value when the spec leaves it unset, and
// tells whether it did.
func setDefault(spec map[string]any, key string, value any) bool {
	if !unset(spec, key) {
		return false
	}
	spec[key] = value
	return true
}

// unset tells whether a spec leaves a field out: absent, null or an empty
// list, which Istio all reads as its default.
func unset(spec map[string]any, key string) bool {
	switch v := spec[key].(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	}
	return false
}
