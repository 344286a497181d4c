package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

var equateAddrs = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

var nodeA = Node{Group: "zone-a", Zone: "zone-a"}

func vip(addr string, mutate ...func(*trafficv1alpha1.VirtualIPSpec)) *trafficv1alpha1.VirtualIP {
	v := &trafficv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: addr},
		Spec: trafficv1alpha1.VirtualIPSpec{
			Address: addr,
			Ports:   []trafficv1alpha1.Port{{Name: "https", Port: 443, Protocol: "TCP"}},
			Backends: []trafficv1alpha1.Backend{
				{Address: "10.1.0.2", Zone: "zone-b"},
				{Address: "10.0.0.2", Zone: "zone-a"},
			},
			Groups: []string{"zone-a", "zone-b"},
		},
	}
	for _, m := range mutate {
		m(&v.Spec)
	}
	return v
}

func allHealthy(Probe) Verdict { return Healthy }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestWeightsByZone(t *testing.T) {
	state, err := For([]*trafficv1alpha1.VirtualIP{vip("203.0.113.10")}, nodeA, allHealthy)
	if err != nil {
		t.Fatal(err)
	}
	want := []Service{{
		Key: Key{VIP: addr("203.0.113.10"), Port: 443, Protocol: TCP},
		Destinations: []Destination{
			// 99/1 as the kernel's Maglev table can hold it (maglev.go).
			{Address: addr("10.0.0.2"), Weight: 63},
			{Address: addr("10.1.0.2"), Weight: 1},
		},
	}}
	if diff := cmp.Diff(want, state.Services(), equateAddrs); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	// The other zone's nodes weigh the same backends the other way round.
	stateB, _ := For([]*trafficv1alpha1.VirtualIP{vip("203.0.113.10")}, Node{Group: "zone-b", Zone: "zone-b"}, allHealthy)
	if got := stateB.Services()[0].Destinations; got[0].Weight != 1 || got[1].Weight != 63 {
		t.Errorf("zone-b weights: %+v", got)
	}
	if got := state.Announced(); len(got) != 1 || got[0] != addr("203.0.113.10") {
		t.Errorf("announced %v", got)
	}
}

func TestCrossZoneOverrides(t *testing.T) {
	w := func(i int32) *int32 { return &i }
	v := vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
		s.CrossZone = &trafficv1alpha1.CrossZone{LocalWeight: w(10), RemoteWeight: w(0), RemoteZones: []string{"zone-c"}}
		s.Backends = append(s.Backends, trafficv1alpha1.Backend{Address: "10.2.0.2", Zone: "zone-c"})
	})
	state, err := For([]*trafficv1alpha1.VirtualIP{v}, nodeA, allHealthy)
	if err != nil {
		t.Fatal(err)
	}
	// zone-b is not among remoteZones: left out.
	want := []Destination{{Address: addr("10.0.0.2"), Weight: 10}, {Address: addr("10.2.0.2"), Weight: 0}}
	if diff := cmp.Diff(want, state.Services()[0].Destinations, equateAddrs); diff != "" {
		t.Errorf("destinations (-want +got):\n%s", diff)
	}
}

func TestDrainedBackendsGetWeightZero(t *testing.T) {
	b := func(a, zone string, drained bool) trafficv1alpha1.Backend {
		return trafficv1alpha1.Backend{Address: a, Zone: zone, Drained: drained}
	}
	for _, tc := range []struct {
		name     string
		backends []trafficv1alpha1.Backend
		zones    []string // crossZone.drainedZones
		want     []int    // weights by address
	}{
		{"drained cluster", []trafficv1alpha1.Backend{b("10.0.0.2", "zone-a", true), b("10.0.0.3", "zone-a", false), b("10.1.0.2", "zone-b", false)},
			nil, []int{0, 63, 1}},
		{"drained remote zone", []trafficv1alpha1.Backend{b("10.0.0.2", "zone-a", false), b("10.1.0.2", "zone-b", false)},
			[]string{"zone-b"}, []int{99, 0}},
		{"drained own zone", []trafficv1alpha1.Backend{b("10.0.0.2", "zone-a", false), b("10.1.0.2", "zone-b", false)},
			[]string{"zone-a"}, []int{0, 1}},
	} {
		v := vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
			s.Backends, s.CrossZone = tc.backends, &trafficv1alpha1.CrossZone{DrainedZones: tc.zones}
		})
		state, err := For([]*trafficv1alpha1.VirtualIP{v}, nodeA, allHealthy)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, d := range state.Services()[0].Destinations {
			got = append(got, d.Weight)
		}
		if !slices.Equal(got, tc.want) || !state.VIPs[0].Announce {
			t.Errorf("%s: weights %v announced %v, want %v announced", tc.name, got, state.VIPs[0].Announce, tc.want)
		}
	}
	// Every backend drained (a forced drain): the VIP stays announced, so that
	// the established connections continue; no backend takes new ones.
	v := vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
		s.CrossZone = &trafficv1alpha1.CrossZone{DrainedZones: []string{"zone-a", "zone-b"}}
	})
	state, _ := For([]*trafficv1alpha1.VirtualIP{v}, nodeA, allHealthy)
	if d := state.Services()[0].Destinations; d[0].Weight != 0 || d[1].Weight != 0 || !state.VIPs[0].Announce {
		t.Errorf("all drained: %+v, announce %v", d, state.VIPs[0].Announce)
	}
	// A drained remote zone outside remoteZones stays out.
	v = vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
		s.CrossZone = &trafficv1alpha1.CrossZone{RemoteZones: []string{"zone-c"}, DrainedZones: []string{"zone-b"}}
	})
	state, _ = For([]*trafficv1alpha1.VirtualIP{v}, nodeA, allHealthy)
	if d := state.Services()[0].Destinations; len(d) != 1 || d[0].Weight != 99 {
		t.Errorf("remoteZones with a drained zone: %+v", d)
	}
}

func TestHealthVerdicts(t *testing.T) {
	verdicts := map[netip.Addr]Verdict{}
	health := func(p Probe) Verdict { return verdicts[p.Backend.Addr()] }
	v := []*trafficv1alpha1.VirtualIP{vip("203.0.113.10")}
	weights := func() (int, int, bool, int) {
		s, err := For(v, nodeA, health)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Services()[0].Destinations
		return d[0].Weight, d[1].Weight, s.VIPs[0].Announce, s.VIPs[0].Healthy
	}
	// 99/1 is 63/1 in the kernel's Maglev terms (maglev.go).
	for _, tc := range []struct {
		name           string
		local, remote  Verdict
		wantL, wantR   int
		announce       bool
		healthyBackend int
	}{
		{"unknown keeps weights, not announced", Unknown, Unknown, 63, 1, false, 0},
		{"unhealthy local drains", Unhealthy, Healthy, 0, 1, true, 1},
		{"all unhealthy", Unhealthy, Unhealthy, 0, 0, false, 0},
		{"healthy", Healthy, Healthy, 63, 1, true, 2},
		{"one known healthy", Healthy, Unknown, 63, 1, true, 1},
	} {
		verdicts[addr("10.0.0.2")], verdicts[addr("10.1.0.2")] = tc.local, tc.remote
		l, r, ann, healthy := weights()
		if l != tc.wantL || r != tc.wantR || ann != tc.announce || healthy != tc.healthyBackend {
			t.Errorf("%s: weights %d/%d announce %v healthy %d, want %d/%d %v %d",
				tc.name, l, r, ann, healthy, tc.wantL, tc.wantR, tc.announce, tc.healthyBackend)
		}
	}
}

func TestZeroWeightHealthyBackendDoesNotAnnounce(t *testing.T) {
	zero := int32(0)
	v := vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
		s.CrossZone = &trafficv1alpha1.CrossZone{RemoteWeight: &zero}
		s.Backends = s.Backends[:1] // the zone-b one
	})
	state, _ := For([]*trafficv1alpha1.VirtualIP{v}, nodeA, allHealthy)
	if state.VIPs[0].Announce {
		t.Error("a VIP whose only healthy backend has weight 0 is announced")
	}
}

func TestProbes(t *testing.T) {
	five := int32(5)
	vips := []*trafficv1alpha1.VirtualIP{
		vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
			s.Ports = []trafficv1alpha1.Port{{Port: 53, Protocol: "UDP"}, {Port: 80}}
		}),
		// Same backends, same check: the probes are shared.
		vip("203.0.113.11", func(s *trafficv1alpha1.VirtualIPSpec) { s.Ports[0].Port = 80 }),
		vip("203.0.113.12", func(s *trafficv1alpha1.VirtualIPSpec) {
			s.HealthCheck = &trafficv1alpha1.HealthCheck{Type: "http", Port: 8080, HealthyThreshold: &five,
				Interval: &metav1.Duration{Duration: time.Second}}
		}),
	}
	state, err := For(vips, nodeA, allHealthy)
	if err != nil {
		t.Fatal(err)
	}
	tcp := Probe{Type: ProbeTCP, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 2}
	http := Probe{Type: ProbeHTTP, Path: "/", Interval: time.Second, Timeout: time.Second, Rise: 5, Fall: 2}
	at := func(p Probe, ap string) Probe { p.Backend = netip.MustParseAddrPort(ap); return p }
	want := []Probe{
		at(tcp, "10.1.0.2:80"), at(tcp, "10.0.0.2:80"),
		at(http, "10.1.0.2:8080"), at(http, "10.0.0.2:8080"),
	}
	if diff := cmp.Diff(want, state.Probes(), equateAddrs); diff != "" {
		t.Errorf("probes (-want +got):\n%s", diff)
	}
}

func TestUDPOnlyHasNoProbeAndCountsHealthy(t *testing.T) {
	v := vip("203.0.113.10", func(s *trafficv1alpha1.VirtualIPSpec) {
		s.Ports = []trafficv1alpha1.Port{{Port: 53, Protocol: "UDP"}}
	})
	state, err := For([]*trafficv1alpha1.VirtualIP{v}, nodeA, func(Probe) Verdict { return Unhealthy })
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Probes()) != 0 || !state.VIPs[0].Announce || state.VIPs[0].Healthy != 2 {
		t.Errorf("UDP-only VIP: probes %v announce %v healthy %d", state.Probes(), state.VIPs[0].Announce, state.VIPs[0].Healthy)
	}
}

func TestSelectionAndOrder(t *testing.T) {
	deleting := vip("203.0.113.9")
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	vips := []*trafficv1alpha1.VirtualIP{
		vip("203.0.113.20", func(s *trafficv1alpha1.VirtualIPSpec) {
			s.Ports = []trafficv1alpha1.Port{{Port: 443}, {Port: 80}, {Port: 80, Protocol: "UDP"}}
		}),
		vip("203.0.113.3"),
		vip("203.0.113.4", func(s *trafficv1alpha1.VirtualIPSpec) { s.Groups = []string{"zone-b"} }),
		deleting,
	}
	state, err := For(vips, nodeA, allHealthy)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range state.Services() {
		got = append(got, s.VIP.String()+"/"+string(s.Protocol)+"/"+strconv.Itoa(int(s.Port)))
	}
	want := []string{"203.0.113.3/TCP/443", "203.0.113.20/TCP/80", "203.0.113.20/TCP/443", "203.0.113.20/UDP/80"}
	if diff := cmp.Diff(want, got, equateAddrs); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}

func TestInvalidVirtualIPsAreReportedAndSkipped(t *testing.T) {
	neg := int32(-1)
	bad := map[string]func(*trafficv1alpha1.VirtualIPSpec){
		"not an IP address":    func(s *trafficv1alpha1.VirtualIPSpec) { s.Address = "nope" },
		"not an IPv4 unicast":  func(s *trafficv1alpha1.VirtualIPSpec) { s.Address = "2001:db8::1" },
		"scheduler":            func(s *trafficv1alpha1.VirtualIPSpec) { s.Scheduler = "rr" },
		"forwarding":           func(s *trafficv1alpha1.VirtualIPSpec) { s.Forwarding = "masq" },
		"no ports":             func(s *trafficv1alpha1.VirtualIPSpec) { s.Ports = nil },
		"not in 1-65535":       func(s *trafficv1alpha1.VirtualIPSpec) { s.Ports[0].Port = 70000 },
		"not TCP or UDP":       func(s *trafficv1alpha1.VirtualIPSpec) { s.Ports[0].Protocol = "SCTP" },
		"duplicate TCP/443":    func(s *trafficv1alpha1.VirtualIPSpec) { s.Ports = append(s.Ports, s.Ports[0]) },
		"duplicate address":    func(s *trafficv1alpha1.VirtualIPSpec) { s.Backends[1].Address = "10.1.0.2" },
		"backends[0].address":  func(s *trafficv1alpha1.VirtualIPSpec) { s.Backends[0].Address = "10.1.0.256" },
		"must not be negative": func(s *trafficv1alpha1.VirtualIPSpec) { s.CrossZone = &trafficv1alpha1.CrossZone{LocalWeight: &neg} },
		"is not tcp or http":   func(s *trafficv1alpha1.VirtualIPSpec) { s.HealthCheck = &trafficv1alpha1.HealthCheck{Type: "icmp"} },
		"thresholds (0/2)": func(s *trafficv1alpha1.VirtualIPSpec) {
			z := int32(0)
			s.HealthCheck = &trafficv1alpha1.HealthCheck{HealthyThreshold: &z}
		},
		"healthCheck: port 700000": func(s *trafficv1alpha1.VirtualIPSpec) { s.HealthCheck = &trafficv1alpha1.HealthCheck{Port: 700000} },
	}
	for msg, mutate := range bad {
		state, err := For([]*trafficv1alpha1.VirtualIP{vip("203.0.113.10", mutate), vip("203.0.113.11")}, nodeA, allHealthy)
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "VirtualIP 203.0.113.10") {
			t.Errorf("%s: error %v", msg, err)
		}
		if len(state.VIPs) != 1 || state.VIPs[0].Address != addr("203.0.113.11") {
			t.Errorf("%s: the valid VirtualIP is not served alone: %+v", msg, state.VIPs)
		}
	}
}

func TestAddressClaimedTwice(t *testing.T) {
	other := vip("203.0.113.10")
	other.Name = "zz-other"
	state, err := For([]*trafficv1alpha1.VirtualIP{other, vip("203.0.113.10")}, nodeA, allHealthy)
	if err == nil || !strings.Contains(err.Error(), "VirtualIP zz-other: address 203.0.113.10 is also claimed by VirtualIP 203.0.113.10") {
		t.Errorf("error %v", err)
	}
	if len(state.VIPs) != 1 {
		t.Errorf("VIPs %+v", state.VIPs)
	}
}

// TestIndexRebuildsOnlyWhatChanged: an Index gives what For gives, after a
// Build and after each Update; it reads the verdicts only of the VirtualIPs
// whose spec changed, and of all after a Build without reuse or for another
// zone; an Update reports the VIPs served that changed.
func TestIndexRebuildsOnlyWhatChanged(t *testing.T) {
	vips := map[string]*trafficv1alpha1.VirtualIP{}
	for _, v := range []*trafficv1alpha1.VirtualIP{vip("203.0.113.10"), vip("203.0.113.11"), vip("203.0.113.12")} {
		vips[v.Name] = v
	}
	other := vip("203.0.113.10") // the same address under another name
	other.Name = "zzz"
	vips[other.Name] = other
	list := func() []*trafficv1alpha1.VirtualIP {
		var out []*trafficv1alpha1.VirtualIP
		for _, v := range vips {
			out = append(out, v)
		}
		return out
	}
	var reads []string
	verdicts := map[netip.Addr]Verdict{}
	health := func(p Probe) Verdict {
		reads = append(reads, p.Backend.Addr().String())
		return verdicts[p.Backend.Addr()]
	}
	var x Index
	same := func(step string, node Node, got State, gotErr error) {
		t.Helper()
		want, wantErr := For(list(), node, func(p Probe) Verdict { return verdicts[p.Backend.Addr()] })
		if diff := cmp.Diff(want, got, equateAddrs); diff != "" || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("%s: the Index's state differs from For's (-For +Index):\n%s\nerrors %v, %v", step, diff, wantErr, gotErr)
		}
	}
	build := func(step string, node Node, reuse bool, wantReads int) {
		t.Helper()
		reads = nil
		got, err := x.Build(list(), node, health, reuse)
		if len(reads) != wantReads {
			t.Errorf("%s: %d verdicts read, want %d", step, len(reads), wantReads)
		}
		same(step, node, got, err)
	}
	update := func(step string, changed map[string]*trafficv1alpha1.VirtualIP, wantReads int, want ...string) {
		t.Helper()
		for name, v := range changed {
			if v == nil {
				delete(vips, name)
			} else {
				vips[name] = v
			}
		}
		reads = nil
		var got []string
		for _, c := range x.Update(changed, health) {
			got = append(got, fmt.Sprintf("%s %v->%v", c.Address, c.Old != nil, c.New != nil))
			if served := slices.IndexFunc(x.State().VIPs, func(v VIP) bool { return v.Address == c.Address }); (served >= 0) != (c.New != nil) {
				t.Errorf("%s: change %s, served %v", step, got[len(got)-1], served >= 0)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: changes %v, want %v", step, got, want)
		}
		if len(reads) != wantReads {
			t.Errorf("%s: %d verdicts read, want %d", step, len(reads), wantReads)
		}
		same(step, nodeA, x.State(), x.Err())
	}
	build("first build", nodeA, true, 8) // 4 VirtualIPs of 2 backends
	build("nothing changed", nodeA, true, 0)

	drained := vips["203.0.113.11"].DeepCopy()
	drained.Spec.Backends[0].Drained = true
	update("one backend drained", map[string]*trafficv1alpha1.VirtualIP{drained.Name: drained}, 2, "203.0.113.11 true->true")
	relabeled := drained.DeepCopy()
	relabeled.Labels = map[string]string{"a": "b"}
	update("the same spec", map[string]*trafficv1alpha1.VirtualIP{relabeled.Name: relabeled}, 0)
	update("the served claim of an address removed", map[string]*trafficv1alpha1.VirtualIP{"203.0.113.10": nil}, 0,
		"203.0.113.10 true->true") // zzz served now
	invalid := vip("203.0.113.13", func(s *trafficv1alpha1.VirtualIPSpec) { s.Ports = nil })
	update("an invalid VirtualIP added", map[string]*trafficv1alpha1.VirtualIP{invalid.Name: invalid}, 0)
	if err := x.Err(); err == nil || !strings.Contains(err.Error(), "VirtualIP 203.0.113.13: no ports") {
		t.Errorf("errors %v", err)
	}
	moved := vips["203.0.113.12"].DeepCopy()
	moved.Spec.Address = "203.0.113.14"
	left := vips["zzz"].DeepCopy()
	left.Spec.Groups = []string{"zone-b"}
	added := vip("203.0.113.15")
	added.Name = "new"
	update("a VirtualIP moved, one left the group, one came and one went",
		map[string]*trafficv1alpha1.VirtualIP{moved.Name: moved, left.Name: left, added.Name: added, "gone": nil}, 4,
		"203.0.113.10 true->false", "203.0.113.12 true->false", "203.0.113.14 false->true", "203.0.113.15 false->true")

	verdicts[addr("10.0.0.2")] = Unhealthy
	build("without reuse", nodeA, false, 6)
	build("another zone", Node{Group: "zone-a", Zone: "zone-b"}, true, 6)
}
