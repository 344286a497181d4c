package accesspoint

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// spec.locality makes loadBalancer.crossZone's policy reach the mesh. Every
// DestinationRule of a host the cluster's VirtualServices route to (a
// template's, or one Portico renders when no template's host covers it) gets
// trafficPolicy.loadBalancer.localityLbSetting, and an outlierDetection when
// it has none (Istio fails over only from endpoints outlier detection
// ejects). An Istio locality is region/zone, from the MemberCluster's
// spec.region and spec.zone; a cluster without a region has none.
//
//   - Failover: enabled, and failover from the cluster's region to the next
//     region of the placed clusters (by name, wrapping around). Istio's own
//     priorities put the gateway's zone first, then the other zones of its
//     region, then that region, then the rest.
//   - Weighted: distribute from the cluster's locality: its own zone
//     localWeight, the other zones remoteWeight (those crossZone.remoteZones
//     allows), scaled to percentages (Istio wants 1-100, summing to 100).
//   - A drained zone (in crossZone.drainedZones, or all of its placed
//     clusters drained) counts as failed: it is left out of distribute, where
//     a locality left out gets nothing. Istio allows one of distribute and
//     failover, and failover cannot leave a locality out, so Failover with a
//     drained zone is rendered as Weighted until the drain ends. When every
//     zone is drained (a forced drain), the drains are ignored for the mesh.

// Locality is where one placed cluster is.
type Locality struct {
	Cluster, Region, Zone string
	// Drained is MemberCluster.spec.drain.
	Drained bool
}

// LocalityPolicy is an access point's spec.locality over its placed
// clusters. A nil policy renders nothing.
type LocalityPolicy struct {
	Mode          string
	Local, Remote int32
	RemoteZones   []string
	// Zones are the placed clusters' localities that have a region, sorted.
	Zones []ZoneLocality
	// Clusters maps each placed cluster with a region to its locality.
	Clusters map[string]ZoneLocality
}

// ZoneLocality is one Istio locality, region/zone.
type ZoneLocality struct {
	Region, Zone string
	Drained      bool
}

func (z ZoneLocality) String() string { return z.Region + "/" + z.Zone + "/*" }

// NewLocalityPolicy is spec.locality applied to the placed clusters; nil
// when the mode is None.
func NewLocalityPolicy(spec *trafficv1alpha1.FederatedAccessPointSpec, placed []Locality) *LocalityPolicy {
	if spec.Locality == nil || spec.Locality.Mode == "" || spec.Locality.Mode == trafficv1alpha1.LocalityNone {
		return nil
	}
	p := &LocalityPolicy{Mode: spec.Locality.Mode, Local: trafficv1alpha1.DefaultLocalWeight,
		Remote: trafficv1alpha1.DefaultRemoteWeight, Clusters: map[string]ZoneLocality{}}
	var drainedZones []string
	if lb := spec.LoadBalancer; lb != nil && lb.CrossZone != nil {
		cz := lb.CrossZone
		if cz.LocalWeight != nil {
			p.Local = *cz.LocalWeight
		}
		if cz.RemoteWeight != nil {
			p.Remote = *cz.RemoteWeight
		}
		p.RemoteZones, drainedZones = slices.Clone(cz.RemoteZones), cz.DrainedZones
	}
	// A zone is drained when listed, or when every placed cluster of it is.
	undrained := map[ZoneLocality]bool{}
	for _, l := range placed {
		if l.Region == "" {
			continue
		}
		z := ZoneLocality{Region: l.Region, Zone: l.Zone}
		p.Clusters[l.Cluster] = z
		undrained[z] = undrained[z] || !l.Drained && !slices.Contains(drainedZones, l.Zone)
	}
	for z, ok := range undrained {
		z.Drained = !ok
		p.Zones = append(p.Zones, z)
	}
	slices.SortFunc(p.Zones, func(a, b ZoneLocality) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Zone, b.Zone))
	})
	return p
}

// digest identifies what the policy renders, for the revision hash.
func (p *LocalityPolicy) digest() string {
	data, _ := json.Marshal(p)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// setting is the localityLbSetting of cluster's DestinationRules; nil when
// the cluster has no locality.
func (p *LocalityPolicy) setting(cluster string) map[string]any {
	self, ok := p.Clusters[cluster]
	if !ok {
		return nil
	}
	drained := slices.ContainsFunc(p.Zones, func(z ZoneLocality) bool { return z.Drained })
	if p.Mode == trafficv1alpha1.LocalityFailover && !drained {
		s := map[string]any{"enabled": true}
		if to := p.nextRegion(self.Region); to != "" {
			s["failover"] = []any{map[string]any{"from": self.Region, "to": to}}
		}
		return s
	}
	to := p.distribute(self, true)
	if len(to) == 0 { // every zone drained: the mesh ignores the drains
		to = p.distribute(self, false)
	}
	if len(to) == 0 {
		return map[string]any{"enabled": true}
	}
	return map[string]any{"enabled": true, "distribute": []any{map[string]any{"from": self.String(), "to": to}}}
}

// nextRegion is the region after region among the placed clusters' (by
// name, wrapping around), "" when there is no other.
func (p *LocalityPolicy) nextRegion(region string) string {
	var regions []string
	for _, z := range p.Zones {
		if !slices.Contains(regions, z.Region) {
			regions = append(regions, z.Region)
		}
	}
	if len(regions) < 2 {
		return ""
	}
	i := slices.Index(regions, region)
	return regions[(i+1)%len(regions)]
}

// distribute is the traffic split from self: its zone localWeight, the
// others remoteWeight (when remoteZones allows them), drained zones left out
// when skipDrained, as Istio percentages (each 1-100, summing to 100). At
// most 100 localities get traffic, the heaviest.
func (p *LocalityPolicy) distribute(self ZoneLocality, skipDrained bool) map[string]any {
	type share struct {
		to     string
		weight int64
	}
	var shares []share
	for _, z := range p.Zones {
		w := int64(p.Remote)
		if z.Region == self.Region && z.Zone == self.Zone {
			w = int64(p.Local)
		} else if len(p.RemoteZones) > 0 && !slices.Contains(p.RemoteZones, z.Zone) {
			w = 0
		}
		if w > 0 && !(skipDrained && z.Drained) {
			shares = append(shares, share{z.String(), w})
		}
	}
	slices.SortStableFunc(shares, func(a, b share) int { return cmp.Compare(b.weight, a.weight) })
	shares = shares[:min(len(shares), 100)]
	var total int64
	for _, s := range shares {
		total += s.weight
	}
	out := map[string]any{}
	left := 100
	for i, s := range shares {
		pct := max(1, int(s.weight*100/total))
		if rest := len(shares) - i - 1; pct > left-rest {
			pct = left - rest // keep at least 1 for each of the rest
		}
		out[s.to], left = pct, left-pct
	}
	if len(shares) > 0 { // rounding: the heaviest takes what is left
		out[shares[0].to] = out[shares[0].to].(int) + left
	}
	return out
}

// defaultOutlierDetection ejects an endpoint after 5 consecutive 5xx (or
// connection) errors, for 30s, and may eject all of a locality's endpoints,
// so that its traffic fails over.
func defaultOutlierDetection() map[string]any {
	return map[string]any{"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 100}
}

// localityRender applies the policy to one cluster's rendering: the
// template's DestinationRules (apply), then DRs for the hosts none of them
// covers (uncovered). A nil one changes nothing.
type localityRender struct {
	setting   map[string]any
	namespace string
	// hosts the VirtualServices route to, and whether a DR covers each.
	hosts   []string
	covered map[string]bool
}

func newLocalityRender(fap *trafficv1alpha1.FederatedAccessPoint, tmpl *trafficv1alpha1.AccessPointTemplate, target Target) *localityRender {
	if target.Locality == nil {
		return nil
	}
	setting := target.Locality.setting(target.Cluster)
	if setting == nil {
		return nil
	}
	return &localityRender{setting: setting, namespace: fap.Namespace,
		hosts: destinationHosts(tmpl.VirtualServices, fap.Namespace), covered: map[string]bool{}}
}

// apply sets the policy on a DestinationRule spec whose host covers a routed
// host; a DR that covers none is returned unchanged.
func (l *localityRender) apply(raw []byte) ([]byte, error) {
	if l == nil || len(l.hosts) == 0 {
		return raw, nil
	}
	dr, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	drHost, _ := dr["host"].(string)
	matched := false
	for _, h := range l.hosts {
		if covers(fqdn(drHost, l.namespace), h) {
			l.covered[h], matched = true, true
		}
	}
	if !matched {
		return raw, nil
	}
	applySetting(dr, l.setting)
	return json.Marshal(dr)
}

// uncovered are Portico's DestinationRules for the routed hosts no
// template DR covers, exported to exportTo.
func (l *localityRender) uncovered(fap *trafficv1alpha1.FederatedAccessPoint, exportTo []any) ([]trafficv1alpha1.JSONObject, error) {
	if l == nil {
		return nil, nil
	}
	var out []trafficv1alpha1.JSONObject
	for _, h := range l.hosts {
		if l.covered[h] {
			continue
		}
		dr := map[string]any{"host": h, "exportTo": exportTo}
		applySetting(dr, l.setting)
		spec, err := json.Marshal(dr)
		if err != nil {
			return nil, err
		}
		obj, err := istioObject(trafficv1alpha1.IstioNetworkingGroup, "DestinationRule", localityName(fap, h), fap.Namespace, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// decodeObject decodes a JSON object keeping numbers as they are written.
func decodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// applySetting sets the localityLbSetting of a DR's traffic policy, and of
// every port-level or subset policy with a loadBalancer of its own (which
// replaces the DR's), and the default outlierDetection when the DR has none.
func applySetting(dr map[string]any, setting map[string]any) {
	tp := child(dr, "trafficPolicy")
	child(tp, "loadBalancer")["localityLbSetting"] = setting
	if _, ok := tp["outlierDetection"]; !ok {
		tp["outlierDetection"] = defaultOutlierDetection()
	}
	nested := []map[string]any{}
	nested = append(nested, items(tp["portLevelSettings"])...)
	for _, s := range items(dr["subsets"]) {
		if stp, ok := s["trafficPolicy"].(map[string]any); ok {
			nested = append(nested, stp)
			nested = append(nested, items(stp["portLevelSettings"])...)
		}
	}
	for _, n := range nested {
		if lb, ok := n["loadBalancer"].(map[string]any); ok {
			lb["localityLbSetting"] = setting
		}
	}
}

// child returns m[key] as an object, creating it when absent.
func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

// items are the objects of a JSON list.
func items(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, i := range list {
		if m, ok := i.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// destinationHosts are the hosts the VirtualServices route to (http, tcp and
// tls routes), as fully qualified names, sorted and unique.
func destinationHosts(vss []trafficv1alpha1.NamedTemplate, namespace string) []string {
	var hosts []string
	for _, t := range vss {
		var vs map[string]any
		if json.Unmarshal(t.Spec.Raw, &vs) != nil {
			continue
		}
		for _, proto := range []string{"http", "tcp", "tls"} {
			for _, route := range items(vs[proto]) {
				for _, dest := range items(route["route"]) {
					d, _ := dest["destination"].(map[string]any)
					if h, _ := d["host"].(string); h != "" && !slices.Contains(hosts, fqdn(h, namespace)) {
						hosts = append(hosts, fqdn(h, namespace))
					}
				}
			}
		}
	}
	slices.Sort(hosts)
	return hosts
}

// fqdn resolves a short name (no dot) in namespace, as Istio does.
func fqdn(host, namespace string) string {
	if host == "" || strings.Contains(host, ".") || host == "*" {
		return host
	}
	return host + "." + namespace + ".svc.cluster.local"
}

// covers tells whether a DestinationRule host (maybe a wildcard) applies to
// host.
func covers(drHost, host string) bool {
	if drHost == host || drHost == "*" {
		return true
	}
	return strings.HasPrefix(drHost, "*.") && strings.HasSuffix(host, drHost[1:])
}

// localityName is the name of the DestinationRule Portico renders for host.
func localityName(fap *trafficv1alpha1.FederatedAccessPoint, host string) string {
	sum := sha256.Sum256([]byte(host))
	suffix := fmt.Sprintf("-locality-%x", sum[:4])
	name := fap.Name
	if len(name) > 253-len(suffix) {
		name = strings.TrimRight(name[:253-len(suffix)], ".")
	}
	return name + suffix
}
