package cluster

import (
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
)

// TestFieldSets checks each kind's declaration on a filled object and that it
// sets the same fields on an empty one, as v1alpha1 reads the names from there.
func TestFieldSets(t *testing.T) {
	tests := []struct {
		kind          string
		filled, empty fields.Set
		want          fields.Set
	}{
		{
			kind:   "MemberCluster",
			filled: MemberClusterFields(&MemberCluster{Spec: MemberClusterSpec{Zone: "zone-a", Region: "r1"}}),
			empty:  MemberClusterFields(&MemberCluster{}),
			want:   fields.Set{"spec.zone": "zone-a", "spec.region": "r1"},
		},
		{
			kind:   "LoadBalancerGroup",
			filled: LoadBalancerGroupFields(&LoadBalancerGroup{Spec: LoadBalancerGroupSpec{Zone: "zone-a"}}),
			empty:  LoadBalancerGroupFields(&LoadBalancerGroup{}),
			want:   fields.Set{"spec.zone": "zone-a"},
		},
		{
			kind:   "LoadBalancerNode",
			filled: LoadBalancerNodeFields(&LoadBalancerNode{Spec: LoadBalancerNodeSpec{Group: "edge", Address: "192.0.2.1"}}),
			empty:  LoadBalancerNodeFields(&LoadBalancerNode{}),
			want:   fields.Set{"spec.group": "edge", "spec.address": "192.0.2.1"},
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
