package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// Guard holds a mass removal. The hub's data can be lost or replaced (a wiped
// volume, a wrong restore): the hub then lists none or few of the access points
// the agent serves, and applying that would delete the cluster's traffic config.
// When the access points that would lose their objects are at least Min and
// more than Fraction of those the agent has objects for, Guard holds the
// removal: nothing is deleted, the rest of the agent works on, and Current
// reports the hold until the removal is confirmed (Confirm with the hold's ID)
// or the situation reverts (the access points come back, or fewer go).
//
// An access point whose objects belong to an earlier ClusterAccessPoint of the
// same name that the hub lists again is being replaced, not removed: it does
// not count.
type Guard struct {
	// Fraction of the access points with objects in the cluster (0 < Fraction
	// <= 1) that may go at once without a hold; Min is the number of access
	// points below which a removal is never held.
	Fraction float64
	Min      int
	// Recheck is called when a current hold is confirmed, or the hub's
	// identity changes, to sweep again at once.
	Recheck func()
	// Known is the hub identity the agent last accepted (loaded at start);
	// Persist, when set, stores a newly accepted one.
	Known   string
	Persist func(identity string) error
	// Identity, when set, reads the hub's identity now (see
	// ObserveIdentity); it is called before a removal.
	Identity func(ctx context.Context) string

	mu        sync.Mutex
	hold      *Hold
	confirmed string
	// baseline is how many access points had objects when the guard last
	// settled; removed are the access points removed since.
	baseline int
	removed  map[string]bool
	// changed is the identity the hub reports when it differs from Known:
	// every removal is held until it is confirmed or a sweep finds nothing
	// to remove.
	changed string
	now     func() time.Time
}

// Hold is a held removal.
type Hold struct {
	// ID names the held set of access points; a confirmation names it.
	ID string
	// AccessPoints would lose their objects, of Managed with objects in the
	// cluster; Objects is how many objects they have.
	AccessPoints, Managed, Objects int
	// Examples are a few of the access points (label values), sorted.
	Examples []string
	Since    time.Time
	// FromIdentity and ToIdentity are set when the hold is due to a changed
	// hub identity.
	FromIdentity, ToIdentity string
}

// Message describes the hold for a condition.
func (h *Hold) Message() string {
	why := "the hub no longer lists them"
	if h.ToIdentity != "" {
		why = fmt.Sprintf("the hub no longer lists them, and its identity changed from %s to %s (wiped or restored data?)", h.FromIdentity, h.ToIdentity)
	}
	return fmt.Sprintf("holding the removal of %d objects of %d of the %d access points this cluster serves (%s): %s. "+
		"If that is intended, confirm with `kubectl portico confirm-removal <cluster>` (annotation %s=%s on the MemberCluster)",
		h.Objects, h.AccessPoints, h.Managed, strings.Join(h.Examples, ", "), why, ConfirmRemovalAnnotation, h.ID)
}

// ObserveIdentity takes the identity the hub reports (annotation
// AnnotationHubIdentity of the agent's MemberCluster; "" when unknown). The
// first one seen is accepted; a different one later holds every removal.
func (g *Guard) ObserveIdentity(identity string) {
	if g == nil || identity == "" {
		return
	}
	g.mu.Lock()
	before := g.changed
	switch {
	case g.Known == "":
		g.accept(identity)
	case identity == g.Known:
		g.changed = ""
	default:
		g.changed = identity
	}
	changed := g.changed != before
	g.mu.Unlock()
	if changed && g.Recheck != nil {
		g.Recheck()
	}
}

// Refresh observes the hub's identity now, when the guard can read it.
func (g *Guard) Refresh(ctx context.Context) {
	if g == nil || g.Identity == nil {
		return
	}
	g.ObserveIdentity(g.Identity(ctx))
}

// accept makes identity the known one; g.mu is held.
func (g *Guard) accept(identity string) {
	g.Known, g.changed = identity, ""
	if g.Persist != nil {
		if err := g.Persist(identity); err != nil {
			klog.ErrorS(err, "Storing the hub identity", "identity", identity)
		}
	}
}

// ConfirmRemovalAnnotation on a MemberCluster, set to a hold's ID, lets the
// agent carry out that removal.
const ConfirmRemovalAnnotation = "cluster.portico.dev/confirm-removal"

// Allow reports whether removing the objects of the access points gone (label
// values), out of managed access points with objects, may go ahead; objects
// is how many objects the gone ones have. Removals since the guard last
// settled count too, so that a hub losing its data in steps is held as well.
// A nil Guard allows everything.
func (g *Guard) Allow(gone []string, managed, objects int) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	all := map[string]bool{}
	for _, a := range gone {
		all[a] = true
	}
	for a := range g.removed {
		all[a] = true
	}
	total := max(g.baseline, managed+len(g.removed))
	few := len(all) < max(g.Min, 1) || float64(len(all)) <= g.Fraction*float64(total)
	if few && g.changed == "" {
		g.hold = nil
		g.remember(gone)
		return true
	}
	gone = slices.Sorted(slices.Values(gone))
	sum := sha256.Sum256([]byte(strings.Join(gone, "\n")))
	id := hex.EncodeToString(sum[:6])
	if g.confirmed == id {
		g.hold = nil
		g.remember(gone)
		if g.changed != "" {
			g.accept(g.changed)
		}
		return true
	}
	if g.hold == nil || g.hold.ID != id || g.hold.ToIdentity != g.changed {
		now := time.Now
		if g.now != nil {
			now = g.now
		}
		g.hold = &Hold{ID: id, AccessPoints: len(gone), Managed: managed, Objects: objects, Examples: gone[:min(len(gone), 5)], Since: now()}
		if g.changed != "" {
			g.hold.FromIdentity, g.hold.ToIdentity = g.Known, g.changed
		}
	}
	return false
}

func (g *Guard) remember(gone []string) {
	if g.removed == nil {
		g.removed = map[string]bool{}
	}
	for _, a := range gone {
		g.removed[a] = true
	}
}

// Settle records that nothing is left to remove and managed access points
// have objects: the hold is dropped, and later removals count from here.
func (g *Guard) Settle(managed int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.baseline, g.removed = nil, managed, nil
	// The new hub lists everything the agent has objects for.
	if g.changed != "" {
		g.accept(g.changed)
	}
}

// Current returns a copy of the current hold, nil when none.
func (g *Guard) Current() *Hold {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hold == nil {
		return nil
	}
	h := *g.hold
	return &h
}

// Confirm allows the removal whose hold has this ID.
func (g *Guard) Confirm(id string) {
	if g == nil || id == "" {
		return
	}
	g.mu.Lock()
	changed := g.confirmed != id
	g.confirmed = id
	held := g.hold != nil && g.hold.ID == id
	g.mu.Unlock()
	if changed && held && g.Recheck != nil {
		g.Recheck()
	}
}
