//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
)

// state is an access point as the clients know it: absent, or present with
// a spec. An access point being deleted counts as absent.
type state struct {
	exists bool
	spec   spec
}

func (s state) String() string {
	if !s.exists {
		return "absent"
	}
	return fmt.Sprintf("%+v", s.spec)
}

// entry is one name's acknowledged state, and a write whose outcome the
// client does not know (an error: a timeout, a hub that went away), which the
// next read resolves.
type entry struct {
	acked     state
	uncertain *state
}

// model records every write the clients made and what the hub acknowledged.
// Each name belongs to one client, so a name's writes are sequential.
type model struct {
	mu      sync.Mutex
	entries map[string]*entry
	// counts of writes: acknowledged, refused (an API error that says the
	// write was not made: AlreadyExists while the name is still being
	// deleted, a conflict), failed with an unknown outcome (a timeout, a hub
	// that went away), and resolved (an unknown outcome read back: applied
	// or not).
	acked, refused, unknown, resolvedApplied, resolvedNot int
	lost                                                  []string
}

func newModel() *model { return &model{entries: map[string]*entry{}} }

func (m *model) entry(name string) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if e == nil {
		e = &entry{}
		m.entries[name] = e
	}
	return e
}

// record notes the outcome of a write of name from its acknowledged state to
// to: acknowledged (err nil) or unknown.
func (m *model) record(name string, to state, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if err == nil {
		m.acked++
		e.acked, e.uncertain = to, nil
		return
	}
	if refused(err) {
		// Nothing changed: the end state is checked against the
		// acknowledged one.
		m.refused++
		return
	}
	m.unknown++
	e.uncertain = &to
}

// resolve reads name back when its last write has an unknown outcome: the
// hub must hold either the acknowledged state or the attempted one; anything
// else is a lost acknowledged write.
func (m *model) resolve(ctx context.Context, pc versioned.Interface, name string) error {
	e := m.entry(name)
	m.mu.Lock()
	pending := e.uncertain
	m.mu.Unlock()
	if pending == nil {
		return nil
	}
	got, err := read(ctx, pc, name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch got {
	case *pending:
		m.resolvedApplied++
		e.acked = got
	case e.acked:
		m.resolvedNot++
	default:
		m.lost = append(m.lost, fmt.Sprintf("%s: the hub holds %s; acknowledged %s, then attempted %s", name, got, e.acked, *pending))
		e.acked = got
	}
	e.uncertain = nil
	return nil
}

// resolveAll resolves every name and returns the acknowledged access points
// that exist, with their specs.
func (m *model) resolveAll(ctx context.Context, pc versioned.Interface) (map[string]spec, error) {
	m.mu.Lock()
	var names []string
	for name := range m.entries {
		names = append(names, name)
	}
	m.mu.Unlock()
	out := map[string]spec{}
	for _, name := range names {
		if err := m.resolve(ctx, pc, name); err != nil {
			return nil, err
		}
		e := m.entry(name)
		m.mu.Lock()
		if e.acked.exists {
			out[name] = e.acked.spec
		}
		m.mu.Unlock()
	}
	return out, nil
}

// violations are the acknowledged writes the hub lost.
func (m *model) violations() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]string(nil), m.lost...)
	sort.Strings(out)
	return out
}

func (m *model) summary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	exist := 0
	for _, e := range m.entries {
		if e.acked.exists {
			exist++
		}
	}
	return fmt.Sprintf("%d writes acknowledged, %d refused, %d with an unknown outcome (read back: %d applied, %d not), %d access points exist",
		m.acked, m.refused, m.unknown, m.resolvedApplied, m.resolvedNot, exist)
}

// refused says whether err is the API's answer that a write was not made.
func refused(err error) bool {
	return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsInvalid(err)
}

// read returns the state of name on the hub.
func read(ctx context.Context, pc versioned.Interface, name string) (state, error) {
	fap, err := pc.TrafficV1alpha1().FederatedAccessPoints(namespace).Get(ctx, name, metav1.GetOptions{})
	if isGone(err) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	if fap.DeletionTimestamp != nil {
		return state{}, nil
	}
	return state{exists: true, spec: specOf(fap)}, nil
}

// client creates, updates and deletes its own access points at random.
type client struct {
	id    int
	pc    versioned.Interface
	model *model
	rng   *rand.Rand
}

var timeouts = []string{"1s", "2s", "3s", "4s", "5s", "6s", "7s", "8s", "9s"}

func (c *client) name(i int) string { return fmt.Sprintf("c%d-ap%d", c.id, i) }

// run writes until deadline: most access points are created early and then
// mostly updated, some deleted and created again; 30% request a VIP.
func (c *client) run(ctx context.Context, deadline time.Time) {
	for time.Now().Before(deadline) {
		name := c.name(c.rng.IntN(namesPerClient))
		// Decide before any call, so that a seed gives the same sequence.
		roll, timeout, lb := c.rng.IntN(100), timeouts[c.rng.IntN(len(timeouts))], c.rng.IntN(100) < 30
		pause := time.Duration(100+c.rng.IntN(300)) * time.Millisecond
		c.step(ctx, name, roll, spec{timeout: timeout, lb: lb})
		time.Sleep(pause)
	}
}

func (c *client) step(ctx context.Context, name string, roll int, want spec) {
	if err := c.model.resolve(ctx, c.pc, name); err != nil {
		return // the hub does not answer: try later
	}
	e := c.model.entry(name)
	c.model.mu.Lock()
	cur := e.acked
	c.model.mu.Unlock()
	fas := c.pc.TrafficV1alpha1().FederatedAccessPoints(namespace)
	switch {
	case !cur.exists:
		_, err := fas.Create(ctx, accessPoint(name, want), metav1.CreateOptions{})
		c.model.record(name, state{exists: true, spec: want}, err)
	case roll < 80:
		// An update of the timeout; some also add or remove the VIP.
		next := cur.spec
		next.timeout = want.timeout
		if roll < 15 {
			next.lb = !next.lb
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fap, err := fas.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			update := accessPoint(name, next)
			update.ObjectMeta = fap.ObjectMeta
			update.Spec.Placement, update.Spec.TLS, update.Spec.Rollout = fap.Spec.Placement, fap.Spec.TLS, fap.Spec.Rollout
			_, err = fas.Update(ctx, update, metav1.UpdateOptions{})
			return err
		})
		c.model.record(name, state{exists: true, spec: next}, err)
	default:
		err := fas.Delete(ctx, name, metav1.DeleteOptions{})
		c.model.record(name, state{}, err)
	}
}

// canaryWrite sets the canary's timeout, retrying until the hub acknowledges
// it or ctx ends.
func canaryWrite(ctx context.Context, pc versioned.Interface, timeout string) error {
	for {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fap, err := pc.TrafficV1alpha1().FederatedAccessPoints(namespace).Get(ctx, canary, metav1.GetOptions{})
			if err != nil {
				return err
			}
			update := accessPoint(canary, spec{timeout: timeout})
			update.ObjectMeta = fap.ObjectMeta
			_, err = pc.TrafficV1alpha1().FederatedAccessPoints(namespace).Update(ctx, update, metav1.UpdateOptions{})
			return err
		})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("writing the canary: %w (last: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
