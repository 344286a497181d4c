package v1alpha1

// Istio API groups of the template's kinds.
const (
	IstioNetworkingGroup = "networking.istio.io"
	IstioSecurityGroup   = "security.istio.io"
	IstioTelemetryGroup  = "telemetry.istio.io"
)

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
