// Package ipvs is the lb-agent's IPVS dataplane: one IPVS virtual service per
// VIP:port:protocol with the Maglev hashing scheduler (mh, flags mh-port and
// mh-fallback) and IPIP (tunnel) destinations, and every VIP bound as a /32 on a
// dummy interface (portico0 by default).
//
// Set is declarative: it reads the kernel's services, computes the difference
// with the desired ones and applies only that. It never flushes, on start-up or
// otherwise, so established connections survive an agent restart.
//
// Ownership: the VIPs bound on the dummy interface are the ledger of what this
// dataplane owns. A VIP is bound before its first service is created and unbound
// only after its last service is deleted, so the ledger survives restarts and
// crashes. Set touches a kernel service only when its address is on the interface
// or desired; every other service (kube-proxy's, an operator's, fwmark services)
// is left alone. A service on a desired VIP:port:protocol is taken over.
//
// Drift repair: every Set compares the kernel's services (one netlink dump) with
// the desired ones. Destinations of a service are read back when the service
// changed since the last Set, and for all services at least every
// Options.VerifyInterval, so a destination changed behind the agent's back is
// repaired by the next Set after that interval.
package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	libipvs "github.com/moby/ipvs"

	"github.com/portico-dev/portico/lb-agent/dataplane"
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

// Defaults.
const (
	DefaultInterface      = "portico0"
	DefaultWorkers        = 4
	DefaultVerifyInterval = time.Minute
)

// Kernel is the part of IPVS the dataplane uses; *libipvs.Handle implements it.
type Kernel interface {
	GetServices() ([]*libipvs.Service, error)
	NewService(*libipvs.Service) error
	UpdateService(*libipvs.Service) error
	DelService(*libipvs.Service) error
	GetDestinations(*libipvs.Service) ([]*libipvs.Destination, error)
	NewDestination(*libipvs.Service, *libipvs.Destination) error
	UpdateDestination(*libipvs.Service, *libipvs.Destination) error
	DelDestination(*libipvs.Service, *libipvs.Destination) error
}

// Addresses binds VIPs locally. What it lists is what the dataplane owns.
type Addresses interface {
	List() ([]netip.Addr, error)
	Add(netip.Addr) error
	Del(netip.Addr) error
}

// Options of the IPVS dataplane.
type Options struct {
	// Interface is the dummy interface holding the VIPs; created when missing.
	Interface string
	// Netns is the path of the network namespace to program; empty for the
	// agent's own.
	Netns string
	// Workers is the number of netlink sockets used in parallel.
	Workers int
	// VerifyInterval bounds how long a destination changed outside the agent can
	// go unrepaired; 0 reads every destination back on every Set.
	VerifyInterval time.Duration
}

// Dataplane programs IPVS.
type Dataplane struct {
	kernels        []Kernel
	addrs          Addresses
	verifyInterval time.Duration
	close          func()

	mu sync.Mutex
	// programmed holds the destinations of each service as last set successfully.
	programmed map[model.Key][]model.Destination
	lastVerify time.Time
}

// New opens Options.Workers IPVS netlink sockets and a netlink handle for the
// interface in the namespace of opts.
func New(opts Options) (*Dataplane, error) {
	if opts.Interface == "" {
		opts.Interface = DefaultInterface
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	addrs, err := newLinkAddresses(opts.Interface, opts.Netns)
	if err != nil {
		return nil, err
	}
	handles := make([]*libipvs.Handle, 0, opts.Workers)
	closeAll := func() {
		for _, h := range handles {
			h.Close()
		}
		addrs.close()
	}
	for range opts.Workers {
		h, err := libipvs.New(opts.Netns)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("opening IPVS netlink socket (is the ip_vs module available?): %w", err)
		}
		handles = append(handles, h)
	}
	kernels := make([]Kernel, len(handles))
	for i, h := range handles {
		kernels[i] = h
	}
	d := NewWith(kernels, addrs, opts.VerifyInterval)
	d.close = closeAll
	return d, nil
}

// NewWith returns a dataplane on the given kernel handles (used in parallel) and
// addresses.
func NewWith(kernels []Kernel, addrs Addresses, verifyInterval time.Duration) *Dataplane {
	return &Dataplane{kernels: kernels, addrs: addrs, verifyInterval: verifyInterval, close: func() {}}
}

// Close releases the netlink sockets. The kernel state stays.
func (d *Dataplane) Close() { d.close() }

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Set makes IPVS serve exactly services and binds their VIPs; see the package
// documentation for what it touches.
func (d *Dataplane) Set(ctx context.Context, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	desired := index(services)
	bound, err := d.addrs.List()
	if err != nil {
		return dataplane.Status{}, fmt.Errorf("listing the VIPs bound locally: %w", err)
	}
	res := newResults()
	own := d.bind(desired, bound, res)
	have, err := d.kernels[0].GetServices()
	if err != nil {
		return dataplane.Status{}, fmt.Errorf("listing IPVS services: %w", err)
	}
	verify := d.verifyInterval <= 0 || time.Since(d.lastVerify) >= d.verifyInterval
	d.run(ctx, d.plan(desired, own, have, verify), desired, res)
	d.unbind(desired, bound, res)
	if verify && len(res.errs) == 0 {
		d.lastVerify = time.Now()
	}
	return res.status(desired), errors.Join(res.errs...)
}

// desiredState indexes the desired services.
type desiredState struct {
	services map[model.Key]model.Service
	vips     []netip.Addr
}

func index(services []model.Service) desiredState {
	s := desiredState{services: make(map[model.Key]model.Service, len(services))}
	for _, svc := range services {
		s.services[svc.Key] = svc
		if !slices.Contains(s.vips, svc.VIP) {
			s.vips = append(s.vips, svc.VIP)
		}
	}
	slices.SortFunc(s.vips, netip.Addr.Compare)
	return s
}

// bind binds new VIPs before their services exist and returns the VIPs owned:
// those bound. A VIP that cannot be bound gets no service (it would not be
// owned, so it could not be cleaned up later).
func (d *Dataplane) bind(desired desiredState, bound []netip.Addr, res *results) map[netip.Addr]bool {
	own := make(map[netip.Addr]bool, len(bound)+len(desired.vips))
	for _, vip := range bound {
		own[vip] = true
	}
	for _, vip := range desired.vips {
		if own[vip] {
			continue
		}
		err := d.addrs.Add(vip)
		res.record(vip, wrap(err, "binding %s", vip))
		own[vip] = err == nil
	}
	return own
}

// unbind releases VIPs no longer desired once none of their services is left.
func (d *Dataplane) unbind(desired desiredState, bound []netip.Addr, res *results) {
	for _, vip := range bound {
		if !slices.Contains(desired.vips, vip) && !res.failed[vip] {
			res.record(vip, wrap(d.addrs.Del(vip), "unbinding %s", vip))
		}
	}
}

// job is one service's reconciliation on one kernel handle.
type job struct {
	vip netip.Addr
	key model.Key
	run func(Kernel) error
}

// plan lists the work: delete owned services not desired, create missing ones,
// reconcile existing ones (their destinations unless known to match).
func (d *Dataplane) plan(desired desiredState, own map[netip.Addr]bool, have []*libipvs.Service, verify bool) []job {
	var jobs []job
	seen := map[model.Key]bool{}
	for _, svc := range have {
		key, ok := keyOf(svc)
		if !ok || !own[key.VIP] {
			continue
		}
		seen[key] = true
		want, ok := desired.services[key]
		switch {
		case !ok:
			jobs = append(jobs, job{key.VIP, key, func(k Kernel) error { return deleteService(k, svc) }})
		case verify || !sameService(svc, want) || !slices.Equal(d.programmed[key], want.Destinations):
			jobs = append(jobs, job{key.VIP, key, func(k Kernel) error { return reconcile(k, svc, want) }})
		}
	}
	for key, want := range desired.services {
		if !seen[key] && own[key.VIP] {
			jobs = append(jobs, job{key.VIP, key, func(k Kernel) error { return create(k, want) }})
		}
	}
	slices.SortFunc(jobs, func(a, b job) int { return model.CompareKeys(a.key, b.key) })
	return jobs
}

// run executes jobs on all kernel handles in parallel and records which
// services are now programmed as desired.
func (d *Dataplane) run(ctx context.Context, jobs []job, desired desiredState, res *results) {
	if d.programmed == nil {
		d.programmed = map[model.Key][]model.Destination{}
	}
	done := make([]bool, len(jobs))
	ch := make(chan int)
	var wg sync.WaitGroup
	for _, k := range d.kernels {
		wg.Go(func() {
			for i := range ch {
				err := jobs[i].run(k)
				res.record(jobs[i].vip, wrap(err, "service %s", keyString(jobs[i].key)))
				done[i] = err == nil
			}
		})
	}
	for i, j := range jobs {
		if err := ctx.Err(); err != nil {
			res.record(j.vip, err)
			continue
		}
		ch <- i
	}
	close(ch)
	wg.Wait()
	for i, j := range jobs {
		want, ok := desired.services[j.key]
		if done[i] && ok {
			d.programmed[j.key] = want.Destinations
		} else {
			delete(d.programmed, j.key)
		}
	}
}

// results collects errors per VIP; safe for concurrent use.
type results struct {
	mu     sync.Mutex
	errs   []error
	failed map[netip.Addr]bool
}

func newResults() *results { return &results{failed: map[netip.Addr]bool{}} }

func (r *results) record(vip netip.Addr, err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.failed[vip] = true
}

func (r *results) status(desired desiredState) dataplane.Status {
	var st dataplane.Status
	for _, svc := range desired.services {
		if !r.failed[svc.VIP] {
			st.Services++
			st.Destinations += len(svc.Destinations)
		}
	}
	for _, vip := range desired.vips {
		if !r.failed[vip] {
			st.Ready = append(st.Ready, vip)
		}
	}
	return st
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func keyString(k model.Key) string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.VIP, k.Port), k.Protocol)
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

// toService is the kernel form of a desired service.
func toService(s model.Service) *libipvs.Service {
	proto := uint16(syscall.IPPROTO_TCP)
	if s.Protocol == model.UDP {
		proto = syscall.IPPROTO_UDP
	}
	return &libipvs.Service{
		AddressFamily: syscall.AF_INET,
		Address:       net.IP(s.VIP.AsSlice()),
		Protocol:      proto,
		Port:          s.Port,
		SchedName:     model.Scheduler,
		Flags:         FlagMHFallback | FlagMHPort,
		Netmask:       0xffffffff,
	}
}

func toDestination(d model.Destination, port uint16) *libipvs.Destination {
	return &libipvs.Destination{
		AddressFamily:   syscall.AF_INET,
		Address:         net.IP(d.Address.AsSlice()),
		Port:            port,
		Weight:          d.Weight,
		ConnectionFlags: libipvs.ConnectionFlagTunnel,
	}
}

func sameService(have *libipvs.Service, want model.Service) bool {
	return have.SchedName == model.Scheduler && have.Flags&^flagHashed == FlagMHFallback|FlagMHPort &&
		have.Timeout == 0
}

func create(k Kernel, want model.Service) error {
	svc := toService(want)
	if err := k.NewService(svc); err != nil {
		return err
	}
	for _, d := range want.Destinations {
		if err := k.NewDestination(svc, toDestination(d, want.Port)); err != nil {
			return fmt.Errorf("adding destination %s: %w", d.Address, err)
		}
	}
	return nil
}

func deleteService(k Kernel, svc *libipvs.Service) error {
	return k.DelService(svc)
}

// reconcile fixes a service's scheduler and destinations.
func reconcile(k Kernel, have *libipvs.Service, want model.Service) error {
	svc := toService(want)
	if !sameService(have, want) {
		if err := k.UpdateService(svc); err != nil {
			return err
		}
	}
	dests, err := k.GetDestinations(svc)
	if err != nil {
		return fmt.Errorf("listing destinations: %w", err)
	}
	return syncDestinations(k, svc, want, dests)
}

func syncDestinations(k Kernel, svc *libipvs.Service, want model.Service, have []*libipvs.Destination) error {
	current := make(map[netip.AddrPort]*libipvs.Destination, len(have))
	for _, d := range have {
		if a, ok := netip.AddrFromSlice(d.Address); ok {
			current[netip.AddrPortFrom(a.Unmap(), d.Port)] = d
		}
	}
	for _, w := range want.Destinations {
		ap := netip.AddrPortFrom(w.Address, want.Port)
		h, ok := current[ap]
		delete(current, ap)
		var err error
		switch {
		case !ok:
			err = k.NewDestination(svc, toDestination(w, want.Port))
		case h.Weight != w.Weight || h.ConnectionFlags&libipvs.ConnectionFlagFwdMask != libipvs.ConnectionFlagTunnel:
			err = k.UpdateDestination(svc, toDestination(w, want.Port))
		}
		if err != nil {
			return fmt.Errorf("destination %s: %w", w.Address, err)
		}
	}
	for ap, d := range current {
		if err := k.DelDestination(svc, d); err != nil {
			return fmt.Errorf("deleting destination %s: %w", ap, err)
		}
	}
	return nil
}
