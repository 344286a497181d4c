package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting"
	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"
	"k8s.io/apimachinery/pkg/runtime"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/portico-dev/portico/apis/traffic"
	trafficfuzzer "github.com/portico-dev/portico/apis/traffic/fuzzer"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, trafficfuzzer.Funcs)
}

// TestRoundTripPlacementClusters checks what the fuzz test cannot see (semantic
// equality treats nil and empty slices alike): through v1alpha1 JSON, a nil
// placement.clusters stays nil and an empty one stays empty.
func TestRoundTripPlacementClusters(t *testing.T) {
	scheme := runtime.NewScheme()
	Install(scheme)
	codec := apitesting.TestCodec(runtimeserializer.NewCodecFactory(scheme), v1alpha1.SchemeGroupVersion)

	for name, clusters := range map[string][]traffic.ClusterReference{
		"nil":   nil,
		"empty": {},
		"one":   {{Name: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			in := &traffic.FederatedAccessPoint{Spec: traffic.FederatedAccessPointSpec{
				Hosts:     []string{"app.example.com"},
				Placement: &traffic.Placement{Clusters: clusters},
			}}
			data, err := runtime.Encode(codec, in)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := runtime.Decode(codec, data)
			if err != nil {
				t.Fatal(err)
			}
			got := obj.(*traffic.FederatedAccessPoint).Spec.Placement.Clusters
			if (got == nil) != (clusters == nil) || len(got) != len(clusters) {
				t.Errorf("clusters %#v came back as %#v (wire: %s)", clusters, got, data)
			}
		})
	}
}
