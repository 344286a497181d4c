// Package dataplane defines what the lb-agent needs from a dataplane: one
// declarative call that makes it serve exactly the desired services, and the
// same for some VIPs only, so that a change of one VIP among thousands costs
// what that VIP costs. The IPVS implementation is in dataplane/ipvs;
// dataplane/fake keeps the state in memory for tests and for the BGP peer tier
// (whose kernel has no IPVS).
package dataplane

import (
	"context"
	"net/netip"

	"github.com/portico-dev/portico/lb-agent/model"
)

// Dataplane programs services.
type Dataplane interface {
	// Set makes the dataplane serve exactly services (sorted by key; every VIP of
	// them bound locally) and leaves what it does not own alone. It reports what is
	// programmed even when it fails part-way.
	Set(ctx context.Context, services []model.Service) (Status, error)
	// Update is Set for the VIPs of vips only: it makes the dataplane serve
	// on each of them exactly the services of services on it (sorted by key),
	// none releasing the VIP, and leaves every other VIP as it is. Its Status
	// counts every service and destination programmed, and lists as Ready
	// those of vips only. A Set comes first.
	Update(ctx context.Context, vips []netip.Addr, services []model.Service) (Status, error)
}

// Status is what a dataplane serves after a Set.
type Status struct {
	// Services and Destinations programmed.
	Services, Destinations int
	// Ready lists the VIPs whose every service is programmed as desired and whose
	// address is bound: only those may be announced.
	Ready []netip.Addr
}
