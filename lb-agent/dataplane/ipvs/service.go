package ipvs

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"syscall"

	libipvs "github.com/moby/ipvs"

	"github.com/portico-dev/portico/lb-agent/model"
)

// Service flags of the mh scheduler (include/uapi/linux/ip_vs.h IP_VS_SVC_F_SCHED1
// and _SCHED2, named mh-fallback and mh-port by ipvsadm), and the flag the kernel
// sets on every hashed service.
const (
	FlagMHFallback = 0x08
	FlagMHPort     = 0x10
	flagHashed     = 0x02
)

// CreateScheduler is the scheduler a service with several destinations is
// created with, before it is switched to model.Scheduler (see createOps):
// "none", no scheduler.
const CreateScheduler = "none"

// service is a kernel service as the dataplane knows it.
type service struct {
	sched   string
	flags   uint32 // without flagHashed
	timeout uint32
	dests   map[netip.AddrPort]dest
	// from is the desired service's destinations the kernel's service was
	// programmed from, or found equal to; nil (with fromSet false) after a
	// read-back until then.
	from    []model.Destination
	fromSet bool
}

// dest is a destination's programmable attributes.
type dest struct {
	weight       int
	fwd          uint32 // forwarding method (libipvs.ConnectionFlagFwdMask)
	upper, lower uint32 // connection thresholds
}

func fromKernel(svc *libipvs.Service, dests []*libipvs.Destination) *service {
	s := &service{sched: svc.SchedName, flags: svc.Flags &^ flagHashed, timeout: svc.Timeout,
		dests: make(map[netip.AddrPort]dest, len(dests))}
	for _, d := range dests {
		if a, ok := netip.AddrFromSlice(d.Address); ok {
			s.dests[netip.AddrPortFrom(a.Unmap(), d.Port)] = dest{weight: d.Weight,
				fwd: d.ConnectionFlags & libipvs.ConnectionFlagFwdMask, upper: d.UpperThreshold, lower: d.LowerThreshold}
		}
	}
	return s
}

// desiredService is what the kernel holds for want once it is programmed.
func desiredService(want model.Service) *service {
	s := &service{sched: model.Scheduler, flags: FlagMHFallback | FlagMHPort,
		dests: make(map[netip.AddrPort]dest, len(want.Destinations))}
	for _, d := range want.Destinations {
		s.dests[netip.AddrPortFrom(d.Address, want.Port)] = dest{weight: d.Weight, fwd: libipvs.ConnectionFlagTunnel}
	}
	return s
}

// programmed is what the kernel holds for want once it is programmed, and
// remembers want.
func programmed(want model.Service) *service {
	s := desiredService(want)
	s.from, s.fromSet = slices.Clone(want.Destinations), true
	return s
}

// programmedAs tells whether the kernel's service is want: compared with the
// destinations it was programmed from (cheap), or else attribute by attribute
// (after a read-back), remembering a match.
func (s *service) programmedAs(want model.Service) bool {
	if s.fromSet {
		return slices.Equal(s.from, want.Destinations)
	}
	if !s.equal(desiredService(want)) {
		return false
	}
	s.from, s.fromSet = slices.Clone(want.Destinations), true
	return true
}

func (s *service) sameAttributes(o *service) bool {
	return s.sched == o.sched && s.flags == o.flags && s.timeout == o.timeout
}

func (s *service) equal(o *service) bool {
	return s.sameAttributes(o) && maps.Equal(s.dests, o.dests)
}

// keyOf identifies a kernel service; false for services the model cannot
// describe (fwmark, IPv6, other protocols).
func keyOf(svc *libipvs.Service) (model.Key, bool) {
	addr, ok := netip.AddrFromSlice(svc.Address)
	if !ok || svc.FWMark != 0 || svc.AddressFamily != syscall.AF_INET {
		return model.Key{}, false
	}
	var proto model.Protocol
	switch svc.Protocol {
	case syscall.IPPROTO_TCP:
		proto = model.TCP
	case syscall.IPPROTO_UDP:
		proto = model.UDP
	default:
		return model.Key{}, false
	}
	return model.Key{VIP: addr.Unmap(), Port: svc.Port, Protocol: proto}, true
}

// toService is the kernel form of a service.
func toService(key model.Key) *libipvs.Service {
	proto := uint16(syscall.IPPROTO_TCP)
	if key.Protocol == model.UDP {
		proto = syscall.IPPROTO_UDP
	}
	return &libipvs.Service{
		AddressFamily: syscall.AF_INET,
		Address:       net.IP(key.VIP.AsSlice()),
		Protocol:      proto,
		Port:          key.Port,
		SchedName:     model.Scheduler,
		Flags:         FlagMHFallback | FlagMHPort,
		Netmask:       0xffffffff,
	}
}

func toDestination(ap netip.AddrPort, d dest) *libipvs.Destination {
	return &libipvs.Destination{
		AddressFamily:   syscall.AF_INET,
		Address:         net.IP(ap.Addr().AsSlice()),
		Port:            ap.Port(),
		Weight:          d.weight,
		ConnectionFlags: d.fwd,
		UpperThreshold:  d.upper,
		LowerThreshold:  d.lower,
	}
}

// readService reads one service back; nil when the kernel has none.
func readService(k Kernel, key model.Key) (*service, error) {
	svc, err := k.GetService(toService(key))
	if errors.Is(err, syscall.ESRCH) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading it back: %w", err)
	}
	dests, err := k.GetDestinations(svc)
	if err != nil {
		return nil, fmt.Errorf("reading its destinations back: %w", err)
	}
	return fromKernel(svc, dests), nil
}

// opsFor lists the writes that make the kernel's service key, which the
// kernel holds as have (nil: none), as want (nil: deleted), and returns what
// the kernel holds after them. A service is created with createSched (see
// createOps).
func opsFor(key model.Key, have *service, want *model.Service, createSched string) ([]Op, *service) {
	switch {
	case want == nil && have == nil:
		return nil, nil
	case want == nil:
		return []Op{{Kind: DelService, Service: toService(key)}}, nil
	case have == nil:
		return createOps(*want, createSched), programmed(*want)
	default:
		return updateOps(have, *want), programmed(*want)
	}
}

// createOps makes a new service. With two destinations or more it is created
// without a scheduler (createSched "none"), given its destinations, then
// switched to mh: ip_vs_mh builds its whole lookup table on every destination
// added to an mh service, so N destinations cost N builds, the switch one. The
// table is built from the same destination list either way, so it is the one
// N additions would have left, and the kernel holds the service
// ipvsadm-restore would make. Without a scheduler, not another one: a switch
// from a scheduler waits for an RCU grace period (synchronize_rcu in
// ip_vs_edit_service: 16 ms a service in the VM tier, against about 0.5 ms
// for a table build), a switch from none does not.
//
// Between the creation and the switch the service has no scheduler: the
// kernel answers a new connection to it with ICMP port unreachable, as it did
// before the service existed, so no connection is scheduled otherwise than by
// Maglev. A kernel that refuses a service without a scheduler (an old one)
// makes the dataplane create services as mh (createSched mh). Services that
// exist are never switched: their changes rebuild the table once per
// destination changed.
func createOps(want model.Service, createSched string) []Op {
	svc := toService(want.Key)
	if len(want.Destinations) >= 2 {
		svc.SchedName = createSched
	}
	ops := []Op{{Kind: NewService, Service: svc}}
	// In the model's order (by address), as ipvsadm-restore would add them:
	// the Maglev table depends on the order of the destination list.
	for _, d := range want.Destinations {
		ap := netip.AddrPortFrom(d.Address, want.Port)
		ops = append(ops, Op{Kind: NewDestination, Service: svc,
			Destination: toDestination(ap, dest{weight: d.Weight, fwd: libipvs.ConnectionFlagTunnel})})
	}
	if svc.SchedName != model.Scheduler {
		ops = append(ops, Op{Kind: UpdateService, Service: toService(want.Key)})
	}
	return ops
}

// updateOps changes an existing service's attributes and destinations, one
// write per difference.
func updateOps(have *service, want model.Service) []Op {
	got := desiredService(want)
	svc := toService(want.Key)
	var ops []Op
	if !have.sameAttributes(got) {
		ops = append(ops, Op{Kind: UpdateService, Service: svc})
	}
	for _, ap := range sortedDests(got) {
		w := got.dests[ap]
		switch h, ok := have.dests[ap]; {
		case !ok:
			ops = append(ops, Op{Kind: NewDestination, Service: svc, Destination: toDestination(ap, w)})
		case h != w:
			ops = append(ops, Op{Kind: UpdateDestination, Service: svc, Destination: toDestination(ap, w)})
		}
	}
	for _, ap := range sortedDests(have) {
		if _, ok := got.dests[ap]; !ok {
			ops = append(ops, Op{Kind: DelDestination, Service: svc, Destination: toDestination(ap, have.dests[ap])})
		}
	}
	return ops
}

// sortedDests lists the destinations of s in address order.
func sortedDests(s *service) []netip.AddrPort {
	return slices.SortedFunc(maps.Keys(s.dests), compareAddrPorts)
}
