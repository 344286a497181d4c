package rollout

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func TestStages(t *testing.T) {
	mc := func(name, zone string, lbls ...string) *clusterv1alpha1.MemberCluster {
		m := &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
			Spec: clusterv1alpha1.MemberClusterSpec{Zone: zone}}
		for i := 0; i+1 < len(lbls); i += 2 {
			m.Labels[lbls[i]] = lbls[i+1]
		}
		return m
	}
	placed := []*clusterv1alpha1.MemberCluster{mc("e", "z2"), mc("a", "z1", "ring", "0"), mc("c", "z1"), mc("b", "z2", "ring", "0"), mc("d", "z3")}
	two := int32(2)
	one := int32(1)
	for _, tc := range []struct {
		name    string
		rollout *trafficv1alpha1.RolloutSpec
		want    string
	}{
		{"no rollout", nil, "=a,b,c,d,e"},
		{"AllAtOnce", &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutAllAtOnce}, "=a,b,c,d,e"},
		{"by name, then the rest", &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutStaged, Stages: []trafficv1alpha1.RolloutStage{
			{Name: "canary", Clusters: []trafficv1alpha1.ClusterReference{{Name: "c"}}}, {Name: "rest"}}}, "canary=c rest=a,b,d,e"},
		{"selector, zones, count; leftovers join the last stage", &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutStaged, Stages: []trafficv1alpha1.RolloutStage{
			{Name: "ring0", ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ring": "0"}}, Count: &one},
			{Name: "z2", Zones: []string{"z2"}},
			{Name: "two", Count: &two}}}, "ring0=a z2=b,e two=c,d"},
		{"terms intersect", &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutStaged, Stages: []trafficv1alpha1.RolloutStage{
			{Name: "s1", Zones: []string{"z1"}, ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ring": "0"}}},
			{Name: "s2", Zones: []string{"z3"}}}}, "s1=a s2=d,b,c,e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stages, err := Stages(tc.rollout, placed)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range stages {
				got = append(got, s.Name+"="+strings.Join(s.Clusters, ","))
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("stages %q, want %q", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestContentHashIgnoresSpacingAndKeyOrder(t *testing.T) {
	a := trafficv1alpha1.FederatedAccessPointSpec{Hosts: []string{"web.example.test"}, Template: trafficv1alpha1.AccessPointTemplate{
		VirtualServices: []trafficv1alpha1.NamedTemplate{{Name: "web", Spec: trafficv1alpha1.JSONObject{Raw: []byte(`{"hosts":["web"],"http":[{"timeout":"1s"}]}`)}}}}}
	b := *a.DeepCopy()
	b.Template.VirtualServices[0].Spec.Raw = []byte(`{ "http": [ {"timeout": "1s"} ], "hosts": ["web"] }`)
	ca, cb := Content(&a), Content(&b)
	if ContentHash(&ca) != ContentHash(&cb) {
		t.Fatal("the same template written differently hashes differently")
	}
	b.Template.VirtualServices[0].Spec.Raw = []byte(`{"hosts":["web"],"http":[{"timeout":"2s"}]}`)
	cb = Content(&b)
	if ContentHash(&ca) == ContentHash(&cb) {
		t.Fatal("another timeout hashes the same")
	}
	b = *a.DeepCopy()
	b.Placement = &trafficv1alpha1.Placement{Zones: []string{"zone-a"}}
	b.Rollout = &trafficv1alpha1.RolloutSpec{Paused: true}
	cb = Content(&b)
	if ContentHash(&ca) != ContentHash(&cb) {
		t.Fatal("placement or rollout changed the revision's content")
	}
	// The traffic policy is not a revision: a drain must not wait for a stage.
	a.LoadBalancer = &trafficv1alpha1.LoadBalancerSpec{Pool: "p", CrossZone: &trafficv1alpha1.CrossZone{}}
	b = *a.DeepCopy()
	b.LoadBalancer.CrossZone.DrainedZones = []string{"zone-a"}
	b.Locality = &trafficv1alpha1.LocalitySpec{Mode: trafficv1alpha1.LocalityFailover}
	ca, cb = Content(&a), Content(&b)
	if ContentHash(&ca) != ContentHash(&cb) || len(b.LoadBalancer.CrossZone.DrainedZones) != 1 {
		t.Fatal("drained zones or spec.locality changed the revision's content, or Content changed the spec")
	}
}
