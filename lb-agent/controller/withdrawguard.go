package controller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/metrics"
)

// Defaults of Options.WithdrawHoldFraction and WithdrawHoldMin.
const (
	DefaultWithdrawHoldFraction = 0.5
	DefaultWithdrawHoldMin      = 3
)

// holdRecheck is how often the agent synchronizes (and reads its
// LoadBalancerNode for a confirmation) while it holds a withdrawal.
const holdRecheck = 5 * time.Second

// Reasons of the condition WithdrawHeld.
const (
	ReasonWithdrawalHeld = "WithdrawalHeld"
	ReasonNothingHeld    = "NothingHeld"
)

// withdrawGuard holds a mass withdrawal. The hub's data can be lost or
// replaced (a wiped etcd, a wrong restore): the hub then lists none or few of
// the VIPs the node serves, or not its LoadBalancerGroup, and applying that
// would take the zone's VIPs off the routers. The guard holds a withdrawal
// when the group is gone while the node serves VIPs; when the VIPs that would
// go are at least min and more than fraction of those served; or when the
// hub's identity differs from the one the agent accepted and any VIP would go.
// The held VIPs stay programmed and announced from their last desired state
// (health checks gate the announcements as always); everything else is
// applied. The hold ends when it is confirmed (annotation
// AnnotationConfirmWithdrawal=<ID> on the LoadBalancerNode), which also accepts
// the hub's new identity, or when the situation reverts (the VIPs come back,
// or fewer go).
type withdrawGuard struct {
	fraction float64
	min      int

	mu sync.Mutex
	// known is the hub identity the agent accepted (kept in the state file);
	// seen is the one its LoadBalancerNode carried when last read, "" when
	// unknown.
	known, seen string
	// confirmed is the value of the node's confirmation annotation.
	confirmed string
	hold      *withdrawHold
}

// withdrawHold is a held withdrawal.
type withdrawHold struct {
	// id names the held set of VIPs; a confirmation names it.
	id string
	// vips would be withdrawn (addresses, sorted), of served.
	vips   []string
	served int
	// why says what the hub did.
	why string
	// fromIdentity and toIdentity are set when the hub's identity changed.
	fromIdentity, toIdentity string
}

// message describes the hold for the condition WithdrawHeld of node.
func (h *withdrawHold) message(node string) string {
	why := h.why
	if h.toIdentity != "" {
		why += fmt.Sprintf(", and its identity changed from %s to %s (wiped or restored data?)", h.fromIdentity, h.toIdentity)
	}
	return fmt.Sprintf("holding the withdrawal of %d of the %d VIPs this node serves (%s): %s. They stay programmed and announced. "+
		"If that is intended, confirm with `kubectl portico confirm-withdrawal %s` (annotation %s=%s on the LoadBalancerNode)",
		len(h.vips), h.served, strings.Join(h.vips[:min(len(h.vips), 5)], ", "), why, node, clusterv1alpha1.AnnotationConfirmWithdrawal, h.id)
}

// learn accepts identity when the agent knows none yet; it reports whether
// it did (the state file is then to be written again).
func (g *withdrawGuard) learn(identity string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known != "" || identity == "" {
		return false
	}
	g.known = identity
	return true
}

// observe takes the hub identity and the confirmation that the node carries
// now.
func (g *withdrawGuard) observe(identity, confirmed string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known == "" {
		g.known = identity
	}
	if identity != "" {
		g.seen = identity
	}
	g.confirmed = confirmed
}

// check reports whether withdrawing gone (addresses) of served VIPs may go
// ahead; why says what the hub did, groupGone whether the group is gone.
func (g *withdrawGuard) check(gone []string, served int, why string, groupGone bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := g.seen != "" && g.seen != g.known
	mass := groupGone || (len(gone) >= max(g.min, 1) && float64(len(gone)) > g.fraction*float64(served))
	if !mass && !changed {
		g.hold = nil
		return true
	}
	gone = slices.Sorted(slices.Values(gone))
	sum := sha256.Sum256([]byte(strings.Join(gone, "\n")))
	id := hex.EncodeToString(sum[:6])
	if g.confirmed == id {
		g.hold = nil
		g.acceptSeen()
		return true
	}
	g.hold = &withdrawHold{id: id, vips: gone, served: served, why: why}
	if changed {
		g.hold.fromIdentity, g.hold.toIdentity = g.known, g.seen
	}
	return false
}

// settle records that nothing is withdrawn: the hold ends, and a changed
// identity is accepted (the new hub lists everything the node serves).
func (g *withdrawGuard) settle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = nil
	g.acceptSeen()
}

// acceptSeen makes the identity seen the known one; g.mu is held.
func (g *withdrawGuard) acceptSeen() {
	if g.seen != "" {
		g.known = g.seen
	}
}

// identity is the accepted hub identity.
func (g *withdrawGuard) identity() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.known
}

// current returns the current hold, nil when none. A hold is never modified,
// only replaced.
func (g *withdrawGuard) current() *withdrawHold {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hold
}

// guardWithdrawals returns the state to serve for the hub's state in, and
// whether a withdrawal is held: in itself, or while a withdrawal is held, in
// with the held VIPs (and the group, when it is gone) as they were last
// served.
func (c *Controller) guardWithdrawals(ctx context.Context, in hubState) (hubState, bool) {
	served, kept := c.servedVIPs(), c.groupVIPs(in)
	var gone []string
	for addr := range served {
		if kept[addr] == nil {
			gone = append(gone, addr)
		}
	}
	if c.allowWithdrawal(ctx, gone, len(served), in.group == nil) {
		return in, false
	}
	out := hubState{group: cmp.Or(in.group, c.served.group)}
	for _, v := range in.vips {
		if !slices.Contains(gone, v.Spec.Address) {
			out.vips = append(out.vips, v)
		}
	}
	for _, addr := range gone {
		out.vips = append(out.vips, served[addr])
	}
	return out, true
}

// serveChanges records the VirtualIPs changed (by name, nil: no longer
// served) as served, the rest of the hub's state served as it is, and reports
// true, unless they withdraw a VIP: it then records nothing and reports
// false. A withdrawal is checked by a full synchronization, against the
// informer's whole cache: a relist of a hub that lost its data reaches the
// cache at once, while the informer notes the names changed one by one, so
// a change applied alone would see only the first few VIPs of a mass
// withdrawal (and let them go).
func (c *Controller) serveChanges(changed map[string]*trafficv1alpha1.VirtualIP) bool {
	delta := map[string]int{}
	for name, v := range changed {
		if old := c.byName[name]; old != nil {
			delta[old.Spec.Address]--
		}
		if v != nil {
			delta[v.Spec.Address]++
		}
	}
	for addr, d := range delta {
		if d < 0 && c.addrs[addr]+d == 0 {
			return false
		}
	}
	for name, v := range changed {
		if v == nil {
			delete(c.byName, name)
		} else {
			c.byName[name] = v
		}
	}
	for addr, d := range delta {
		if c.addrs[addr] += d; c.addrs[addr] <= 0 {
			delete(c.addrs, addr)
		}
	}
	return true
}

// allowWithdrawal reports whether the VIPs gone (addresses) of served may be
// withdrawn (see withdrawGuard); groupGone tells that the group is gone.
func (c *Controller) allowWithdrawal(ctx context.Context, gone []string, served int, groupGone bool) bool {
	before := c.guard.current()
	defer c.reportHold(before)
	if len(gone) == 0 {
		c.guard.settle()
		return true
	}
	c.readNode(ctx) // the hub's identity and a confirmation, now
	why := "the hub no longer lists them for LoadBalancerGroup " + c.opts.Group
	if groupGone {
		why = "the LoadBalancerGroup " + c.opts.Group + " no longer exists"
	}
	return c.guard.check(gone, served, why, groupGone)
}

// serve records in as served: indexed by name when it is the hub's state as
// it is (indexed) and its group exists.
func (c *Controller) serve(in hubState, indexed bool) {
	c.served, c.byName, c.addrs = in, nil, nil
	if !indexed || in.group == nil {
		return
	}
	c.served.vips = nil
	c.byName, c.addrs = map[string]*trafficv1alpha1.VirtualIP{}, map[string]int{}
	for _, v := range in.vips {
		if c.servedByNode(v) {
			c.byName[v.Name] = v
			c.addrs[v.Spec.Address]++
		}
	}
}

// servedVIPs are the VirtualIPs the node serves, by address.
func (c *Controller) servedVIPs() map[string]*trafficv1alpha1.VirtualIP {
	if c.byName == nil {
		return c.groupVIPs(c.served)
	}
	out := make(map[string]*trafficv1alpha1.VirtualIP, len(c.byName))
	for _, v := range c.byName {
		out[v.Spec.Address] = v
	}
	return out
}

// groupVIPs are the VirtualIPs st serves, by address: none without a group.
func (c *Controller) groupVIPs(st hubState) map[string]*trafficv1alpha1.VirtualIP {
	out := map[string]*trafficv1alpha1.VirtualIP{}
	if st.group == nil {
		return out
	}
	for _, v := range st.vips {
		if c.servedByNode(v) {
			out[v.Spec.Address] = v
		}
	}
	return out
}

// servedByNode tells whether v names the node's group and is not being
// deleted.
func (c *Controller) servedByNode(v *trafficv1alpha1.VirtualIP) bool {
	return v.DeletionTimestamp == nil && slices.Contains(v.Spec.Groups, c.opts.Group)
}

// readNode reads the hub identity and a confirmation from the node's
// LoadBalancerNode. On failure the guard goes on with what it last read.
func (c *Controller) readNode(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, hubTimeout/2)
	defer cancel()
	n, err := c.portico.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, c.opts.Node, metav1.GetOptions{})
	if err != nil {
		klog.V(2).InfoS("Reading the LoadBalancerNode for the hub's identity and a confirmation", "err", err)
		return
	}
	c.guard.observe(n.Annotations[clusterv1alpha1.AnnotationHubIdentity], n.Annotations[clusterv1alpha1.AnnotationConfirmWithdrawal])
}

// reportHold logs a change of the hold and exports the number of held VIPs.
func (c *Controller) reportHold(before *withdrawHold) {
	h := c.guard.current()
	switch {
	case h != nil && (before == nil || before.id != h.id || before.toIdentity != h.toIdentity):
		klog.InfoS("Holding a mass withdrawal: the held VIPs stay programmed and announced until it is confirmed or they come back",
			"held", len(h.vips), "served", h.served, "examples", h.vips[:min(len(h.vips), 5)], "why", h.why, "holdID", h.id,
			"fromIdentity", h.fromIdentity, "toIdentity", h.toIdentity,
			"confirm", "kubectl portico confirm-withdrawal "+c.opts.Node)
	case h == nil && before != nil:
		klog.InfoS("The held withdrawal ended: it was confirmed, or the VIPs came back, or fewer go", "holdID", before.id,
			"identity", c.guard.identity())
	}
	held := 0
	if h != nil {
		held = len(h.vips)
	}
	metrics.WithdrawHeld.Set(float64(held))
}

// withdrawHeldCondition reports hold (nil: none).
func withdrawHeldCondition(hold *withdrawHold, node string) metav1.Condition {
	cond := metav1.Condition{Type: clusterv1alpha1.LoadBalancerNodeWithdrawHeld, Status: metav1.ConditionFalse,
		Reason: ReasonNothingHeld, Message: "no withdrawal is held"}
	if hold != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonWithdrawalHeld, hold.message(node)
	}
	return cond
}
