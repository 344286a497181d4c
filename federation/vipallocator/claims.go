package vipallocator

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// claimTTL bounds how long an address is remembered as taken when the informer
// cache never shows its VirtualIP (created and deleted again before the cache saw
// it). Informers normally catch up within milliseconds.
const claimTTL = time.Minute

// claim is an address this allocator knows to be taken although its cache may not
// show it yet: a VirtualIP being created or just created, or one whose creation
// failed with AlreadyExists.
type claim struct {
	uid    types.UID // the access point holding it; empty when unknown
	holder string    // namespace/name of that access point; empty when unknown
	at     time.Time
}

// pruneLocked forgets claims that the cache now shows (it is authoritative from
// then on) and claims too old to matter. a.mu must be held.
func (a *Allocator) pruneLocked() {
	now := a.now()
	for x, c := range a.claims {
		if now.Sub(c.at) > claimTTL {
			delete(a.claims, x)
			continue
		}
		if _, err := a.vips.Get(fromUint32(x).String()); err == nil {
			delete(a.claims, x)
		}
	}
}

// claimLocked records x as taken by the access point uid (holder "ns/name").
// a.mu must be held.
func (a *Allocator) claimLocked(x uint32, uid types.UID, holder string) {
	a.claims[x] = claim{uid: uid, holder: holder, at: a.now()}
}

// markTaken records that x is held by someone this allocator does not know of.
func (a *Allocator) markTaken(x uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.claimLocked(x, "", "")
}

// claimedBy returns the addresses claimed for the access point uid, lowest first.
func (a *Allocator) claimedBy(uid types.UID) []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []uint32
	for x, c := range a.claims {
		if c.uid == uid {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// unclaim forgets x, after a failed creation or a deletion.
func (a *Allocator) unclaim(x uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.claims, x)
}
