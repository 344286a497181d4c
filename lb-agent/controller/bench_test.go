package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/dataplane/fake"
	"github.com/portico-dev/portico/lb-agent/model"
)

// signalDataplane is a fake dataplane that signals each call.
type signalDataplane struct {
	*fake.Dataplane
	called chan struct{}
}

func (d *signalDataplane) Set(ctx context.Context, services []model.Service) (dataplane.Status, error) {
	st, err := d.Dataplane.Set(ctx, services)
	d.called <- struct{}{}
	return st, err
}

func (d *signalDataplane) Update(ctx context.Context, vips []netip.Addr, services []model.Service) (dataplane.Status, error) {
	st, err := d.Dataplane.Update(ctx, vips, services)
	d.called <- struct{}{}
	return st, err
}

// allHealthy: every backend healthy, no probes run.
type allHealthy struct{}

func (allHealthy) Set([]model.Probe)                 {}
func (allHealthy) Verdict(model.Probe) model.Verdict { return model.Healthy }

// benchVirtualIPs are n VirtualIPs of group zone-a (TCP 80), each with
// backends backends in zone-a.
func benchVirtualIPs(n, backends int) []runtime.Object {
	out := []runtime.Object{group()}
	for i := range n {
		v := &trafficv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vip-%05d", i)},
			Spec: trafficv1alpha1.VirtualIPSpec{
				Address: netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)}).String(),
				Pool:    "public", Groups: []string{"zone-a"},
				Ports: []trafficv1alpha1.Port{{Port: 80, Protocol: "TCP"}},
			},
		}
		for j := range backends {
			v.Spec.Backends = append(v.Spec.Backends, trafficv1alpha1.Backend{
				Address: netip.AddrFrom4([4]byte{10, 1, 0, byte(j + 1)}).String(), Zone: "zone-a"})
		}
		out = append(out, v)
	}
	return out
}

// BenchmarkOneChange5000 measures the lb-agent controller serving 5000
// VirtualIPs of 8 backends, from the update of one VirtualIP (one backend's
// drain toggled) on an in-memory hub until the dataplane is called: the
// informer's event and the controller's synchronization up to the
// dataplane. Between changes it waits, untimed, until the node's status
// shows the change (the agent is quiet).
func BenchmarkOneChange5000(b *testing.B) {
	const vips, backends = 5000, 8
	hub := porticofake.NewSimpleClientset(benchVirtualIPs(vips, backends)...)
	dp := &signalDataplane{Dataplane: &fake.Dataplane{}, called: make(chan struct{}, 16)}
	c := New(Options{Node: "edge-a-1", Group: "zone-a", Address: netip.MustParseAddr("10.0.0.2"), DataplaneType: "fake",
		ResyncPeriod: time.Hour, SystemNamespace: "portico-system", LeaseNamespace: "portico-edge", LeaseDuration: time.Minute,
	}, hub, kubefake.NewSimpleClientset(), dp, &fakeSpeaker{}, allHealthy{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 0)
	}()
	defer func() { cancel(); <-done }()
	// drained tells whether the node's status reports the backend of vip,
	// and drained.
	drained := func(vip, backend string) (reported, drained bool) {
		n, err := hub.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), "edge-a-1", metav1.GetOptions{})
		if err != nil {
			return false, false
		}
		i := slices.IndexFunc(n.Status.VIPs, func(h clusterv1alpha1.VIPHealth) bool { return h.Address == vip })
		if i < 0 {
			return false, false
		}
		for _, w := range n.Status.VIPs[i].Weights {
			if slices.Contains(w.Backends, backend) {
				return true, w.Weight == 0
			}
		}
		return false, false
	}
	quiet := func(vip, backend string, want bool) {
		b.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			if reported, got := drained(vip, backend); reported && got == want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("after a minute the node's status does not show %s of %s drained=%v", backend, vip, want)
			}
			time.Sleep(time.Millisecond)
		}
		for len(dp.called) > 0 {
			<-dp.called
		}
	}
	quiet("198.18.19.250", "10.1.0.8", false) // the first synchronization is over
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("vip-%05d", (i*1237+17)%vips)
		backend := (i / vips) % backends
		v, err := hub.TrafficV1alpha1().VirtualIPs().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		v.Spec.Backends[backend].Drained = !v.Spec.Backends[backend].Drained
		if _, err := hub.TrafficV1alpha1().VirtualIPs().Update(context.Background(), v, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-dp.called:
		case <-time.After(time.Minute):
			b.Fatal("no dataplane call a minute after the change")
		}
		b.StopTimer()
		quiet(v.Spec.Address, v.Spec.Backends[backend].Address, v.Spec.Backends[backend].Drained)
		b.StartTimer()
	}
}
