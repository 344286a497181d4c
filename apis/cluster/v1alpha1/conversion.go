package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/fieldselector"
)

// SelectableFields lists, per kind, the fields a field selector may name besides
// metadata.name, as the kind's declaration in package cluster sets them.
var SelectableFields = map[string][]string{
	"MemberCluster":     fieldselector.Names(cluster.MemberClusterFields),
	"LoadBalancerGroup": fieldselector.Names(cluster.LoadBalancerGroupFields),
	"LoadBalancerNode":  fieldselector.Names(cluster.LoadBalancerNodeFields),
}

// RegisterFieldLabelConversions declares the field selectors each kind supports.
func RegisterFieldLabelConversions(scheme *runtime.Scheme) error {
	return fieldselector.Register(scheme, SchemeGroupVersion, SelectableFields)
}
