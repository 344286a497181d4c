package apply

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kind is what the agent knows of one kind it applies.
type kind struct {
	resource   string
	namespaced bool
	// order: namespaces first, then what Istio and Gateway API objects refer
	// to, then those objects.
	order int
	// observed kinds have a status that the gateway implementation writes and
	// Portico reports: their apply reads the whole object the member cluster
	// returns (Observed). The others read its metadata only.
	observed bool
}

const (
	istioGroup      = "networking.istio.io"
	securityGroup   = "security.istio.io"
	telemetryGroup  = "telemetry.istio.io"
	gatewayAPIGroup = "gateway.networking.k8s.io"
)

// kinds are the kinds the agent applies, all at version v1. Their manifests
// are applied as they are (JSON): the member cluster validates them against
// its own schemas, so the agent needs no Go types, clientsets or schemes of
// Istio or the Gateway API.
var kinds = map[schema.GroupKind]kind{
	{Kind: "Namespace"}:                                   {"namespaces", false, 0, false},
	{Kind: "Secret"}:                                      {"secrets", true, 1, false},
	{Kind: "Service"}:                                     {"services", true, 1, false},
	{Group: istioGroup, Kind: "Gateway"}:                  {"gateways", true, 2, false},
	{Group: istioGroup, Kind: "VirtualService"}:           {"virtualservices", true, 2, false},
	{Group: istioGroup, Kind: "DestinationRule"}:          {"destinationrules", true, 2, false},
	{Group: istioGroup, Kind: "ServiceEntry"}:             {"serviceentries", true, 2, false},
	{Group: istioGroup, Kind: "WorkloadEntry"}:            {"workloadentries", true, 2, false},
	{Group: istioGroup, Kind: "WorkloadGroup"}:            {"workloadgroups", true, 2, false},
	{Group: securityGroup, Kind: "AuthorizationPolicy"}:   {"authorizationpolicies", true, 2, false},
	{Group: securityGroup, Kind: "RequestAuthentication"}: {"requestauthentications", true, 2, false},
	{Group: telemetryGroup, Kind: "Telemetry"}:            {"telemetries", true, 2, false},
	// The Gateway API kinds; the ReferenceGrant that lets Gateways read the
	// certificate goes before them.
	{Group: gatewayAPIGroup, Kind: "ReferenceGrant"}: {"referencegrants", true, 1, false},
	{Group: gatewayAPIGroup, Kind: "Gateway"}:        {"gateways", true, 2, true},
	{Group: gatewayAPIGroup, Kind: "HTTPRoute"}:      {"httproutes", true, 2, true},
	{Group: gatewayAPIGroup, Kind: "GRPCRoute"}:      {"grpcroutes", true, 2, true},
	{Group: gatewayAPIGroup, Kind: "TLSRoute"}:       {"tlsroutes", true, 2, true},
	{Group: gatewayAPIGroup, Kind: "TCPRoute"}:       {"tcproutes", true, 2, true},
}

// kindOf is the kind of each resource in kinds.
var kindOf = func() map[schema.GroupResource]schema.GroupKind {
	out := map[schema.GroupResource]schema.GroupKind{}
	for gk, k := range kinds {
		out[schema.GroupResource{Group: gk.Group, Resource: k.resource}] = gk
	}
	return out
}()

// Observed is what the member cluster holds of an applied object whose
// status the gateway implementation writes: its generation and its status.
type Observed struct {
	Generation int64
	// Status is the object's status as JSON (empty when it has none).
	Status json.RawMessage
}

// observe reads the Observed of an object an apply returned.
func observe(u *unstructured.Unstructured) (Observed, bool) {
	if u == nil {
		return Observed{}, false
	}
	o := Observed{Generation: u.GetGeneration()}
	if status, ok := u.Object["status"]; ok {
		raw, err := json.Marshal(status)
		if err != nil {
			return Observed{}, false
		}
		o.Status = raw
	}
	return o, true
}

// Order is the position of a kind in the apply order.
func Order(gk schema.GroupKind) int { return kinds[gk].order }

// Resources are the resources of every kind the agent applies, for drift watches
// and pruning.
func Resources() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for gk, k := range kinds {
		out = append(out, schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: k.resource})
	}
	return out
}

// Prunable tells whether the agent deletes objects of a kind when they are no
// longer wanted: every kind but Namespace, since a namespace holds more than
// what the agent put there.
func Prunable(gk schema.GroupKind) bool { return gk != schema.GroupKind{Kind: "Namespace"} }
