package cluster

import "k8s.io/apimachinery/pkg/fields"

// The field selectors of each kind: the fields, besides metadata.name, that a
// field selector may name, with the object's values. These functions are the
// one declaration: storage (registry/store) selects with them, and v1alpha1
// accepts exactly the names they set. Every field is set, empty or not.

// MemberClusterFields: spec.zone and spec.region.
func MemberClusterFields(mc *MemberCluster) fields.Set {
	return fields.Set{"spec.zone": mc.Spec.Zone, "spec.region": mc.Spec.Region}
}

// LoadBalancerGroupFields: spec.zone.
func LoadBalancerGroupFields(g *LoadBalancerGroup) fields.Set {
	return fields.Set{"spec.zone": g.Spec.Zone}
}

// LoadBalancerNodeFields: spec.group and spec.address.
func LoadBalancerNodeFields(n *LoadBalancerNode) fields.Set {
	return fields.Set{"spec.group": n.Spec.Group, "spec.address": n.Spec.Address}
}
