//go:build chaos

// Package chaos runs Portico's highly available topology (an etcd cluster of
// three members, two portico-hub replicas behind one front, the hub cluster's
// kube-apiserver, three member clusters with their agents) while clients
// create, update and delete access points, and injects faults at random
// moments: kill -9 of a portico-hub replica, an etcd member, a member-agent,
// the hub kube-apiserver, and a partition between an agent and the hub. It
// checks, during the run and at its end, that no acknowledged write is lost,
// that no VIP is held twice, that no Ready status claims what the member
// clusters do not have, and that everything converges with no orphan left.
//
// The run's seed is printed; `make test-chaos SEED=<seed>` replays the same
// sequence of client operations and faults (their timing depends on the
// machine).
package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

var (
	seedFlag     = flag.Uint64("chaos.seed", 0, "seed of the run (0: from the clock); every run prints its seed")
	durationFlag = flag.Duration("chaos.duration", 3*time.Minute, "how long clients write and faults are injected")
)

const (
	namespace = "shop"
	pool      = "chaos"
	// clients write at once, each to its own names.
	clients        = 4
	namesPerClient = 10
)

// clusters are the member clusters and their zones.
var clusters = []struct{ name, zone string }{{"zone-a-1", "zone-a"}, {"zone-b-1", "zone-b"}, {"zone-c-1", "zone-c"}}

// TestChaos is the chaos tier (see the package comment).
func TestChaos(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos seed %d (replay: make test-chaos SEED=%d), duration %v", seed, seed, *durationFlag)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos run with seed %d failed; replay: make test-chaos SEED=%d", seed, seed)
		}
	})

	e := newEnv(t)
	ctx := context.Background()
	if _, err := kubernetes.NewForConfigOrDie(e.hub.RestConfig).CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pc.TrafficV1alpha1().VIPPools().Create(ctx, &traffic.VIPPool{
		ObjectMeta: metav1.ObjectMeta{Name: pool}, Spec: traffic.VIPPoolSpec{CIDRs: []string{"10.99.0.0/24"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitMembersAvailable(t)
	// The canary is written after each fault to time the convergence.
	if _, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(namespace).Create(ctx, accessPoint(canary, spec{timeout: "1s"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 90*time.Second, "the canary on every member cluster", func() (bool, string) {
		return e.everywhere(canary, "1s")
	})

	rng := rand.New(rand.NewPCG(seed, 0x636861))
	m := newModel()
	start := time.Now()
	deadline := start.Add(*durationFlag)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		c := &client{id: i, pc: e.pc, model: m, rng: rand.New(rand.NewPCG(seed, uint64(i+1)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, deadline)
		}()
	}
	checker := newChecker(e, m)
	checkCtx, stopChecks := context.WithCancel(ctx)
	checksDone := make(chan struct{})
	go func() {
		defer close(checksDone)
		checker.run(checkCtx)
	}()
	inj := &injector{e: e, rng: rng, start: start}
	inj.run(ctx, t, deadline)
	wg.Wait()
	t.Logf("clients stopped after %v: %s", time.Since(start).Round(time.Second), m.summary())

	// Everything converges: the model's access points exist as acknowledged,
	// are Ready (applied everywhere at their revision, as a direct probe of
	// the member clusters confirms), deleted ones are gone everywhere.
	var held []string
	converged := framework.Eventually(t, 3*time.Minute, "the federation converged after the run", func() (bool, string) {
		if want, err := m.resolveAll(ctx, e.pc); err == nil {
			confirmed, err := e.confirmHeldRemovals(ctx, want)
			if err != nil {
				t.Errorf("held removal: %v", err)
			}
			held = append(held, confirmed...)
		}
		return e.converged(ctx, m)
	})
	for _, h := range held {
		t.Logf("confirmed a held mass removal, as an operator would: %s", h)
	}
	stopChecks()
	<-checksDone
	t.Logf("converged %v after the clients stopped", converged.Round(time.Millisecond))

	report := inj.report() + checker.report()
	t.Logf("chaos report (seed %d):\n%s", seed, report)
	for _, v := range checker.violations() {
		t.Errorf("invariant violated during the run: %s", v)
	}
	for _, v := range m.violations() {
		t.Errorf("acknowledged write: %s", v)
	}
	for _, f := range inj.faults {
		if f.err != "" {
			t.Errorf("fault %s %s: %s", f.kind, f.target, f.err)
		}
	}
	if len(inj.faults) < len(faultKinds) {
		t.Errorf("only %d faults were injected; want at least one of each of the %d kinds", len(inj.faults), len(faultKinds))
	}
}

// canary is the access point written after each fault.
const canary = "canary"

// spec is what the clients vary in an access point.
type spec struct {
	timeout string
	// lb requests a VIP from the pool.
	lb bool
}

// accessPoint is the access point name with the given spec: one
// VirtualService (whose first route has the timeout) and one
// DestinationRule, on every member cluster.
func accessPoint(name string, s spec) *traffic.FederatedAccessPoint {
	host := name + ".chaos.example"
	vs := fmt.Sprintf(`{"hosts":[%q],"gateways":[%q],"http":[{"timeout":%q,"route":[{"destination":{"host":"%s.%s.svc.cluster.local"}}]}]}`,
		host, name, s.timeout, name, namespace)
	dr := fmt.Sprintf(`{"host":"%s.%s.svc.cluster.local"}`, name, namespace)
	fap := &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: []string{host},
			Template: traffic.AccessPointTemplate{
				VirtualServices:  []traffic.NamedTemplate{{Name: name, Spec: traffic.JSONObject{Raw: []byte(vs)}}},
				DestinationRules: []traffic.NamedTemplate{{Name: name, Spec: traffic.JSONObject{Raw: []byte(dr)}}},
			},
		},
	}
	if s.lb {
		fap.Spec.LoadBalancer = &traffic.LoadBalancerSpec{Pool: pool, Ports: []traffic.Port{{Name: "http", Port: 80}}}
	}
	return fap
}

// specOf reads back what accessPoint wrote.
func specOf(fap *traffic.FederatedAccessPoint) spec {
	return spec{timeout: vsTimeout(fap.Spec.Template.VirtualServices[0].Spec.Raw), lb: fap.Spec.LoadBalancer != nil}
}

// fastClient has no client-side throttling worth the name.
func fastClient(cfg *rest.Config) versioned.Interface {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 200, 400
	c.Timeout = 10 * time.Second
	return versioned.NewForConfigOrDie(c)
}

// percentile of sorted durations (p in [0,100]).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// isGone says whether err means the object does not exist.
func isGone(err error) bool { return apierrors.IsNotFound(err) }

func itoa(i int) string { return strconv.Itoa(i) }
