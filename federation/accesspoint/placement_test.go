package accesspoint

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func mc(name, zone string, labels map[string]string) *clusterv1alpha1.MemberCluster {
	l := map[string]string{clusterv1alpha1.LabelZone: zone}
	for k, v := range labels {
		l[k] = v
	}
	return &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: zone}}
}

func TestPlace(t *testing.T) {
	all := []*clusterv1alpha1.MemberCluster{
		mc("zone-b-1", "zone-b", map[string]string{"tier": "edge"}),
		mc("zone-a-1", "zone-a", map[string]string{"tier": "edge"}),
		mc("zone-a-2", "zone-a", nil),
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}
	refs := func(names ...string) []trafficv1alpha1.ClusterReference {
		out := []trafficv1alpha1.ClusterReference{}
		for _, n := range names {
			out = append(out, trafficv1alpha1.ClusterReference{Name: n})
		}
		return out
	}
	tests := []struct {
		name string
		p    *trafficv1alpha1.Placement
		want string
	}{
		{"nil placement selects every cluster", nil, "zone-a-1,zone-a-2,zone-b-1"},
		{"nil clusters and nil selector select every cluster", &trafficv1alpha1.Placement{}, "zone-a-1,zone-a-2,zone-b-1"},
		{"empty clusters select nothing", &trafficv1alpha1.Placement{Clusters: refs()}, ""},
		{"empty clusters win over a selector", &trafficv1alpha1.Placement{Clusters: refs(), ClusterSelector: sel}, ""},
		{"nil clusters defer to the selector", &trafficv1alpha1.Placement{ClusterSelector: sel}, "zone-a-1,zone-b-1"},
		{"names and selector intersect", &trafficv1alpha1.Placement{Clusters: refs("zone-a-1", "zone-a-2"), ClusterSelector: sel}, "zone-a-1"},
		{"zones intersect", &trafficv1alpha1.Placement{Zones: []string{"zone-a"}}, "zone-a-1,zone-a-2"},
		{"zones and selector intersect", &trafficv1alpha1.Placement{Zones: []string{"zone-a"}, ClusterSelector: sel}, "zone-a-1"},
		{"unknown names select nothing", &trafficv1alpha1.Placement{Clusters: refs("nope")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Place(tc.p, all)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") != tc.want {
				t.Fatalf("placed %v, want %s", names, tc.want)
			}
		})
	}
}
