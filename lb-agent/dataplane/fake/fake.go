// Package fake is an in-memory dataplane.
package fake

import (
	"context"
	"net/netip"
	"slices"
	"sync"

	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/model"
)

// Dataplane remembers the services it was given, by VIP.
type Dataplane struct {
	mu                     sync.Mutex
	vips                   map[netip.Addr][]model.Service
	services, destinations int
	calls                  int
	updates                []Update
	// Err, when set, is returned by Set and Update (which then program
	// nothing).
	Err error
}

// Update is the arguments of a call of Update.
type Update struct {
	VIPs     []netip.Addr
	Services []model.Service
}

// Set records services.
func (d *Dataplane) Set(_ context.Context, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.Err != nil {
		return dataplane.Status{}, d.Err
	}
	d.vips, d.services, d.destinations = map[netip.Addr][]model.Service{}, 0, 0
	return d.set(services), nil
}

// Update records services in place of those of vips.
func (d *Dataplane) Update(_ context.Context, vips []netip.Addr, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.updates = append(d.updates, Update{VIPs: slices.Clone(vips), Services: slices.Clone(services)})
	if d.Err != nil {
		return dataplane.Status{}, d.Err
	}
	if d.vips == nil {
		d.vips = map[netip.Addr][]model.Service{}
	}
	for _, vip := range vips {
		d.forget(vip)
	}
	return d.set(services), nil
}

// set records services, each VIP's in place of what it had, and reports them
// ready; d.mu is held.
func (d *Dataplane) set(services []model.Service) dataplane.Status {
	var st dataplane.Status
	seen := map[netip.Addr]bool{}
	for _, s := range services {
		if !seen[s.VIP] {
			seen[s.VIP] = true
			st.Ready = append(st.Ready, s.VIP)
			d.forget(s.VIP)
		}
		d.vips[s.VIP] = append(d.vips[s.VIP], s)
		d.services++
		d.destinations += len(s.Destinations)
	}
	st.Services, st.Destinations = d.services, d.destinations
	return st
}

// forget drops the services of vip; d.mu is held.
func (d *Dataplane) forget(vip netip.Addr) {
	for _, s := range d.vips[vip] {
		d.services--
		d.destinations -= len(s.Destinations)
	}
	delete(d.vips, vip)
}

// Services returns the services programmed, sorted by key.
func (d *Dataplane) Services() []model.Service {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []model.Service
	for _, svcs := range d.vips {
		out = append(out, svcs...)
	}
	slices.SortFunc(out, func(a, b model.Service) int { return model.CompareKeys(a.Key, b.Key) })
	return out
}

// Calls returns how many times Set and Update were called.
func (d *Dataplane) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// TakeUpdates returns the calls of Update since the last TakeUpdates.
func (d *Dataplane) TakeUpdates() []Update {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.updates
	d.updates = nil
	return out
}

// VIPs returns the VIPs programmed, sorted.
func (d *Dataplane) VIPs() []netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]netip.Addr, 0, len(d.vips))
	for vip := range d.vips {
		out = append(out, vip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
