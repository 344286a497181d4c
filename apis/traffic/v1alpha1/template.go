package v1alpha1

// TemplateKinds pairs each list of an AccessPointTemplate (by JSON name) with the
// Istio kind of its objects, in rendering order.
var TemplateKinds = []struct{ List, Kind string }{
	{"virtualServices", "VirtualService"},
	{"destinationRules", "DestinationRule"},
	{"serviceEntries", "ServiceEntry"},
	{"workloadEntries", "WorkloadEntry"},
	{"workloadGroups", "WorkloadGroup"},
}

// Lists returns the template's lists of named objects by JSON name.
func (t *AccessPointTemplate) Lists() map[string][]NamedTemplate {
	return map[string][]NamedTemplate{
		"virtualServices":  t.VirtualServices,
		"destinationRules": t.DestinationRules,
		"serviceEntries":   t.ServiceEntries,
		"workloadEntries":  t.WorkloadEntries,
		"workloadGroups":   t.WorkloadGroups,
	}
}
