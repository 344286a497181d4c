package v1alpha1

// Istio API groups of the template's kinds.
const (
	IstioNetworkingGroup = "networking.istio.io"
	IstioSecurityGroup   = "security.istio.io"
	IstioTelemetryGroup  = "telemetry.istio.io"
)

// GatewayAPIGroup is the API group of the Gateway API kinds (version v1).
const GatewayAPIGroup = "gateway.networking.k8s.io"

// TemplateKinds pairs each list of an AccessPointTemplate (by JSON name) with the
// Istio kind of its objects and that kind's API group (version v1), in rendering
// order.
var TemplateKinds = []struct{ List, Kind, Group string }{
	{"virtualServices", "VirtualService", IstioNetworkingGroup},
	{"destinationRules", "DestinationRule", IstioNetworkingGroup},
	{"serviceEntries", "ServiceEntry", IstioNetworkingGroup},
	{"workloadEntries", "WorkloadEntry", IstioNetworkingGroup},
	{"workloadGroups", "WorkloadGroup", IstioNetworkingGroup},
	{"authorizationPolicies", "AuthorizationPolicy", IstioSecurityGroup},
	{"requestAuthentications", "RequestAuthentication", IstioSecurityGroup},
	{"telemetries", "Telemetry", IstioTelemetryGroup},
}

// Lists returns the template's lists of named objects by JSON name.
func (t *AccessPointTemplate) Lists() map[string][]NamedTemplate {
	return map[string][]NamedTemplate{
		"virtualServices":        t.VirtualServices,
		"destinationRules":       t.DestinationRules,
		"serviceEntries":         t.ServiceEntries,
		"workloadEntries":        t.WorkloadEntries,
		"workloadGroups":         t.WorkloadGroups,
		"authorizationPolicies":  t.AuthorizationPolicies,
		"requestAuthentications": t.RequestAuthentications,
		"telemetries":            t.Telemetries,
	}
}

// GatewayAPIKinds pairs each list of a GatewayAPITemplate (by JSON name) with
// the Gateway API kind of its objects (group GatewayAPIGroup, version v1), in
// rendering order.
var GatewayAPIKinds = []struct{ List, Kind string }{
	{"gateways", "Gateway"},
	{"httpRoutes", "HTTPRoute"},
	{"grpcRoutes", "GRPCRoute"},
	{"tlsRoutes", "TLSRoute"},
	{"tcpRoutes", "TCPRoute"},
}

// Lists returns the Gateway API template's lists of named objects by JSON
// name; all empty for a nil template.
func (t *GatewayAPITemplate) Lists() map[string][]NamedTemplate {
	if t == nil {
		return map[string][]NamedTemplate{}
	}
	return map[string][]NamedTemplate{
		"gateways":   t.Gateways,
		"httpRoutes": t.HTTPRoutes,
		"grpcRoutes": t.GRPCRoutes,
		"tlsRoutes":  t.TLSRoutes,
		"tcpRoutes":  t.TCPRoutes,
	}
}
