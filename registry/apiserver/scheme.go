package apiserver

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	clusterinstall "github.com/portico-dev/portico/apis/cluster/install"
	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficinstall "github.com/portico-dev/portico/apis/traffic/install"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

var (
	// Scheme holds both Portico groups, internal and versioned.
	Scheme = runtime.NewScheme()
	// Codecs encodes and decodes Portico objects.
	Codecs = serializer.NewCodecFactory(Scheme)
	// StorageVersions are the versions objects are stored in.
	StorageVersions = schema.GroupVersions{clusterv1alpha1.SchemeGroupVersion, trafficv1alpha1.SchemeGroupVersion}
)

func init() {
	clusterinstall.Install(Scheme)
	trafficinstall.Install(Scheme)

	// Options and status types every API server serves, as sample-apiserver does.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}
