package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/dataplane/fake"
	"github.com/portico-dev/portico/lb-agent/metrics"
	"github.com/portico-dev/portico/lb-agent/model"
)

// gatedDataplane is a fake dataplane whose Set can be made to wait.
type gatedDataplane struct {
	*fake.Dataplane
	mu               sync.Mutex
	entered, release chan struct{}
}

func (d *gatedDataplane) Set(ctx context.Context, services []model.Service) (dataplane.Status, error) {
	d.mu.Lock()
	entered, release := d.entered, d.release
	d.entered, d.release = nil, nil
	d.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	return d.Dataplane.Set(ctx, services)
}

// batch makes change while a synchronization waits in the dataplane, so that
// the next one sees all of it at once (as after the informers relisted a
// hub that came back).
func (e *env) batch(t *testing.T, change func()) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	e.gate.mu.Lock()
	e.gate.entered, e.gate.release = entered, release
	e.gate.mu.Unlock()
	e.c.Enqueue()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no synchronization reached the dataplane")
	}
	change()
	close(release)
}

func TestWithdrawGuardThresholds(t *testing.T) {
	for _, tc := range []struct {
		gone, served int
		groupGone    bool
		allowed      bool
	}{
		{gone: 2, served: 2, allowed: true},  // fewer than min
		{gone: 3, served: 6, allowed: true},  // not more than the fraction
		{gone: 3, served: 5, allowed: false}, // at least min and more than the fraction
		{gone: 1, served: 1, groupGone: true, allowed: false},
	} {
		g := &withdrawGuard{fraction: 0.5, min: 3}
		var gone []string
		for i := range tc.gone {
			gone = append(gone, fmt.Sprintf("203.0.113.%d", i))
		}
		if got := g.check(gone, tc.served, "test", tc.groupGone); got != tc.allowed {
			t.Errorf("%d of %d VIPs, group gone %v: allowed %v, want %v", tc.gone, tc.served, tc.groupGone, got, tc.allowed)
		}
		if held := g.current() != nil; held == tc.allowed {
			t.Errorf("%d of %d VIPs: hold %+v", tc.gone, tc.served, g.current())
		}
	}
}

// startServing starts a controller (resyncing every second, so that a held
// withdrawal is rechecked quickly) serving group() and VIPs 203.0.113.<i> for
// i in 1..n, every backend healthy, and waits until all are announced.
func startServing(t *testing.T, n int, opts func(*Options), objs ...runtime.Object) *env {
	t.Helper()
	objs = append(objs, group())
	for i := 1; i <= n; i++ {
		objs = append(objs, virtualIP(vipAddr(i), "zone-a"))
	}
	e := startWith(t, func(o *Options) { o.ResyncPeriod = time.Second; opts(o) }, false, objs...)
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	e.waitAnnounced(t, n)
	return e
}

func vipAddr(i int) string { return fmt.Sprintf("203.0.113.%d", i) }

func (e *env) waitAnnounced(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d VIPs announced", n), func() bool {
		a, _ := e.speaker.state()
		return len(a) == n && len(e.dp.VIPs()) == n
	})
}

// deleteVIPs deletes VIPs from..to on the hub, seen by one synchronization:
// the informer's cache has them all deleted before the synchronization that
// waits in the dataplane goes on. (The hub's watch delivers the deletions one
// by one: without waiting for the cache, the next synchronization could see
// some of them only, and let a mass withdrawal go as several small ones.)
func (e *env) deleteVIPs(t *testing.T, from, to int) {
	t.Helper()
	e.batch(t, func() {
		for i := from; i <= to; i++ {
			if err := e.portico.TrafficV1alpha1().VirtualIPs().Delete(context.Background(), vipAddr(i), metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the deletions in the informer's cache", func() bool {
			for i := from; i <= to; i++ {
				if _, err := e.c.vips.Get(vipAddr(i)); !apierrors.IsNotFound(err) {
					return false
				}
			}
			return true
		})
	})
}

// withdrawHeld waits for the node's WithdrawHeld condition to have status.
func (e *env) withdrawHeld(t *testing.T, status metav1.ConditionStatus) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	eventually(t, "WithdrawHeld "+string(status), func() bool {
		if n := e.node(t); n != nil {
			c = meta.FindStatusCondition(n.Status.Conditions, clusterv1alpha1.LoadBalancerNodeWithdrawHeld)
		}
		return c != nil && c.Status == status
	})
	return c
}

// annotate sets an annotation of the node, as the hub or an operator would.
func (e *env) annotate(t *testing.T, key, value string) {
	t.Helper()
	n := e.node(t).DeepCopy()
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[key] = value
	if _, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// confirm confirms the hold the condition names, as kubectl portico
// confirm-withdrawal does.
func (e *env) confirm(t *testing.T, cond *metav1.Condition) {
	t.Helper()
	_, id, ok := strings.Cut(cond.Message, clusterv1alpha1.AnnotationConfirmWithdrawal+"=")
	if !ok || len(id) < 12 {
		t.Fatalf("no hold ID in %q", cond.Message)
	}
	e.annotate(t, clusterv1alpha1.AnnotationConfirmWithdrawal, id[:12])
}

// TestWithdrawHeldWhenMostVIPsGo: 3 of 4 VIPs gone at once is held (they
// stay programmed and announced); when one comes back, fewer go and the
// other two are withdrawn.
func TestWithdrawHeldWhenMostVIPsGo(t *testing.T) {
	e := startServing(t, 4, func(*Options) {})
	e.deleteVIPs(t, 2, 4)
	cond := e.withdrawHeld(t, metav1.ConditionTrue)
	for _, want := range []string{"holding the withdrawal of 3 of the 4 VIPs this node serves (203.0.113.2, 203.0.113.3, 203.0.113.4)",
		"kubectl portico confirm-withdrawal edge-a-1", clusterv1alpha1.AnnotationConfirmWithdrawal + "="} {
		if cond.Reason != ReasonWithdrawalHeld || !strings.Contains(cond.Message, want) {
			t.Errorf("WithdrawHeld %s %q lacks %q", cond.Reason, cond.Message, want)
		}
	}
	if a, _ := e.speaker.state(); len(a) != 4 || len(e.dp.VIPs()) != 4 {
		t.Errorf("while held: announced %v, programmed %v; want all 4", a, e.dp.VIPs())
	}
	if v := testutil.ToFloat64(metrics.WithdrawHeld); v != 3 {
		t.Errorf("portico_lb_withdraw_held_vips %v, want 3", v)
	}

	if _, err := e.portico.TrafficV1alpha1().VirtualIPs().Create(context.Background(), virtualIP(vipAddr(2), "zone-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitAnnounced(t, 2)
	if cond := e.withdrawHeld(t, metav1.ConditionFalse); cond.Reason != ReasonNothingHeld {
		t.Errorf("WithdrawHeld %+v", cond)
	}
	if v := testutil.ToFloat64(metrics.WithdrawHeld); v != 0 {
		t.Errorf("portico_lb_withdraw_held_vips %v, want 0", v)
	}
}

// TestWithdrawHeldUntilConfirmed: the confirmation of the held withdrawal
// (annotation on the node) lets it go ahead; the state file follows.
func TestWithdrawHeldUntilConfirmed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge-a-1.json")
	e := startServing(t, 3, withStateFile(path))
	e.deleteVIPs(t, 1, 3)
	cond := e.withdrawHeld(t, metav1.ConditionTrue)
	eventually(t, "the held VIPs kept in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && len(st.VirtualIPs) == 3
	})
	e.confirm(t, cond)
	e.waitAnnounced(t, 0)
	e.withdrawHeld(t, metav1.ConditionFalse)
	eventually(t, "the withdrawal in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && len(st.VirtualIPs) == 0
	})
}

// TestWithdrawHeldWhenTheGroupIsDeleted: even a single VIP is held when the
// group disappears; the group coming back ends the hold, the VIP never left.
func TestWithdrawHeldWhenTheGroupIsDeleted(t *testing.T) {
	e := startServing(t, 1, func(*Options) {})
	if err := e.portico.ClusterV1alpha1().LoadBalancerGroups().Delete(context.Background(), "zone-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cond := e.withdrawHeld(t, metav1.ConditionTrue)
	if !strings.Contains(cond.Message, "1 of the 1 VIPs") || !strings.Contains(cond.Message, "the LoadBalancerGroup zone-a no longer exists") {
		t.Errorf("WithdrawHeld message %q", cond.Message)
	}
	if _, cfg := e.speaker.state(); len(cfg.Peers) != 1 {
		t.Errorf("BGP peers while the group is held: %+v", cfg.Peers)
	}
	if _, err := e.portico.ClusterV1alpha1().LoadBalancerGroups().Create(context.Background(), group(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.withdrawHeld(t, metav1.ConditionFalse)
	if a, _ := e.speaker.state(); !slices.Equal(a, addrs(vipAddr(1))) {
		t.Errorf("announced %v once the group is back", a)
	}
}

// TestWithdrawNotHeldBelowThresholds: fewer than --withdraw-hold-min VIPs, or
// not more than --withdraw-hold-fraction of them, are withdrawn at once.
func TestWithdrawNotHeldBelowThresholds(t *testing.T) {
	e := startServing(t, 6, func(*Options) {})
	e.deleteVIPs(t, 4, 6) // 3 of 6
	e.waitAnnounced(t, 3)
	e.deleteVIPs(t, 2, 3) // 2 of 3
	e.waitAnnounced(t, 1)
	if cond := e.withdrawHeld(t, metav1.ConditionFalse); cond.Reason != ReasonNothingHeld {
		t.Errorf("WithdrawHeld %+v", cond)
	}
}

// TestWithdrawHeldOnIdentityChange: once the hub's identity changed (the node
// carries another one), even one VIP going is held; the confirmation accepts
// the new identity and keeps it in the state file.
func TestWithdrawHeldOnIdentityChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge-a-1.json")
	node := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "edge-a-1",
		Annotations: map[string]string{clusterv1alpha1.AnnotationHubIdentity: "hub-1"}},
		Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: "zone-a", Address: "10.0.0.2"}}
	e := startServing(t, 4, withStateFile(path), node)
	eventually(t, "the hub identity in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && st.HubIdentity == "hub-1"
	})
	e.annotate(t, clusterv1alpha1.AnnotationHubIdentity, "hub-2")
	e.deleteVIPs(t, 4, 4)
	cond := e.withdrawHeld(t, metav1.ConditionTrue)
	if !strings.Contains(cond.Message, "1 of the 4 VIPs") || !strings.Contains(cond.Message, "identity changed from hub-1 to hub-2") {
		t.Errorf("WithdrawHeld message %q", cond.Message)
	}
	e.waitAnnounced(t, 4)
	e.confirm(t, cond)
	e.waitAnnounced(t, 3)
	e.withdrawHeld(t, metav1.ConditionFalse)
	eventually(t, "the new hub identity in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && st.HubIdentity == "hub-2"
	})
	// The new identity accepted, one VIP goes without a hold.
	e.deleteVIPs(t, 3, 3)
	e.waitAnnounced(t, 2)
}
