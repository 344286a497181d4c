// Package model turns the VirtualIPs of a load-balancer group into the validated
// desired state of one edge node: the IPVS services it programs (one per
// VIP:port:protocol, with weighted destinations), the health probes it runs, and the
// VIPs it may announce. Everything downstream (dataplane, BGP, health checks) works
// on this model, never on API objects.
package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Protocol of a service.
type Protocol string

// Protocols.
const (
	TCP Protocol = "TCP"
	UDP Protocol = "UDP"
)

// Scheduler of every service: Maglev hashing. Forwarding is always IPIP (tunnel).
const Scheduler = "mh"

// Key identifies a service.
type Key struct {
	VIP      netip.Addr
	Port     uint16
	Protocol Protocol
}

// Service is one IPVS virtual service.
type Service struct {
	Key
	// Destinations, sorted by address.
	Destinations []Destination
}

// Destination is a backend of a service; weight 0 drains it (existing connections
// continue, new ones go elsewhere).
type Destination struct {
	Address netip.Addr
	Weight  int
}

// Verdict of a health probe.
type Verdict int

// Verdicts. A backend not checked yet is Unknown: it keeps its configured weight
// (so an agent restart does not drain anything) but does not make its VIP
// announced.
const (
	Unknown Verdict = iota
	Healthy
	Unhealthy
)

func (v Verdict) String() string {
	return [...]string{"Unknown", "Healthy", "Unhealthy"}[v]
}

// ProbeType is how a backend is checked.
type ProbeType string

// Probe types.
const (
	ProbeTCP  ProbeType = "tcp"
	ProbeHTTP ProbeType = "http"
)

// Probe is one health check of one backend. Identical probes of several VIPs are
// run once.
type Probe struct {
	Type     ProbeType
	Backend  netip.AddrPort
	Path     string
	Interval time.Duration
	Timeout  time.Duration
	// Rise successes make an unhealthy backend healthy, Fall failures a healthy
	// one unhealthy. The first result decides for a backend still Unknown.
	Rise, Fall int
}

// HealthFunc reports the verdict of a probe.
type HealthFunc func(Probe) Verdict

// VIP is the desired state of one virtual IP.
type VIP struct {
	Address  netip.Addr
	Services []Service
	// Probes of its backends; empty when nothing can be checked (backends count
	// as healthy then).
	Probes []Probe
	// Healthy is the number of backends passing their probe.
	Healthy int
	// Announce is true when at least one backend with a non-zero weight is
	// healthy.
	Announce bool
}

// State is the desired state of a node.
type State struct {
	// VIPs sorted by address.
	VIPs []VIP
}

// Services lists every service of every VIP, sorted by key.
func (s State) Services() []Service {
	var out []Service
	for _, v := range s.VIPs {
		out = append(out, v.Services...)
	}
	return out
}

// Probes lists every distinct probe.
func (s State) Probes() []Probe {
	seen := map[Probe]bool{}
	var out []Probe
	for _, v := range s.VIPs {
		for _, p := range v.Probes {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// Announced lists the VIPs to announce.
func (s State) Announced() []netip.Addr {
	var out []netip.Addr
	for _, v := range s.VIPs {
		if v.Announce {
			out = append(out, v.Address)
		}
	}
	return out
}

// CompareKeys orders services by VIP, protocol, then port.
func CompareKeys(a, b Key) int {
	if c := a.VIP.Compare(b.VIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

func sortServices(s []Service) {
	slices.SortFunc(s, func(a, b Service) int { return CompareKeys(a.Key, b.Key) })
}
