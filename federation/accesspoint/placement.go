package accesspoint

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Place selects the member clusters of an access point with kubefed's semantics:
// a nil clusters list defers to the selector, an empty one selects nothing, a nil
// selector with nil clusters selects every cluster, and all given terms (clusters,
// clusterSelector, zones) intersect. The result is sorted by name.
func Place(p *trafficv1alpha1.Placement, clusters []*clusterv1alpha1.MemberCluster) ([]*clusterv1alpha1.MemberCluster, error) {
	selector := labels.Everything()
	var names, zones []string
	byName := false
	if p != nil {
		if p.ClusterSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
			if err != nil {
				return nil, err
			}
			selector = s
		}
		if p.Clusters != nil {
			byName = true
			for _, c := range p.Clusters {
				names = append(names, c.Name)
			}
		}
		zones = p.Zones
	}
	var out []*clusterv1alpha1.MemberCluster
	for _, mc := range clusters {
		if mc.DeletionTimestamp != nil ||
			(byName && !slices.Contains(names, mc.Name)) ||
			(len(zones) > 0 && !slices.Contains(zones, mc.Spec.Zone)) ||
			!selector.Matches(labels.Set(mc.Labels)) {
			continue
		}
		out = append(out, mc)
	}
	slices.SortFunc(out, func(a, b *clusterv1alpha1.MemberCluster) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Available tells whether a cluster may receive new revisions.
func Available(mc *clusterv1alpha1.MemberCluster) bool {
	return meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable)
}
