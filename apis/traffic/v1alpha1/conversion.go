package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/fieldselector"
	"github.com/portico-dev/portico/apis/traffic"
)

// SelectableFields lists, per kind, the fields a field selector may name besides
// metadata.name and metadata.namespace, as the kind's declaration in package
// traffic sets them.
var SelectableFields = map[string][]string{
	"FederatedAccessPoint": fieldselector.Names(traffic.FederatedAccessPointFields),
	"ClusterAccessPoint":   fieldselector.Names(traffic.ClusterAccessPointFields),
	"VIPPool":              nil,
	"VirtualIP":            fieldselector.Names(traffic.VirtualIPFields),
	"NameService":          fieldselector.Names(traffic.NameServiceFields),
	"DNSProvider":          nil,
	"CertificateIssuer":    nil,
}

// RegisterFieldLabelConversions declares the field selectors each kind supports.
func RegisterFieldLabelConversions(scheme *runtime.Scheme) error {
	return fieldselector.Register(scheme, SchemeGroupVersion, SelectableFields)
}
