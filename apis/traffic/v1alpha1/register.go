package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of access points, virtual IPs, DNS names and certificates.
const GroupName = "traffic.portico.dev"

// SchemeGroupVersion is the group version of the objects in this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

var (
	// SchemeBuilder registers the types, defaults and conversions of this version.
	SchemeBuilder      = runtime.NewSchemeBuilder(addKnownTypes, addDefaultingFuncs)
	localSchemeBuilder = &SchemeBuilder
	// AddToScheme adds this version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	localSchemeBuilder.Register(RegisterConversions, RegisterFieldLabelConversions)
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
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}
