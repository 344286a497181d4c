package traffic

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group.
const GroupName = "traffic.portico.dev"

// SchemeGroupVersion is the internal version of the group.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: runtime.APIVersionInternal}

var (
	// SchemeBuilder registers the internal types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the internal types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind takes an unqualified kind and returns a group-qualified one.
func Kind(kind string) schema.GroupKind {
	return SchemeGroupVersion.WithKind(kind).GroupKind()
}

// Resource takes an unqualified resource and returns a group-qualified one.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&FederatedAccessPoint{}, &FederatedAccessPointList{},
		&ClusterAccessPoint{}, &ClusterAccessPointList{},
		&VIPPool{}, &VIPPoolList{},
		&VirtualIP{}, &VirtualIPList{},
		&NameService{}, &NameServiceList{},
		&DNSProvider{}, &DNSProviderList{},
		&CertificateIssuer{}, &CertificateIssuerList{},
		&AccessPointRevision{}, &AccessPointRevisionList{},
		&RolloutApproval{},
		&HostGrant{}, &HostGrantList{},
	)
	return nil
}
