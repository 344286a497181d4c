package model

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// FuzzFor builds a node's state from any list of VirtualIPs (JSON) with health
// verdicts that depend on the probe. For never panics and keeps its
// invariants: the same state whatever the order of the VirtualIPs; every
// VirtualIP of the node's group either served or reported; VIPs, services and
// destinations sorted and unique; weights the configured local or remote
// weight, or 0 for an unhealthy or drained backend; Healthy and Announce as
// the verdicts say (a healthy drained backend keeps its VIP announced);
// probes that can run. An Index gives the same state, built at once or
// through Updates.
func FuzzFor(f *testing.F) {
	two := `[{"metadata":{"name":"a"},"spec":{"address":"203.0.113.10","groups":["g"],"ports":[{"port":443},{"port":443,"protocol":"UDP"}],
	  "backends":[{"address":"10.1.0.2","zone":"z2"},{"address":"10.0.0.2","zone":"z1"},{"address":"10.2.0.2","zone":"z3"}],
	  "crossZone":{"localWeight":10,"remoteWeight":0,"remoteZones":["z2"],"drainedZones":["z3"]},"healthCheck":{"type":"http","interval":"1s"}}},
	 {"metadata":{"name":"b"},"spec":{"address":"203.0.113.9","groups":["g","h"],"ports":[{"port":53,"protocol":"UDP"}],
	  "backends":[{"address":"10.0.0.3","zone":"z1","drained":true},{"address":"10.1.0.3","zone":"z2"}]}}]`
	f.Add([]byte(two), "z1", uint8(0))
	f.Add([]byte(two), "z2", uint8(1))
	f.Add([]byte(`[{"metadata":{"name":"a"},"spec":{"address":"203.0.113.10","groups":["g"],"ports":[{"port":80}]}},`+
		`{"metadata":{"name":"b"},"spec":{"address":"203.0.113.10","groups":["g"],"ports":[{"port":80}]}}]`), "z1", uint8(2))
	f.Add([]byte(`[{"metadata":{"name":"x","deletionTimestamp":"2024-01-01T00:00:00Z"},"spec":{"address":"203.0.113.1","groups":["g"],"ports":[{"port":80}]}},`+
		`{"spec":{"address":"::1","groups":["g"],"scheduler":"rr","healthCheck":{"timeout":"-1s","healthyThreshold":0}}}]`), "", uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, zone string, salt uint8) {
		var vips []*trafficv1alpha1.VirtualIP
		if json.Unmarshal(data, &vips) != nil {
			return
		}
		vips = slices.DeleteFunc(vips, func(v *trafficv1alpha1.VirtualIP) bool { return v == nil })
		for i, v := range vips {
			v.Name = fmt.Sprintf("%s-%d", v.Name, i) // names are unique in the API
		}
		node := Node{Group: "g", Zone: zone}
		health := func(p Probe) Verdict {
			h := fnv.New32a()
			fmt.Fprint(h, p.Backend, salt)
			return Verdict(h.Sum32() % 3)
		}
		state, err := For(vips, node, health)
		reversed := slices.Clone(vips)
		slices.Reverse(reversed)
		again, errAgain := For(reversed, node, health)
		if !reflect.DeepEqual(state, again) || fmt.Sprint(err) != fmt.Sprint(errAgain) {
			t.Fatalf("the state depends on the order of the VirtualIPs:\n%+v, %v\n%+v, %v", state, err, again, errAgain)
		}
		checkIndex(t, vips, node, health, state, err)
		if served, reported := len(state.VIPs), countErrors(err); served+reported != relevant(vips, node) {
			t.Fatalf("%d VirtualIPs of group g, %d served, %d reported", relevant(vips, node), served, reported)
		}
		for i, v := range state.VIPs {
			if i > 0 && !state.VIPs[i-1].Address.Less(v.Address) {
				t.Fatalf("VIPs not sorted or not unique: %v, %v", state.VIPs[i-1].Address, v.Address)
			}
			checkVIP(t, v, specOf(vips, node, v.Address), node, health)
		}
	})
}

// checkIndex checks that an Index gives state and err for vips: built from
// them, and built from their first half, then updated with the second, with
// the first removed, and with the first added back.
func checkIndex(t *testing.T, vips []*trafficv1alpha1.VirtualIP, node Node, health HealthFunc, state State, err error) {
	t.Helper()
	same := func(step string, got State, gotErr error) {
		t.Helper()
		if !reflect.DeepEqual(state, got) || fmt.Sprint(err) != fmt.Sprint(gotErr) {
			t.Fatalf("%s: the Index's state differs from For's:\n%+v, %v\n%+v, %v", step, state, err, got, gotErr)
		}
	}
	var x Index
	got, gotErr := x.Build(vips, node, health, false)
	same("built at once", got, gotErr)
	half := len(vips) / 2
	byName := func(vips []*trafficv1alpha1.VirtualIP, gone bool) map[string]*trafficv1alpha1.VirtualIP {
		out := map[string]*trafficv1alpha1.VirtualIP{}
		for _, v := range vips {
			out[v.Name] = v
			if gone {
				out[v.Name] = nil
			}
		}
		return out
	}
	var y Index
	_, _ = y.Build(vips[:half], node, health, false)
	y.Update(byName(vips[half:], false), health)
	same("through an Update", y.State(), y.Err())
	y.Update(byName(vips[:half], true), health)
	y.Update(byName(vips[:half], false), health)
	same("with half removed and added back", y.State(), y.Err())
}

func countErrors(err error) int {
	if err == nil {
		return 0
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return len(joined.Unwrap())
	}
	return 1
}

// relevant counts the VirtualIPs the node serves or reports.
func relevant(vips []*trafficv1alpha1.VirtualIP, node Node) int {
	n := 0
	for _, v := range vips {
		if slices.Contains(v.Spec.Groups, node.Group) && v.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// specOf returns the spec the node served for address: the first by name.
func specOf(vips []*trafficv1alpha1.VirtualIP, node Node, address netip.Addr) *trafficv1alpha1.VirtualIPSpec {
	var found *trafficv1alpha1.VirtualIP
	for _, v := range vips {
		a, err := netip.ParseAddr(v.Spec.Address)
		if err != nil || a != address || relevant([]*trafficv1alpha1.VirtualIP{v}, node) == 0 {
			continue
		}
		if found == nil || v.Name < found.Name {
			found = v
		}
	}
	return &found.Spec
}

func checkVIP(t *testing.T, v VIP, spec *trafficv1alpha1.VirtualIPSpec, node Node, health HealthFunc) {
	t.Helper()
	local, remote := int32(trafficv1alpha1.DefaultLocalWeight), int32(trafficv1alpha1.DefaultRemoteWeight)
	if cz := spec.CrossZone; cz != nil {
		if cz.LocalWeight != nil {
			local = *cz.LocalWeight
		}
		if cz.RemoteWeight != nil {
			remote = *cz.RemoteWeight
		}
	}
	if len(v.Services) == 0 {
		t.Fatalf("VIP %v without services", v.Address)
	}
	for i, s := range v.Services {
		if s.VIP != v.Address || s.Port == 0 || (s.Protocol != TCP && s.Protocol != UDP) {
			t.Fatalf("service %+v of VIP %v", s.Key, v.Address)
		}
		if i > 0 && CompareKeys(v.Services[i-1].Key, s.Key) >= 0 {
			t.Fatalf("services not sorted or not unique: %+v, %+v", v.Services[i-1].Key, s.Key)
		}
		if !reflect.DeepEqual(s.Destinations, v.Services[0].Destinations) {
			t.Fatalf("services of VIP %v with different destinations", v.Address)
		}
	}
	probes := map[netip.Addr]Probe{}
	for _, p := range v.Probes {
		if p.Interval <= 0 || p.Timeout <= 0 || p.Rise < 1 || p.Fall < 1 || p.Backend.Port() == 0 ||
			(p.Type != ProbeTCP && p.Type != ProbeHTTP) || (p.Type == ProbeHTTP && p.Path == "") {
			t.Fatalf("probe that cannot run: %+v", p)
		}
		probes[p.Backend.Addr()] = p
	}
	healthy, announce := 0, false
	for i, d := range v.Services[0].Destinations {
		if i > 0 && !v.Services[0].Destinations[i-1].Address.Less(d.Address) {
			t.Fatalf("destinations not sorted or not unique: %v", v.Services[0].Destinations)
		}
		if !d.Address.Is4() {
			t.Fatalf("destination %v is not IPv4", d.Address)
		}
		verdict := Healthy
		if len(v.Probes) > 0 {
			p, ok := probes[d.Address]
			if !ok {
				t.Fatalf("destination %v without a probe", d.Address)
			}
			verdict = health(p)
		}
		configured, drained := configuredWeight(spec, d.Address, node, local, remote)
		want := configured
		if verdict == Unhealthy || drained {
			want = 0
		}
		if d.Weight != want {
			t.Fatalf("destination %v: weight %d, want %d (configured %d, %v)", d.Address, d.Weight, want, configured, verdict)
		}
		if verdict == Healthy {
			healthy++
			announce = announce || configured > 0 || drained
		}
	}
	if v.Healthy != healthy || v.Announce != announce {
		t.Fatalf("VIP %v: healthy %d announce %v, want %d %v", v.Address, v.Healthy, v.Announce, healthy, announce)
	}
}

// configuredWeight is the weight the spec gives the backend at addr on node,
// and whether it is drained (its own flag or its zone).
func configuredWeight(spec *trafficv1alpha1.VirtualIPSpec, addr netip.Addr, node Node, local, remote int32) (int, bool) {
	for _, b := range spec.Backends {
		if a, err := netip.ParseAddr(b.Address); err == nil && a == addr {
			drained := b.Drained || spec.CrossZone != nil && slices.Contains(spec.CrossZone.DrainedZones, b.Zone)
			if b.Zone == node.Zone {
				return int(local), drained
			}
			return int(remote), drained
		}
	}
	return -1, false
}
