package traffic

import "k8s.io/apimachinery/pkg/fields"

// The field selectors of each kind: the fields, besides metadata.name and
// metadata.namespace, that a field selector may name, with the object's values.
// These functions are the one declaration: storage (registry/store) selects with
// them, and v1alpha1 accepts exactly the names they set. Every field is set,
// empty or not. VIPPools, DNSProviders and CertificateIssuers have none.

// FederatedAccessPointFields: spec.loadBalancer.pool.
func FederatedAccessPointFields(fap *FederatedAccessPoint) fields.Set {
	pool := ""
	if fap.Spec.LoadBalancer != nil {
		pool = fap.Spec.LoadBalancer.Pool
	}
	return fields.Set{"spec.loadBalancer.pool": pool}
}

// ClusterAccessPointFields: spec.accessPointRef.namespace and .name.
func ClusterAccessPointFields(ap *ClusterAccessPoint) fields.Set {
	return fields.Set{
		"spec.accessPointRef.namespace": ap.Spec.AccessPointRef.Namespace,
		"spec.accessPointRef.name":      ap.Spec.AccessPointRef.Name,
	}
}

// VirtualIPFields: spec.pool, spec.owner.namespace and spec.owner.name.
func VirtualIPFields(vip *VirtualIP) fields.Set {
	set := fields.Set{"spec.pool": vip.Spec.Pool, "spec.owner.namespace": "", "spec.owner.name": ""}
	if vip.Spec.Owner != nil {
		set["spec.owner.namespace"], set["spec.owner.name"] = vip.Spec.Owner.Namespace, vip.Spec.Owner.Name
	}
	return set
}

// NameServiceFields: spec.fqdn and spec.providerRef.name.
func NameServiceFields(ns *NameService) fields.Set {
	return fields.Set{"spec.fqdn": ns.Spec.FQDN, "spec.providerRef.name": ns.Spec.ProviderRef.Name}
}
