package controller

import (
	"reflect"
	"testing"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// TestVIPHealthEqualKnowsEveryField: vipHealthEqual compares VIPHealth field
// by field (a status holds thousands), so a field added to the API must be
// compared there too.
func TestVIPHealthEqualKnowsEveryField(t *testing.T) {
	if n := reflect.TypeFor[clusterv1alpha1.VIPHealth]().NumField(); n != 3 {
		t.Errorf("VIPHealth has %d fields: compare the new ones in vipHealthEqual, then count them here", n)
	}
	if n := reflect.TypeFor[clusterv1alpha1.BackendWeight]().NumField(); n != 2 {
		t.Errorf("BackendWeight has %d fields: compare the new ones in vipHealthEqual, then count them here", n)
	}
	base := func() clusterv1alpha1.VIPHealth {
		return clusterv1alpha1.VIPHealth{Address: "203.0.113.10", HealthyBackends: 2,
			Weights: []clusterv1alpha1.BackendWeight{{Weight: 63, Backends: []string{"10.0.0.10"}}, {Weight: 1, Backends: []string{"10.1.0.10"}}}}
	}
	if !vipHealthEqual(base(), base()) {
		t.Error("equal VIPHealths differ")
	}
	for what, change := range map[string]func(*clusterv1alpha1.VIPHealth){
		"address":         func(h *clusterv1alpha1.VIPHealth) { h.Address = "203.0.113.11" },
		"healthyBackends": func(h *clusterv1alpha1.VIPHealth) { h.HealthyBackends = 1 },
		"weights":         func(h *clusterv1alpha1.VIPHealth) { h.Weights = h.Weights[:1] },
		"weight":          func(h *clusterv1alpha1.VIPHealth) { h.Weights[1].Weight = 0 },
		"backends":        func(h *clusterv1alpha1.VIPHealth) { h.Weights[0].Backends = []string{"10.0.0.11"} },
	} {
		changed := base()
		change(&changed)
		if vipHealthEqual(base(), changed) {
			t.Errorf("a different %s is equal", what)
		}
	}
}
