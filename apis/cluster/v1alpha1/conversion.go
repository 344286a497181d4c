package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/fieldselector"
)

// SelectableFields lists, per kind, the fields a field selector may name besides
// metadata.name.
var SelectableFields = map[string][]string{
	"MemberCluster":     {"spec.zone", "spec.region"},
	"LoadBalancerGroup": {"spec.zone"},
	"LoadBalancerNode":  {"spec.group", "spec.address"},
}

// RegisterFieldLabelConversions declares the field selectors each kind supports.
func RegisterFieldLabelConversions(scheme *runtime.Scheme) error {
	return fieldselector.Register(scheme, SchemeGroupVersion, SelectableFields)
}
