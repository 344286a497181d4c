package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestFieldSelectors pins the field selectors v1alpha1 serves: the contract
// users and controllers rely on.
func TestFieldSelectors(t *testing.T) {
	scheme := runtime.NewScheme()
	Install(scheme)
	meta := []string{"metadata.name", "metadata.namespace"}
	for kind, own := range map[string][]string{
		"FederatedAccessPoint": {"spec.loadBalancer.pool"},
		"ClusterAccessPoint":   {"spec.accessPointRef.namespace", "spec.accessPointRef.name"},
		"VIPPool":              nil,
		"VirtualIP":            {"spec.pool", "spec.owner.namespace", "spec.owner.name"},
		"NameService":          {"spec.fqdn", "spec.providerRef.name"},
		"DNSProvider":          nil,
		"CertificateIssuer":    nil,
	} {
		gvk := v1alpha1.SchemeGroupVersion.WithKind(kind)
		for _, label := range append(own, meta...) {
			if _, _, err := scheme.ConvertFieldLabel(gvk, label, "x"); err != nil {
				t.Errorf("%s: %s not supported: %v", kind, label, err)
			}
		}
		if len(v1alpha1.SelectableFields[kind]) != len(own) {
			t.Errorf("%s: serves %v, want %v besides metadata", kind, v1alpha1.SelectableFields[kind], own)
		}
		if _, _, err := scheme.ConvertFieldLabel(gvk, "spec.bogus", "x"); err == nil {
			t.Errorf("%s: spec.bogus accepted", kind)
		}
	}
}
