package model

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Index is the desired state of a node kept VirtualIP by VirtualIP, so that
// a change of one VirtualIP among thousands costs what one costs. Build
// builds it from every VirtualIP, as For does; Update then takes the
// VirtualIPs that changed, rebuilds their VIPs only and says which VIPs
// changed. A VIP is rebuilt only when its VirtualIP's spec changed: it
// depends on the health verdicts of its backends too, so after a verdict
// changed, Build without reuse. The zero Index is empty; it is not safe for
// concurrent use.
type Index struct {
	node Node
	// byName holds the entry of each VirtualIP served, by name (of
	// VirtualIPs sharing a name, the last built).
	byName map[string]*entry
	// claims lists the valid entries claiming each address, by name: the
	// first is served, the others fail.
	claims map[netip.Addr][]*entry
	// failed holds the error of each entry not served.
	failed map[*entry]error
	// err joins failed, in name order; nil when to be joined again.
	err       error
	errJoined bool
}

type entry struct {
	obj *trafficv1alpha1.VirtualIP
	vip VIP
	err error // building it
}

// Change is a VIP that an Update may have changed.
type Change struct {
	Address netip.Addr
	// Old is the VIP served on Address before, New the one served now; nil
	// when none. They are never modified.
	Old, New *VIP
}

// Build builds the desired state of node from vips, as For does, and keeps
// it for Update. With reuse, a VirtualIP whose spec is that of the previous
// build (of the same node) keeps its VIP, and its verdicts are not read
// again. The VIPs of the state share their services with the Index: never
// modify them.
func (x *Index) Build(vips []*trafficv1alpha1.VirtualIP, node Node, health HealthFunc, reuse bool) (State, error) {
	prev := x.byName
	if !reuse || node != x.node {
		prev = nil
	}
	x.node = node
	x.byName = make(map[string]*entry, len(vips))
	x.claims = make(map[netip.Addr][]*entry, len(vips))
	x.failed = map[*entry]error{}
	x.errJoined = false
	for _, obj := range vips {
		if !node.serves(obj) {
			continue
		}
		e := prev[obj.Name]
		if e == nil || !sameSpec(e.obj, obj) {
			e = build(obj, node, health)
		} else if e.obj != obj {
			e = &entry{obj: obj, vip: e.vip, err: e.err}
		}
		x.add(e)
	}
	var state State
	for a, claims := range x.claims {
		x.settle(a)
		state.VIPs = append(state.VIPs, claims[0].vip)
	}
	slices.SortFunc(state.VIPs, func(a, b VIP) int { return a.Address.Compare(b.Address) })
	return state, x.Err()
}

// Update takes the VirtualIPs named in changed as they are now (nil: gone)
// and returns the VIPs served that changed, sorted by address (a VIP built
// anew counts as changed). It assumes that the VirtualIPs of the last Build
// had distinct names (the hub's objects do).
func (x *Index) Update(changed map[string]*trafficv1alpha1.VirtualIP, health HealthFunc) []Change {
	if x.byName == nil {
		x.byName, x.claims, x.failed = map[string]*entry{}, map[netip.Addr][]*entry{}, map[*entry]error{}
	}
	old := map[netip.Addr]*VIP{} // before any change, of the addresses touched
	touch := func(a netip.Addr) {
		if _, ok := old[a]; !ok {
			old[a] = x.served(a)
		}
	}
	for name, obj := range changed {
		if obj != nil && !x.node.serves(obj) {
			obj = nil
		}
		e := x.byName[name]
		switch {
		case e == nil && obj == nil:
			continue
		case e != nil && obj != nil && sameSpec(e.obj, obj):
			e.obj = obj
			continue
		}
		if e != nil {
			if e.err == nil {
				touch(e.vip.Address)
			}
			x.remove(e)
		}
		if obj != nil {
			e = build(obj, x.node, health)
			if e.err == nil {
				touch(e.vip.Address)
			}
			x.add(e)
		}
		x.errJoined = false
	}
	changes := make([]Change, 0, len(old))
	for a, before := range old {
		x.settle(a)
		if now := x.served(a); now != before {
			changes = append(changes, Change{Address: a, Old: before, New: now})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return a.Address.Compare(b.Address) })
	return changes
}

// State is the desired state, as Build returned it and the Updates since
// changed it.
func (x *Index) State() State {
	var state State
	for a := range x.claims {
		state.VIPs = append(state.VIPs, *x.served(a))
	}
	slices.SortFunc(state.VIPs, func(a, b VIP) int { return a.Address.Compare(b.Address) })
	return state
}

// Err reports the VirtualIPs not served, as For does.
func (x *Index) Err() error {
	if !x.errJoined {
		failed := make([]*entry, 0, len(x.failed))
		for e := range x.failed {
			failed = append(failed, e)
		}
		slices.SortFunc(failed, byName)
		errs := make([]error, len(failed))
		for i, e := range failed {
			errs[i] = fmt.Errorf("VirtualIP %s: %w", e.obj.Name, x.failed[e])
		}
		x.err, x.errJoined = errors.Join(errs...), true
	}
	return x.err
}

func build(obj *trafficv1alpha1.VirtualIP, node Node, health HealthFunc) *entry {
	vip, err := buildOne(obj, node, health)
	return &entry{obj: obj, vip: vip, err: err}
}

// add indexes e; the claims of its address are to be settled.
func (x *Index) add(e *entry) {
	x.byName[e.obj.Name] = e
	if e.err != nil {
		x.failed[e] = e.err
		return
	}
	a := e.vip.Address
	i, _ := slices.BinarySearchFunc(x.claims[a], e, byName)
	x.claims[a] = slices.Insert(x.claims[a], i, e)
}

// remove forgets e; the claims of its address are to be settled.
func (x *Index) remove(e *entry) {
	if x.byName[e.obj.Name] == e {
		delete(x.byName, e.obj.Name)
	}
	delete(x.failed, e)
	if e.err != nil {
		return
	}
	a := e.vip.Address
	claims := slices.DeleteFunc(x.claims[a], func(c *entry) bool { return c == e })
	if len(claims) == 0 {
		delete(x.claims, a)
	} else {
		x.claims[a] = claims
	}
}

// settle serves the first claim of address a, and fails the others.
func (x *Index) settle(a netip.Addr) {
	for i, e := range x.claims[a] {
		if i == 0 {
			delete(x.failed, e)
		} else {
			x.failed[e] = fmt.Errorf("address %s is also claimed by VirtualIP %s", a, x.claims[a][0].obj.Name)
		}
	}
}

// served is the VIP served on a, nil when none.
func (x *Index) served(a netip.Addr) *VIP {
	if claims := x.claims[a]; len(claims) > 0 {
		return &claims[0].vip
	}
	return nil
}

func byName(a, b *entry) int { return strings.Compare(a.obj.Name, b.obj.Name) }

// sameSpec tells whether b builds the VIP a built: the same object, or the
// same spec (a VirtualIP's status or metadata changed).
func sameSpec(a, b *trafficv1alpha1.VirtualIP) bool {
	return a == b || (a.Name == b.Name && apiequality.Semantic.DeepEqual(a.Spec, b.Spec))
}
