package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/fieldselector"
)

// SelectableFields lists, per kind, the fields a field selector may name besides
// metadata.name and metadata.namespace.
var SelectableFields = map[string][]string{
	"FederatedAccessPoint": {"spec.loadBalancer.pool"},
	"ClusterAccessPoint":   {"spec.accessPointRef.namespace", "spec.accessPointRef.name"},
	"VIPPool":              {},
	"VirtualIP":            {"spec.pool", "spec.owner.namespace", "spec.owner.name"},
	"NameService":          {"spec.fqdn", "spec.providerRef.name"},
	"DNSProvider":          {},
	"CertificateIssuer":    {},
}

// RegisterFieldLabelConversions declares the field selectors each kind supports.
func RegisterFieldLabelConversions(scheme *runtime.Scheme) error {
	return fieldselector.Register(scheme, SchemeGroupVersion, SelectableFields)
}
