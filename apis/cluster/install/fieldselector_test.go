package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// TestFieldSelectors pins the field selectors v1alpha1 serves: the contract
// users and controllers rely on.
func TestFieldSelectors(t *testing.T) {
	scheme := runtime.NewScheme()
	Install(scheme)
	for kind, supported := range map[string][]string{
		"MemberCluster":     {"metadata.name", "spec.zone", "spec.region"},
		"LoadBalancerGroup": {"metadata.name", "spec.zone"},
		"LoadBalancerNode":  {"metadata.name", "spec.group", "spec.address"},
	} {
		gvk := v1alpha1.SchemeGroupVersion.WithKind(kind)
		for _, label := range supported {
			if _, _, err := scheme.ConvertFieldLabel(gvk, label, "x"); err != nil {
				t.Errorf("%s: %s not supported: %v", kind, label, err)
			}
		}
		if len(v1alpha1.SelectableFields[kind]) != len(supported)-1 {
			t.Errorf("%s: serves %v, want %v besides metadata.name", kind, v1alpha1.SelectableFields[kind], supported)
		}
		if _, _, err := scheme.ConvertFieldLabel(gvk, "spec.bogus", "x"); err == nil {
			t.Errorf("%s: spec.bogus accepted", kind)
		}
	}
}
