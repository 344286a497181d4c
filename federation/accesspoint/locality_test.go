package accesspoint

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/traffic/istioschema"
)

// localityFAP routes to checkout (short name, covered by the template's
// DestinationRule, which sets its own outlier detection and a subset with a
// load balancer of its own) and to payments (no template DR covers it).
func localityFAP(mode string) *trafficv1alpha1.FederatedAccessPoint {
	fap := exampleFAP()
	fap.Spec.Locality = &trafficv1alpha1.LocalitySpec{Mode: mode}
	fap.Spec.Template.VirtualServices[0].Spec.Raw = []byte(`{"hosts":["checkout.example.com"],"gateways":["checkout"],
		"http":[{"match":[{"uri":{"prefix":"/pay"}}],"route":[{"destination":{"host":"payments.shop.svc.cluster.local"}}]},
		        {"route":[{"destination":{"host":"checkout","subset":"v1"},"weight":90},{"destination":{"host":"checkout"},"weight":10}]}]}`)
	fap.Spec.Template.DestinationRules[0].Spec.Raw = []byte(`{"host":"checkout.shop.svc.cluster.local",
		"trafficPolicy":{"loadBalancer":{"simple":"LEAST_REQUEST"},"outlierDetection":{"consecutive5xxErrors":3,"interval":"1s","baseEjectionTime":"1m"}},
		"subsets":[{"name":"v1","labels":{"version":"v1"},"trafficPolicy":{"loadBalancer":{"simple":"ROUND_ROBIN"}}}]}`)
	fap.Spec.Overrides = nil
	return fap
}

// threeZones: zone-a and zone-b in region r1, zone-c in r2.
func threeZones() []Locality {
	return []Locality{{Cluster: "zone-a-1", Region: "r1", Zone: "zone-a"}, {Cluster: "zone-b-1", Region: "r1", Zone: "zone-b"},
		{Cluster: "zone-c-1", Region: "r2", Zone: "zone-c"}}
}

// renderedDRs renders fap for cluster with the policy over placed and
// returns its DestinationRules by name, each checked against Istio's schema.
func renderedDRs(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, cluster string, placed []Locality) map[string]map[string]any {
	t.Helper()
	objs, err := RenderFor(fap, Target{Cluster: cluster, Locality: NewLocalityPolicy(&fap.Spec, placed)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, o := range objs {
		var r rendered
		if err := json.Unmarshal(o.Raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind != "DestinationRule" {
			continue
		}
		spec, _ := json.Marshal(r.Spec)
		if errs := istioschema.ValidateSpec(context.Background(), "DestinationRule", spec, field.NewPath("spec")); len(errs) > 0 {
			t.Fatalf("DestinationRule %s fails Istio's schema: %v\n%s", r.Metadata.Name, errs.ToAggregate(), spec)
		}
		checkIstiodRules(t, r.Metadata.Name, lbSetting(r.Spec))
		out[r.Metadata.Name] = r.Spec
	}
	return out
}

// checkIstiodRules checks a localityLbSetting against the rules istiod's
// validation adds to the CRD schema: one of distribute and failover;
// distribute weights 1-100 summing to 100 over localities without empty
// segments, a wildcard only at the end; failover between two different
// regions, without wildcards.
func checkIstiodRules(t *testing.T, name string, setting any) {
	t.Helper()
	s, _ := setting.(map[string]any)
	if s["distribute"] != nil && s["failover"] != nil {
		t.Fatalf("%s: distribute and failover both set: %s", name, asJSON(s))
	}
	locality := func(l string) {
		parts := strings.Split(l, "/")
		for i, p := range parts {
			if p == "" || strings.Contains(p, "*") && (p != "*" || i != len(parts)-1) {
				t.Fatalf("%s: locality %q", name, l)
			}
		}
	}
	for _, d := range items(s["distribute"]) {
		locality(d["from"].(string))
		sum := 0
		for l, w := range d["to"].(map[string]any) {
			locality(l)
			n := int(w.(float64))
			if n < 1 || n > 100 {
				t.Fatalf("%s: weight %d for %s", name, n, l)
			}
			sum += n
		}
		if sum != 100 {
			t.Fatalf("%s: distribute weights sum to %d", name, sum)
		}
	}
	for _, f := range items(s["failover"]) {
		from, to := f["from"].(string), f["to"].(string)
		if from == to || from == "" || to == "" || strings.ContainsAny(from+to, "/*") {
			t.Fatalf("%s: failover %s", name, asJSON(f))
		}
	}
}

// at walks a decoded JSON object along keys (string keys, int indexes).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func lbSetting(dr map[string]any) any {
	return at(dr, "trafficPolicy", "loadBalancer", "localityLbSetting")
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestLocalityFailover: every DestinationRule of a routed host gets failover
// from the cluster's own region (Istio's priorities put its zone first) and
// outlier detection; the template's own outlier detection, load balancer
// algorithm and subset stay, the subset's load balancer gets the setting too,
// and the host no template DR covers gets a DR of its own.
func TestLocalityFailover(t *testing.T) {
	fap := localityFAP(trafficv1alpha1.LocalityFailover)
	payments := localityName(fap, "payments.shop.svc.cluster.local")
	for cluster, want := range map[string]string{
		"zone-a-1": `{"enabled":true,"failover":[{"from":"r1","to":"r2"}]}`,
		"zone-b-1": `{"enabled":true,"failover":[{"from":"r1","to":"r2"}]}`,
		"zone-c-1": `{"enabled":true,"failover":[{"from":"r2","to":"r1"}]}`,
	} {
		drs := renderedDRs(t, fap, cluster, threeZones())
		if len(drs) != 2 || drs["checkout"] == nil || drs[payments] == nil {
			t.Fatalf("%s: DestinationRules %v, want checkout and %s", cluster, keys(drs), payments)
		}
		checkout := drs["checkout"]
		for _, got := range []any{lbSetting(checkout), lbSetting(drs[payments]), at(checkout, "subsets", 0, "trafficPolicy", "loadBalancer", "localityLbSetting")} {
			if asJSON(got) != want {
				t.Errorf("%s: localityLbSetting %s, want %s", cluster, asJSON(got), want)
			}
		}
		if got := asJSON(at(checkout, "trafficPolicy", "outlierDetection")); got != `{"baseEjectionTime":"1m","consecutive5xxErrors":3,"interval":"1s"}` {
			t.Errorf("%s: the template's outlierDetection changed: %s", cluster, got)
		}
		if at(checkout, "trafficPolicy", "loadBalancer", "simple") != "LEAST_REQUEST" || at(checkout, "subsets", 0, "name") != "v1" {
			t.Errorf("%s: the template's DR changed: %s", cluster, asJSON(checkout))
		}
		if at(drs[payments], "host") != "payments.shop.svc.cluster.local" || at(drs[payments], "trafficPolicy", "outlierDetection") == nil {
			t.Errorf("%s: Portico's DR %s", cluster, asJSON(drs[payments]))
		}
	}
	// One region: failover has nowhere to go; Istio's zone-then-region order stays.
	one := []Locality{{Cluster: "zone-a-1", Region: "r1", Zone: "zone-a"}, {Cluster: "zone-b-1", Region: "r1", Zone: "zone-b"}}
	if got := asJSON(lbSetting(renderedDRs(t, fap, "zone-a-1", one)["checkout"])); got != `{"enabled":true}` {
		t.Errorf("one region: %s", got)
	}
}

// TestLocalityWeighted: distribute from the cluster's locality with the
// crossZone weights as percentages; remoteZones limits the others.
func TestLocalityWeighted(t *testing.T) {
	fap := localityFAP(trafficv1alpha1.LocalityWeighted)
	want := map[string]string{
		"zone-a-1": `{"distribute":[{"from":"r1/zone-a/*","to":{"r1/zone-a/*":98,"r1/zone-b/*":1,"r2/zone-c/*":1}}],"enabled":true}`,
		"zone-c-1": `{"distribute":[{"from":"r2/zone-c/*","to":{"r1/zone-a/*":1,"r1/zone-b/*":1,"r2/zone-c/*":98}}],"enabled":true}`,
	}
	for cluster, w := range want {
		if got := asJSON(lbSetting(renderedDRs(t, fap, cluster, threeZones())["checkout"])); got != w {
			t.Errorf("%s: %s, want %s", cluster, got, w)
		}
	}
	ptr := func(v int32) *int32 { return &v }
	fap.Spec.LoadBalancer.CrossZone = &trafficv1alpha1.CrossZone{LocalWeight: ptr(3), RemoteWeight: ptr(1), RemoteZones: []string{"zone-c"}}
	if got := asJSON(lbSetting(renderedDRs(t, fap, "zone-a-1", threeZones())["checkout"])); got != `{"distribute":[{"from":"r1/zone-a/*","to":{"r1/zone-a/*":75,"r2/zone-c/*":25}}],"enabled":true}` {
		t.Errorf("3/1 to zone-c only: %s", got)
	}
}

// TestLocalityDrain: a drained zone (all its clusters drained, or listed in
// drainedZones) gets nothing; under Failover that is distribute too (Istio
// allows one of them). With every zone drained the mesh ignores the drains.
func TestLocalityDrain(t *testing.T) {
	fap := localityFAP(trafficv1alpha1.LocalityFailover)
	placed := threeZones()
	placed[1].Drained = true // zone-b-1
	for cluster, want := range map[string]string{
		"zone-a-1": `{"distribute":[{"from":"r1/zone-a/*","to":{"r1/zone-a/*":99,"r2/zone-c/*":1}}],"enabled":true}`,
		"zone-b-1": `{"distribute":[{"from":"r1/zone-b/*","to":{"r1/zone-a/*":50,"r2/zone-c/*":50}}],"enabled":true}`,
	} {
		if got := asJSON(lbSetting(renderedDRs(t, fap, cluster, placed)["checkout"])); got != want {
			t.Errorf("zone-b-1 drained, %s: %s, want %s", cluster, got, want)
		}
	}
	// A second, undrained cluster of zone-b keeps the zone in.
	withB2 := append(threeZones(), Locality{Cluster: "zone-b-2", Region: "r1", Zone: "zone-b"})
	withB2[1].Drained = true
	if got := asJSON(lbSetting(renderedDRs(t, fap, "zone-a-1", withB2)["checkout"])); got != `{"enabled":true,"failover":[{"from":"r1","to":"r2"}]}` {
		t.Errorf("zone-b half drained: %s", got)
	}
	fap.Spec.LoadBalancer.CrossZone = &trafficv1alpha1.CrossZone{DrainedZones: []string{"zone-c"}}
	if got := asJSON(lbSetting(renderedDRs(t, fap, "zone-c-1", threeZones())["checkout"])); got != `{"distribute":[{"from":"r2/zone-c/*","to":{"r1/zone-a/*":50,"r1/zone-b/*":50}}],"enabled":true}` {
		t.Errorf("zone-c in drainedZones: %s", got)
	}
	fap.Spec.LoadBalancer.CrossZone.DrainedZones = []string{"zone-a", "zone-b", "zone-c"}
	if got := asJSON(lbSetting(renderedDRs(t, fap, "zone-a-1", threeZones())["checkout"])); got != `{"distribute":[{"from":"r1/zone-a/*","to":{"r1/zone-a/*":98,"r1/zone-b/*":1,"r2/zone-c/*":1}}],"enabled":true}` {
		t.Errorf("every zone drained: %s", got)
	}
}

// TestLocalityNoneOrNoRegion: mode None, and a cluster without a region (no
// Istio locality), render exactly what Render does.
func TestLocalityNoneOrNoRegion(t *testing.T) {
	plain, err := Render(localityFAP(trafficv1alpha1.LocalityNone), "zone-a-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mode   string
		placed []Locality
	}{
		"None":      {trafficv1alpha1.LocalityNone, threeZones()},
		"no region": {trafficv1alpha1.LocalityFailover, []Locality{{Cluster: "zone-a-1", Zone: "zone-a"}, {Cluster: "zone-b-1", Region: "r1", Zone: "zone-b"}}},
	} {
		fap := localityFAP(tc.mode)
		got, err := RenderFor(fap, Target{Cluster: "zone-a-1", GatewayNamespace: "istio-system", Locality: NewLocalityPolicy(&fap.Spec, tc.placed)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sameObjects(plain, got) {
			t.Errorf("%s: rendered %s, want %s", name, manifests(got), manifests(plain))
		}
	}
}

// TestLocalityWildcardDR: a template DR with a wildcard host covers the
// routed hosts below it: no DR of Portico's shadows it.
func TestLocalityWildcardDR(t *testing.T) {
	fap := localityFAP(trafficv1alpha1.LocalityWeighted)
	fap.Spec.Template.DestinationRules[0].Spec.Raw = []byte(`{"host":"*.shop.svc.cluster.local"}`)
	drs := renderedDRs(t, fap, "zone-b-1", threeZones())
	if len(drs) != 1 || lbSetting(drs["checkout"]) == nil || at(drs["checkout"], "trafficPolicy", "outlierDetection") == nil {
		t.Fatalf("DestinationRules %v", drs)
	}
}

// TestPercentages: whatever the weights, Istio's rules hold: 1-100 each,
// 100 in all, the heaviest first to round up.
func TestPercentages(t *testing.T) {
	for _, weights := range [][]int32{{99, 1}, {1, 1, 1}, {65535, 1, 1, 1, 1}, {0, 5}, {7}} {
		p := &LocalityPolicy{Mode: trafficv1alpha1.LocalityWeighted, Local: weights[0], Remote: 1}
		if len(weights) > 1 {
			p.Remote = weights[1]
		}
		for i := range weights {
			p.Zones = append(p.Zones, ZoneLocality{Region: "r", Zone: string(rune('a' + i))})
		}
		to := p.distribute(p.Zones[0], true)
		sum := 0
		for _, v := range to {
			if v.(int) < 1 || v.(int) > 100 {
				t.Errorf("weights %v: %v out of 1-100 in %v", weights, v, to)
			}
			sum += v.(int)
		}
		if len(to) > 0 && sum != 100 {
			t.Errorf("weights %v: %v sums to %d", weights, to, sum)
		}
	}
	many := &LocalityPolicy{Local: 1, Remote: 1}
	for i := range 150 {
		many.Zones = append(many.Zones, ZoneLocality{Region: "r", Zone: string(rune(0x100 + i))})
	}
	if to := many.distribute(many.Zones[0], true); len(to) != 100 {
		t.Errorf("150 localities: %d get traffic, want Istio's 100 at most", len(to))
	}
}

// TestLocalityChangesTheRevision: the policy is part of what a cluster runs,
// so its agent reports it back.
func TestLocalityChangesTheRevision(t *testing.T) {
	fap := localityFAP(trafficv1alpha1.LocalityFailover)
	base := Revision(&fap.Spec, nil)
	p := NewLocalityPolicy(&fap.Spec, threeZones())
	if withPolicy(base, nil) != base || withPolicy(base, p) == base {
		t.Fatal("the policy must change the revision, and only when there is one")
	}
	drained := threeZones()
	drained[0].Drained = true
	if withPolicy(base, p) == withPolicy(base, NewLocalityPolicy(&fap.Spec, drained)) {
		t.Fatal("a drain must change the revision")
	}
	if !reflect.DeepEqual(p, NewLocalityPolicy(&fap.Spec, []Locality{threeZones()[2], threeZones()[0], threeZones()[1]})) {
		t.Fatal("the policy depends on the order of the clusters")
	}
}

// TestZoneWeights: the access point's status shows each zone's effective
// weight as the lb-agents apply it.
func TestZoneWeights(t *testing.T) {
	ptr := func(v int32) *int32 { return &v }
	spec := &trafficv1alpha1.VirtualIPSpec{
		Backends: []trafficv1alpha1.Backend{{Address: "10.0.0.1", Zone: "zone-a"}, {Address: "10.0.0.2", Zone: "zone-a", Drained: true},
			{Address: "10.1.0.1", Zone: "zone-b", Drained: true}, {Address: "10.2.0.1", Zone: "zone-c"}, {Address: "10.3.0.1", Zone: "zone-d"}},
		CrossZone: &trafficv1alpha1.CrossZone{LocalWeight: ptr(99), RemoteWeight: ptr(1), RemoteZones: []string{"zone-a", "zone-b", "zone-c"},
			DrainedZones: []string{"zone-c"}},
	}
	got := asJSON(zoneWeights(spec))
	want := `[{"zone":"zone-a","backends":2,"drainedBackends":1,"localWeight":99,"remoteWeight":1},` +
		`{"zone":"zone-b","backends":1,"drainedBackends":1,"localWeight":0,"remoteWeight":0},` +
		`{"zone":"zone-c","backends":1,"drainedBackends":1,"localWeight":0,"remoteWeight":0},` +
		`{"zone":"zone-d","backends":1,"localWeight":99,"remoteWeight":0}]`
	if got != want {
		t.Errorf("zone weights\n%s, want\n%s", got, want)
	}
}

// TestDrainedClusterBackends: the VirtualIP marks the backends of a drained
// cluster and of a drained zone, and the status shows the zone weights.
func TestDrainedClusterBackends(t *testing.T) {
	fap := newAccessPoint("checkout", "checkout.example.test", t0, "a", "b")
	fap.Spec.LoadBalancer = &trafficv1alpha1.LoadBalancerSpec{Pool: "public",
		Ports: []trafficv1alpha1.Port{{Name: "http", Port: 80, Protocol: trafficv1alpha1.ProtocolTCP}}}
	a := memberCluster("a", true)
	a.Spec.Drain = true
	pool := &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: []string{"203.0.113.0/24"}}}
	f := newFixture(t, fap, a, memberCluster("b", true), pool)
	f.mustSync("checkout")
	for cluster, addr := range map[string]string{"a": "10.0.0.1", "b": "10.1.0.1"} {
		f.agentReports("checkout", cluster, func(s *trafficv1alpha1.ClusterAccessPointStatus) {
			s.Gateway.Endpoints = []trafficv1alpha1.GatewayEndpoint{{Address: addr, Ready: true}}
		})
	}
	drained := func() string {
		f.vipBackends("checkout")
		vips, err := f.pc.TrafficV1alpha1().VirtualIPs().List(context.Background(), metav1.ListOptions{})
		f.check(err)
		var out []string
		for _, b := range vips.Items[0].Spec.Backends {
			if b.Drained {
				out = append(out, b.Cluster)
			}
		}
		return asJSON(out)
	}
	if got := drained(); got != `["a"]` {
		t.Fatalf("drained backends %s, want a's", got)
	}
	f.editAccessPoint("checkout", func(fap *trafficv1alpha1.FederatedAccessPoint) {
		fap.Spec.LoadBalancer.CrossZone = &trafficv1alpha1.CrossZone{DrainedZones: []string{"zone-b"}}
	})
	if got := drained(); got != `["a","b"]` {
		t.Fatalf("drained backends %s, want a's and zone-b's", got)
	}
	f.mustSync("checkout")
	zones := f.accessPoint("checkout").Status.VIP.Zones
	if len(zones) != 2 || zones[0].Zone != "zone-a" || zones[0].DrainedBackends != 1 || zones[0].LocalWeight != 0 || zones[1].DrainedBackends != 1 {
		t.Errorf("status.vip.zones %+v", zones)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
