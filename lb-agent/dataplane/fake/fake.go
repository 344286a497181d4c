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

// Dataplane remembers the last services it was given.
type Dataplane struct {
	mu       sync.Mutex
	services []model.Service
	calls    int
	// Err, when set, is returned by Set (which then programs nothing).
	Err error
}

// Set records services.
func (d *Dataplane) Set(_ context.Context, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.Err != nil {
		return dataplane.Status{}, d.Err
	}
	d.services = slices.Clone(services)
	st := dataplane.Status{Services: len(services)}
	for _, s := range services {
		st.Destinations += len(s.Destinations)
		if !slices.Contains(st.Ready, s.VIP) {
			st.Ready = append(st.Ready, s.VIP)
		}
	}
	return st, nil
}

// Services returns the last services set.
func (d *Dataplane) Services() []model.Service {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.services)
}

// Calls returns how many times Set was called.
func (d *Dataplane) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// VIPs returns the VIPs of the last services set.
func (d *Dataplane) VIPs() []netip.Addr {
	var out []netip.Addr
	for _, s := range d.Services() {
		if !slices.Contains(out, s.VIP) {
			out = append(out, s.VIP)
		}
	}
	return out
}
