//go:build vm

package vm

import (
	"context"
	"maps"
	"net/netip"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/dataplane/ipvs"
	"github.com/portico-dev/portico/lb-agent/healthcheck"
	"github.com/portico-dev/portico/lb-agent/model"
	"github.com/portico-dev/portico/test/localfed/nsrun"
)

// agentLoop is the controller's core without the hub: a VirtualIP -> the model
// with the health checker's verdicts -> the dataplane, again on every verdict
// change. Health checks run from the director's namespace.
type agentLoop struct {
	mu       sync.Mutex
	names    map[netip.Addr]string
	verdicts map[string]model.Verdict
	changes  int // verdict changes seen
	applied  int // changes applied to the dataplane
	kick     chan struct{}
}

func newAgentLoop(t *testing.T, d *dsr, dp *ipvs.Dataplane) *agentLoop {
	l := &agentLoop{names: map[netip.Addr]string{}, verdicts: map[string]model.Verdict{}, kick: make(chan struct{}, 1)}
	obj := &trafficv1alpha1.VirtualIP{Spec: trafficv1alpha1.VirtualIPSpec{
		Address: vip, Groups: []string{"g"}, Ports: []trafficv1alpha1.Port{{Port: 80, Protocol: "TCP"}},
		// The checks run from the director's namespace into the backends' under
		// software emulation: a 100ms timeout, twice in a row on a loaded
		// machine, made the healthy backend Unhealthy too, and with both weights
		// at 0 IPVS refused new connections (TestFailedBackendGetsNoNewConnections
		// failed once with "connection refused"). 500ms leaves room.
		HealthCheck: &trafficv1alpha1.HealthCheck{Type: "tcp", Port: healthPort,
			Interval: &metav1.Duration{Duration: 500 * time.Millisecond}, Timeout: &metav1.Duration{Duration: 500 * time.Millisecond},
			HealthyThreshold: ptr.To(int32(2)), UnhealthyThreshold: ptr.To(int32(2))},
	}}
	for _, b := range d.backends {
		obj.Spec.Backends = append(obj.Spec.Backends, trafficv1alpha1.Backend{Address: b.addr, Zone: "z"})
		l.names[netip.MustParseAddr(b.addr)] = b.name
	}
	director := d.directors[0]
	check := func(ctx context.Context, p model.Probe) error {
		return nsrun.Do(director, func() error { return healthcheck.Check(ctx, p) })
	}
	checker := healthcheck.New(check, func(p model.Probe, v model.Verdict) {
		l.mu.Lock()
		l.verdicts[l.names[p.Backend.Addr()]] = v
		l.changes++
		l.mu.Unlock()
		select {
		case l.kick <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; checker.Stop() })
	go func() {
		defer close(done)
		for {
			l.mu.Lock()
			changes := l.changes
			l.mu.Unlock()
			state, err := model.For([]*trafficv1alpha1.VirtualIP{obj}, model.Node{Group: "g", Zone: "z"}, checker.Verdict)
			if err != nil {
				t.Error(err)
			}
			checker.Set(state.Probes())
			if _, err := dp.Set(ctx, state.Services()); err != nil && ctx.Err() == nil {
				t.Error(err)
			}
			l.mu.Lock()
			l.applied = changes
			l.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-l.kick:
			}
		}
	}()
	return l
}

// waitVerdicts waits until the backends have the verdicts in want and the
// dataplane reflects them.
func (l *agentLoop) waitVerdicts(t *testing.T, want map[string]model.Verdict) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.mu.Lock()
		ok := maps.Equal(l.verdicts, want) && l.applied == l.changes
		got := maps.Clone(l.verdicts)
		l.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("verdicts %v, want %v (applied to the dataplane: %v)", got, want, ok)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
