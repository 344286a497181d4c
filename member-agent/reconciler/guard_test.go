package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestMassRemovalIsHeld: when the hub stops listing most access points (a
// wiped hub), their objects stay until the hold is confirmed; one access point
// deleted among several goes at once; the access points coming back release
// the hold without deleting anything.
func TestMassRemovalIsHeld(t *testing.T) {
	var caps []*trafficv1alpha1.ClusterAccessPoint
	for i := 0; i < 6; i++ {
		caps = append(caps, newCAP(fmt.Sprintf("shop.web%d", i), "rev1", manifest("Gateway", fmt.Sprintf("web%d", i)), manifest("VirtualService", fmt.Sprintf("web%d", i))))
	}
	e := newEnv(t, caps...)
	confirmed := 0
	g := &Guard{Fraction: 0.5, Min: 3}
	e.r.SetGuard(g)
	g.Recheck = func() { confirmed++ }
	ctx := context.Background()
	for _, c := range caps {
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.applier.objects) != 12 {
		t.Fatalf("applied %d objects, want 12", len(e.applier.objects))
	}

	// One access point of six goes: not held.
	_ = e.indexer.Delete(caps[0])
	if err := e.r.reconcile(ctx, caps[0].Name); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 10 || g.Current() != nil {
		t.Fatalf("deleting one access point of six: %d objects left (want 10), hold %+v", len(e.applier.objects), g.Current())
	}

	// The hub lists none of the other five (the agent's cache relists an
	// empty hub): held, for each of them and in the sweep.
	for _, c := range caps[1:] {
		_ = e.indexer.Delete(c)
	}
	for _, c := range caps[1:] {
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	hold := g.Current()
	if len(e.applier.objects) != 10 || hold == nil {
		t.Fatalf("the hub lost every access point: %d objects left (want 10 kept), hold %+v", len(e.applier.objects), hold)
	}
	if hold.AccessPoints != 5 || hold.Managed != 5 || hold.Objects != 10 || !strings.Contains(hold.Message(), hold.ID) {
		t.Errorf("hold %+v (%s): want 5 of 5 access points, 10 objects, the ID in the message", hold, hold.Message())
	}

	// Another ID confirms nothing.
	g.Confirm("not-this-one")
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 10 || confirmed != 0 {
		t.Fatalf("a confirmation of another hold removed objects: %d left", len(e.applier.objects))
	}

	// The access points come back (a restore): released, nothing deleted.
	for _, c := range caps[1:] {
		_ = e.indexer.Add(c)
	}
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 10 || g.Current() != nil {
		t.Fatalf("after the access points came back: %d objects (want 10), hold %+v", len(e.applier.objects), g.Current())
	}

	// Gone again, then confirmed: removed.
	for _, c := range caps[1:] {
		_ = e.indexer.Delete(c)
	}
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	hold = g.Current()
	if hold == nil {
		t.Fatal("no hold")
	}
	g.Confirm(hold.ID)
	if confirmed != 1 {
		t.Errorf("confirming the current hold called Recheck %d times, want 1", confirmed)
	}
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 0 || g.Current() != nil {
		t.Fatalf("after confirming: %d objects left, hold %+v", len(e.applier.objects), g.Current())
	}
}

// TestRemovalsInStepsAreHeld: a hub that loses its access points a few at a
// time is held once the removals since the last settled sweep pass the
// threshold.
func TestRemovalsInStepsAreHeld(t *testing.T) {
	var caps []*trafficv1alpha1.ClusterAccessPoint
	for i := 0; i < 6; i++ {
		caps = append(caps, newCAP(fmt.Sprintf("shop.web%d", i), "rev1", manifest("Gateway", fmt.Sprintf("web%d", i))))
	}
	e := newEnv(t, caps...)
	g := &Guard{Fraction: 0.5, Min: 3}
	e.r.SetGuard(g)
	ctx := context.Background()
	for _, c := range caps {
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.r.reconcile(ctx, orphanKey); err != nil { // settles: 6 access points
		t.Fatal(err)
	}
	for i, c := range caps[:4] {
		_ = e.indexer.Delete(c)
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
		held := g.Current() != nil
		if want := i == 3; held != want {
			t.Fatalf("after removing %d of 6 access points one at a time: held %v, want %v", i+1, held, want)
		}
	}
	if len(e.applier.objects) != 3 {
		t.Fatalf("%d objects left, want 3 (three removed, the fourth held)", len(e.applier.objects))
	}
}

// TestReplacedAccessPointIsNotHeld: objects of earlier ClusterAccessPoints
// whose names the hub lists again (new UIDs, as after a restore that
// re-created them) are replaced without a hold.
func TestReplacedAccessPointIsNotHeld(t *testing.T) {
	var caps []*trafficv1alpha1.ClusterAccessPoint
	for i := 0; i < 4; i++ {
		caps = append(caps, newCAP(fmt.Sprintf("shop.web%d", i), "rev1", manifest("Gateway", fmt.Sprintf("web%d", i))))
	}
	e := newEnv(t, caps...)
	g := &Guard{Fraction: 0.5, Min: 3}
	e.r.SetGuard(g)
	ctx := context.Background()
	for _, c := range caps {
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range caps {
		_ = e.indexer.Delete(c)
		n := c.DeepCopy()
		n.UID = "new-" + c.UID
		_ = e.indexer.Add(n)
	}
	for _, c := range caps {
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	if g.Current() != nil {
		t.Fatalf("replacing access points was held: %+v", g.Current())
	}
	for _, o := range e.applier.objects {
		if !strings.HasPrefix(o.OwnerUID, "new-") {
			t.Errorf("object %s still owned by %s", o.Ref, o.OwnerUID)
		}
	}
}

// TestIdentityChangeHoldsEveryRemoval: after the hub's identity changed, even
// one removal is held until confirmed; the confirmation accepts (and stores)
// the new identity. A sweep that finds nothing to remove accepts it too.
func TestIdentityChangeHoldsEveryRemoval(t *testing.T) {
	var caps []*trafficv1alpha1.ClusterAccessPoint
	for i := 0; i < 6; i++ {
		caps = append(caps, newCAP(fmt.Sprintf("shop.web%d", i), "rev1", manifest("Gateway", fmt.Sprintf("web%d", i))))
	}
	e := newEnv(t, caps...)
	var stored []string
	hub := "hub-a"
	g := &Guard{Fraction: 0.5, Min: 3, Persist: func(id string) error { stored = append(stored, id); return nil },
		Identity: func(context.Context) string { return hub }}
	e.r.SetGuard(g)
	ctx := context.Background()
	for _, c := range caps {
		if err := e.r.reconcile(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	g.ObserveIdentity(hub)
	if g.Known != "hub-a" || len(stored) != 1 {
		t.Fatalf("the first identity was not accepted: known %q, stored %v", g.Known, stored)
	}

	hub = "hub-b"
	_ = e.indexer.Delete(caps[0])
	if err := e.r.reconcile(ctx, caps[0].Name); err != nil {
		t.Fatal(err)
	}
	hold := g.Current()
	if hold == nil || len(e.applier.objects) != 6 {
		t.Fatalf("one removal after the identity changed: hold %+v, %d objects (want held, 6)", hold, len(e.applier.objects))
	}
	if hold.FromIdentity != "hub-a" || hold.ToIdentity != "hub-b" || !strings.Contains(hold.Message(), "identity changed from hub-a to hub-b") {
		t.Errorf("hold %+v: %s", hold, hold.Message())
	}
	g.Confirm(hold.ID)
	if err := e.r.reconcile(ctx, caps[0].Name); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 5 || g.Known != "hub-b" || stored[len(stored)-1] != "hub-b" {
		t.Fatalf("after confirming: %d objects (want 5), known %q, stored %v", len(e.applier.objects), g.Known, stored)
	}

	// Another change, but the new hub lists everything: accepted by the sweep.
	hub = "hub-c"
	g.ObserveIdentity(hub)
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	if g.Known != "hub-c" || g.Current() != nil {
		t.Fatalf("a hub listing everything was not accepted: known %q, hold %+v", g.Known, g.Current())
	}
}
