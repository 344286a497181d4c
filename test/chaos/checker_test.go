//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// The invariants checked continuously during the run.
const (
	invVIPs  = "no VIP held twice"
	invReady = "Ready claims confirmed by a direct read of the member clusters"
	invEdge  = "no access point with a VIP Ready while no edge node exists"
)

// checker checks the invariants every interval while the run goes on.
type checker struct {
	e *env
	m *model

	mu sync.Mutex
	// checks counts the objects each invariant was checked on.
	checks map[string]int
	// rounds counts the rounds each invariant could be checked (the hub
	// answered).
	rounds map[string]int
	viol   map[string]bool
}

func newChecker(e *env, m *model) *checker {
	return &checker{e: e, m: m, checks: map[string]int{}, rounds: map[string]int{}, viol: map[string]bool{}}
}

func (c *checker) run(ctx context.Context) {
	for {
		c.checkVIPs(ctx)
		c.checkReady(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (c *checker) count(inv string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rounds[inv]++
	c.checks[inv] += n
}

func (c *checker) violated(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.viol[fmt.Sprintf(format, args...)] = true
}

// checkVIPs: no address is held by two VirtualIPs.
func (c *checker) checkVIPs(ctx context.Context) {
	vips, err := c.e.pc.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	holders := map[string][]string{}
	for _, v := range vips.Items {
		if v.Spec.Address != "" {
			holders[v.Spec.Address] = append(holders[v.Spec.Address], v.Name)
		}
	}
	for addr, h := range holders {
		if len(h) > 1 {
			sort.Strings(h)
			c.violated("%s: VIP %s held by %v", invVIPs, addr, h)
		}
	}
	c.count(invVIPs, len(holders))
}

// checkReady: an access point Ready for its generation has, in every member
// cluster, its VirtualService with its timeout, as read from the member
// cluster itself; one with a VIP is never Ready (no edge node announces
// it). A mismatch counts only when the access point's generation is the same
// before and after the member clusters are read.
func (c *checker) checkReady(ctx context.Context) {
	faps, err := c.e.pc.TrafficV1alpha1().FederatedAccessPoints(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	probes := map[string]map[string]string{}
	for _, m := range c.e.members {
		timeouts, _, err := m.probe(ctx)
		if err != nil {
			return
		}
		probes[m.name] = timeouts
	}
	checked, edge := 0, 0
	for i := range faps.Items {
		fap := &faps.Items[i]
		if fap.Spec.LoadBalancer != nil {
			edge++
			if readyNow(fap) {
				c.violated("%s: %s Ready at generation %d", invEdge, fap.Name, fap.Generation)
			}
			continue
		}
		if !readyNow(fap) {
			continue
		}
		want := specOf(fap).timeout
		var wrong []string
		for cluster, timeouts := range probes {
			if timeouts[fap.Name] != want {
				wrong = append(wrong, fmt.Sprintf("%s has %q", cluster, timeouts[fap.Name]))
			}
		}
		checked++
		if len(wrong) == 0 {
			continue
		}
		// Read again: still Ready at the same generation after the member
		// clusters were read?
		again, err := c.e.pc.TrafficV1alpha1().FederatedAccessPoints(namespace).Get(ctx, fap.Name, metav1.GetOptions{})
		if err != nil || again.Generation != fap.Generation || !readyNow(again) {
			continue
		}
		sort.Strings(wrong)
		c.violated("%s: %s Ready at generation %d (timeout %q) but %s", invReady, fap.Name, fap.Generation, want, strings.Join(wrong, ", "))
	}
	c.count(invReady, checked)
	c.count(invEdge, edge)
}

// readyNow says whether an access point claims Ready for its current
// generation.
func readyNow(fap *traffic.FederatedAccessPoint) bool {
	r := meta.FindStatusCondition(fap.Status.Conditions, traffic.ConditionReady)
	return fap.DeletionTimestamp == nil && r != nil && r.Status == metav1.ConditionTrue &&
		r.ObservedGeneration == fap.Generation && fap.Status.ObservedGeneration == fap.Generation
}

func (c *checker) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for v := range c.viol {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (c *checker) report() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, inv := range []string{invVIPs, invReady, invEdge} {
		n := 0
		for v := range c.viol {
			if strings.HasPrefix(v, inv+":") {
				n++
			}
		}
		fmt.Fprintf(&b, "invariant %q: %d rounds, %d checks, %d violations\n", inv, c.rounds[inv], c.checks[inv], n)
	}
	b.WriteString("at the end: every acknowledged write present, every access point converged (Ready, or applied with its VIP and LoadBalancerReady False), member objects equal to the spec, no orphan object, ClusterAccessPoint or VirtualIP\n")
	return b.String()
}
