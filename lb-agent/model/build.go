package model

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Node is the edge node a state is built for.
type Node struct {
	// Group is the node's LoadBalancerGroup: only VirtualIPs naming it are served.
	Group string
	// Zone of the group: backends of this zone get the local weight.
	Zone string
}

// For builds the desired state of node from VirtualIPs (typically all of them:
// those not naming node.Group, and those being deleted, are ignored). An invalid
// VirtualIP is left out and reported in the returned error; the others are served.
// health gives the verdict of each probe.
func For(vips []*trafficv1alpha1.VirtualIP, node Node, health HealthFunc) (State, error) {
	return forEach(vips, node, func(obj *trafficv1alpha1.VirtualIP) (VIP, error) { return buildOne(obj, node, health) })
}

// serves tells whether the node serves obj: it names the node's group and
// is not being deleted.
func (n Node) serves(obj *trafficv1alpha1.VirtualIP) bool {
	return obj.DeletionTimestamp == nil && slices.Contains(obj.Spec.Groups, n.Group)
}

// buildOne builds the VIP of one VirtualIP naming node's group.
func buildOne(obj *trafficv1alpha1.VirtualIP, node Node, health HealthFunc) (VIP, error) {
	spec, err := parse(obj, node)
	if err != nil {
		return VIP{}, err
	}
	return spec.build(health), nil
}

// forEach builds the state from the VIP build gives for each VirtualIP naming
// node's group and not being deleted, in name order: of two claiming the same
// address, the first is served.
func forEach(vips []*trafficv1alpha1.VirtualIP, node Node, build func(*trafficv1alpha1.VirtualIP) (VIP, error)) (State, error) {
	var state State
	var errs []error
	seen := make(map[netip.Addr]string, len(vips))
	for _, obj := range sortedByName(vips) {
		if !node.serves(obj) {
			continue
		}
		vip, err := build(obj)
		if err == nil && seen[vip.Address] != "" {
			err = fmt.Errorf("address %s is also claimed by VirtualIP %s", vip.Address, seen[vip.Address])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("VirtualIP %s: %w", obj.Name, err))
			continue
		}
		seen[vip.Address] = obj.Name
		state.VIPs = append(state.VIPs, vip)
	}
	slices.SortFunc(state.VIPs, func(a, b VIP) int { return a.Address.Compare(b.Address) })
	return state, errors.Join(errs...)
}

func sortedByName(vips []*trafficv1alpha1.VirtualIP) []*trafficv1alpha1.VirtualIP {
	out := slices.Clone(vips)
	slices.SortFunc(out, func(a, b *trafficv1alpha1.VirtualIP) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// vipSpec is a validated VirtualIP as seen from one node.
type vipSpec struct {
	address  netip.Addr
	ports    []Key
	backends []backend
	// probe is the health check without its backend; nil when none can run.
	probe *Probe
}

type backend struct {
	address netip.Addr
	weight  int
	// drained backends have weight 0 and still keep their VIP announced, so
	// that their established connections continue.
	drained bool
}

// build applies the health verdicts: unhealthy backends get weight 0. A VIP
// is announced while a healthy backend has a weight or is drained (a drain
// of every backend keeps the established connections).
func (s vipSpec) build(health HealthFunc) VIP {
	v := VIP{Address: s.address}
	dests := make([]Destination, 0, len(s.backends))
	for _, b := range s.backends {
		verdict := Healthy
		if s.probe != nil {
			p := *s.probe
			p.Backend = netip.AddrPortFrom(b.address, s.probe.Backend.Port())
			v.Probes = append(v.Probes, p)
			verdict = health(p)
		}
		dests = append(dests, Destination{Address: b.address, Weight: weightFor(b.weight, verdict)})
		if verdict == Healthy {
			v.Healthy++
			v.Announce = v.Announce || b.weight > 0 || b.drained
		}
	}
	slices.SortFunc(dests, func(a, b Destination) int { return a.Address.Compare(b.Address) })
	fitMaglev(dests)
	for _, k := range s.ports {
		v.Services = append(v.Services, Service{Key: k, Destinations: slices.Clone(dests)})
	}
	sortServices(v.Services)
	return v
}

func weightFor(configured int, v Verdict) int {
	if v == Unhealthy {
		return 0
	}
	return configured
}

func parse(obj *trafficv1alpha1.VirtualIP, node Node) (vipSpec, error) {
	spec := obj.Spec
	if spec.Scheduler != "" && spec.Scheduler != trafficv1alpha1.SchedulerMaglev {
		return vipSpec{}, fmt.Errorf("scheduler %q is not supported (only %q)", spec.Scheduler, trafficv1alpha1.SchedulerMaglev)
	}
	if spec.Forwarding != "" && spec.Forwarding != trafficv1alpha1.ForwardingTunnel {
		return vipSpec{}, fmt.Errorf("forwarding %q is not supported (only %q)", spec.Forwarding, trafficv1alpha1.ForwardingTunnel)
	}
	addr, err := parseIPv4("address", spec.Address)
	if err != nil {
		return vipSpec{}, err
	}
	out := vipSpec{address: addr}
	if out.ports, err = parsePorts(addr, spec.Ports); err != nil {
		return vipSpec{}, err
	}
	if out.backends, err = parseBackends(spec, node.Zone); err != nil {
		return vipSpec{}, err
	}
	out.probe, err = parseProbe(spec.HealthCheck, out.ports)
	return out, err
}

// parseIPv4 accepts IPv4 unicast addresses only: forwarding is IPIP, an IPv4
// tunnel.
func parseIPv4(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s %q is not an IP address", field, s)
	}
	if !a.Is4() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("%s %s is not an IPv4 unicast address", field, s)
	}
	return a, nil
}

func parsePorts(vip netip.Addr, ports []trafficv1alpha1.Port) ([]Key, error) {
	if len(ports) == 0 {
		return nil, errors.New("no ports")
	}
	var keys []Key
	for i, p := range ports {
		proto := Protocol(p.Protocol)
		if proto == "" {
			proto = TCP
		}
		if proto != TCP && proto != UDP {
			return nil, fmt.Errorf("ports[%d]: protocol %q is not TCP or UDP", i, p.Protocol)
		}
		if p.Port < 1 || p.Port > 65535 {
			return nil, fmt.Errorf("ports[%d]: port %d is not in 1-65535", i, p.Port)
		}
		k := Key{VIP: vip, Port: uint16(p.Port), Protocol: proto}
		if slices.Contains(keys, k) {
			return nil, fmt.Errorf("ports[%d]: duplicate %s/%d", i, proto, p.Port)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseBackends weighs each backend: own zone localWeight, other zones
// remoteWeight; remote backends outside crossZone.remoteZones are left out.
// A drained backend (its own flag, or its zone in crossZone.drainedZones)
// gets weight 0: it keeps its established connections and gets no new ones.
func parseBackends(spec trafficv1alpha1.VirtualIPSpec, zone string) ([]backend, error) {
	local, remote, zones, err := crossZone(spec.CrossZone)
	if err != nil {
		return nil, err
	}
	var drainedZones []string
	if spec.CrossZone != nil {
		drainedZones = spec.CrossZone.DrainedZones
	}
	var out []backend
	seen := map[netip.Addr]bool{}
	for i, b := range spec.Backends {
		addr, err := parseIPv4("address", b.Address)
		if err != nil { // the field's name only now: this runs for every backend of every VIP
			return nil, fmt.Errorf("backends[%d].%w", i, err)
		}
		if seen[addr] {
			return nil, fmt.Errorf("backends[%d]: duplicate address %s", i, addr)
		}
		seen[addr] = true
		w := local
		if b.Zone != zone {
			if len(zones) > 0 && !slices.Contains(zones, b.Zone) {
				continue
			}
			w = remote
		}
		drained := b.Drained || slices.Contains(drainedZones, b.Zone)
		if drained {
			w = 0
		}
		out = append(out, backend{addr, w, drained})
	}
	return out, nil
}

func crossZone(cz *trafficv1alpha1.CrossZone) (local, remote int, zones []string, err error) {
	local, remote = trafficv1alpha1.DefaultLocalWeight, trafficv1alpha1.DefaultRemoteWeight
	if cz == nil {
		return local, remote, nil, nil
	}
	if cz.LocalWeight != nil {
		local = int(*cz.LocalWeight)
	}
	if cz.RemoteWeight != nil {
		remote = int(*cz.RemoteWeight)
	}
	if local < 0 || remote < 0 {
		return 0, 0, nil, fmt.Errorf("crossZone weights must not be negative (%d/%d)", local, remote)
	}
	return local, remote, cz.RemoteZones, nil
}

// parseProbe applies the health check's defaults. The probe's port defaults to
// the first TCP port; a VIP with UDP ports only and no explicit port has no probe.
func parseProbe(hc *trafficv1alpha1.HealthCheck, ports []Key) (*Probe, error) {
	if hc == nil {
		hc = &trafficv1alpha1.HealthCheck{}
	}
	p := Probe{
		Type:     ProbeType(hc.Type),
		Path:     hc.Path,
		Interval: durationOr(hc.Interval, trafficv1alpha1.DefaultHealthInterval),
		Timeout:  durationOr(hc.Timeout, trafficv1alpha1.DefaultHealthTimeout),
		Rise:     intOr(hc.HealthyThreshold, trafficv1alpha1.DefaultHealthThreshold),
		Fall:     intOr(hc.UnhealthyThreshold, trafficv1alpha1.DefaultHealthThreshold),
	}
	if err := validateProbe(&p); err != nil {
		return nil, fmt.Errorf("healthCheck: %w", err)
	}
	port := firstTCPPort(ports)
	if hc.Port != 0 {
		if hc.Port < 1 || hc.Port > 65535 {
			return nil, fmt.Errorf("healthCheck: port %d is not in 1-65535", hc.Port)
		}
		port = uint16(hc.Port)
	}
	if port == 0 {
		return nil, nil
	}
	p.Backend = netip.AddrPortFrom(netip.Addr{}, port)
	return &p, nil
}

func validateProbe(p *Probe) error {
	switch p.Type {
	case "":
		p.Type = ProbeTCP
	case ProbeTCP, ProbeHTTP:
	default:
		return fmt.Errorf("type %q is not tcp or http", p.Type)
	}
	if p.Type == ProbeHTTP && p.Path == "" {
		p.Path = "/"
	}
	if p.Interval <= 0 || p.Timeout <= 0 {
		return fmt.Errorf("interval (%v) and timeout (%v) must be positive", p.Interval, p.Timeout)
	}
	if p.Rise < 1 || p.Fall < 1 {
		return fmt.Errorf("thresholds (%d/%d) must be at least 1", p.Rise, p.Fall)
	}
	return nil
}

func firstTCPPort(keys []Key) uint16 {
	for _, k := range keys {
		if k.Protocol == TCP {
			return k.Port
		}
	}
	return 0
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration == 0 {
		return def
	}
	return d.Duration
}

func intOr(v *int32, def int) int {
	if v == nil {
		return def
	}
	return int(*v)
}
