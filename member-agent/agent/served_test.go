package agent

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/portico-dev/portico/member-agent/apply"
)

// TestServedResources: in a member cluster without the Gateway API's CRDs,
// the agent watches every other kind it applies (so that its caches sync)
// and none of the Gateway API's.
func TestServedResources(t *testing.T) {
	kube := kubefake.NewSimpleClientset() //nolint:staticcheck // only discovery is used.
	all := apply.Resources()
	var resources []*metav1.APIResourceList
	byGV := map[schema.GroupVersion][]metav1.APIResource{}
	for _, gvr := range all {
		if gvr.Group != "gateway.networking.k8s.io" {
			byGV[gvr.GroupVersion()] = append(byGV[gvr.GroupVersion()], metav1.APIResource{Name: gvr.Resource})
		}
	}
	for gv, rs := range byGV {
		resources = append(resources, &metav1.APIResourceList{GroupVersion: gv.String(), APIResources: rs})
	}
	kube.Resources = resources
	got, err := servedResources(kube.Discovery(), all)
	if err != nil {
		t.Fatal(err)
	}
	var want []schema.GroupVersionResource
	for _, gvr := range all {
		if gvr.Group != "gateway.networking.k8s.io" {
			want = append(want, gvr)
		}
	}
	if !slices.Equal(got, want) || len(want) == len(all) {
		t.Fatalf("served %v\nwant %v", got, want)
	}
}
