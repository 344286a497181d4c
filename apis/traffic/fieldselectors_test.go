package traffic

import (
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
)

// TestFieldSets checks each kind's declaration on a filled object and that it
// sets the same fields on an empty one, as v1alpha1 reads the names from there.
func TestFieldSets(t *testing.T) {
	owner := &AccessPointReference{Namespace: "shop", Name: "web"}
	tests := []struct {
		kind          string
		filled, empty fields.Set
		want          fields.Set
	}{
		{
			kind:   "FederatedAccessPoint",
			filled: FederatedAccessPointFields(&FederatedAccessPoint{Spec: FederatedAccessPointSpec{LoadBalancer: &LoadBalancerSpec{Pool: "public"}}}),
			empty:  FederatedAccessPointFields(&FederatedAccessPoint{}),
			want:   fields.Set{"spec.loadBalancer.pool": "public"},
		},
		{
			kind:   "ClusterAccessPoint",
			filled: ClusterAccessPointFields(&ClusterAccessPoint{Spec: ClusterAccessPointSpec{AccessPointRef: *owner}}),
			empty:  ClusterAccessPointFields(&ClusterAccessPoint{}),
			want:   fields.Set{"spec.accessPointRef.namespace": "shop", "spec.accessPointRef.name": "web"},
		},
		{
			kind:   "VirtualIP",
			filled: VirtualIPFields(&VirtualIP{Spec: VirtualIPSpec{Pool: "public", Owner: owner}}),
			empty:  VirtualIPFields(&VirtualIP{}),
			want:   fields.Set{"spec.pool": "public", "spec.owner.namespace": "shop", "spec.owner.name": "web"},
		},
		{
			kind:   "NameService",
			filled: NameServiceFields(&NameService{Spec: NameServiceSpec{FQDN: "shop.example.com", ProviderRef: LocalReference{Name: "bind"}}}),
			empty:  NameServiceFields(&NameService{}),
			want:   fields.Set{"spec.fqdn": "shop.example.com", "spec.providerRef.name": "bind"},
		},
	}
	for _, tc := range tests {
		if !maps.Equal(tc.filled, tc.want) {
			t.Errorf("%s: fields = %v, want %v", tc.kind, tc.filled, tc.want)
		}
		if got, want := slices.Sorted(maps.Keys(tc.empty)), slices.Sorted(maps.Keys(tc.want)); !slices.Equal(got, want) {
			t.Errorf("%s: an empty object sets %v, want %v", tc.kind, got, want)
		}
	}
}
