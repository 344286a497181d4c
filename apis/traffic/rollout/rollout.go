// Package rollout holds the pure logic of staged rollouts that the hub
// controller and kubectl-portico share: what content makes a revision, how a
// revision's content is identified, and how the placed clusters split into
// stages.
package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Content is the part of an access point's spec that makes a revision:
// everything rendered on the clusters (placement and rollout are not). The
// traffic policy (spec.locality, loadBalancer.crossZone.drainedZones) is not
// either: it applies to every cluster at once, like the VIP.
func Content(spec *trafficv1alpha1.FederatedAccessPointSpec) trafficv1alpha1.RevisionContent {
	out := trafficv1alpha1.RevisionContent{
		Hosts: append([]string(nil), spec.Hosts...), Template: *spec.Template.DeepCopy(),
		LoadBalancer: spec.LoadBalancer.DeepCopy(), TLS: spec.TLS.DeepCopy(),
	}
	if out.LoadBalancer != nil && out.LoadBalancer.CrossZone != nil {
		out.LoadBalancer.CrossZone.DrainedZones = nil
	}
	for _, o := range spec.Overrides {
		out.Overrides = append(out.Overrides, *o.DeepCopy())
	}
	return out
}

// ContentHash identifies a revision's content. It hashes a canonical JSON
// form (sorted keys, no spacing), so that the same template written with other
// spacing or key order is the same revision.
func ContentHash(c *trafficv1alpha1.RevisionContent) string {
	data, _ := json.Marshal(c)
	var canonical any
	if json.Unmarshal(data, &canonical) == nil {
		data, _ = json.Marshal(canonical)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:10]
}

// Stage is one stage of a rollout: its clusters, by name.
type Stage struct {
	Name     string
	Clusters []string
	Pause    bool
	Soak     time.Duration
}

// Stages splits the placed clusters into the rollout's stages. Each stage
// takes, among the clusters no earlier stage took (by name), those its terms
// select (they intersect; none selects all), at most count of them; clusters
// no stage takes join the last stage. AllAtOnce is one unnamed stage.
func Stages(r *trafficv1alpha1.RolloutSpec, placed []*clusterv1alpha1.MemberCluster) ([]Stage, error) {
	remaining := slices.Clone(placed)
	sort.Slice(remaining, func(i, j int) bool { return remaining[i].Name < remaining[j].Name })
	if r == nil || r.Strategy != trafficv1alpha1.RolloutStaged || len(r.Stages) == 0 {
		return []Stage{{Clusters: names(remaining)}}, nil
	}
	var out []Stage
	for i := range r.Stages {
		spec := &r.Stages[i]
		sel := labels.Everything()
		if spec.ClusterSelector != nil {
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(spec.ClusterSelector); err != nil {
				return nil, fmt.Errorf("stage %s: %w", spec.Name, err)
			}
		}
		var taken []*clusterv1alpha1.MemberCluster
		remaining = slices.DeleteFunc(remaining, func(mc *clusterv1alpha1.MemberCluster) bool {
			ok := (spec.Clusters == nil || slices.ContainsFunc(spec.Clusters, func(c trafficv1alpha1.ClusterReference) bool { return c.Name == mc.Name })) &&
				sel.Matches(labels.Set(mc.Labels)) &&
				(len(spec.Zones) == 0 || slices.Contains(spec.Zones, mc.Spec.Zone)) &&
				(spec.Count == nil || int32(len(taken)) < *spec.Count)
			if ok {
				taken = append(taken, mc)
			}
			return ok
		})
		out = append(out, Stage{Name: spec.Name, Clusters: names(taken), Pause: spec.Pause,
			Soak: time.Duration(spec.SoakSeconds) * time.Second})
	}
	out[len(out)-1].Clusters = append(out[len(out)-1].Clusters, names(remaining)...)
	return out, nil
}

func names(mcs []*clusterv1alpha1.MemberCluster) []string {
	out := make([]string, 0, len(mcs))
	for _, mc := range mcs {
		out = append(out, mc.Name)
	}
	return out
}
