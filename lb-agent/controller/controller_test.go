package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/bgp"
	"github.com/portico-dev/portico/lb-agent/dataplane/fake"
	"github.com/portico-dev/portico/lb-agent/model"
)

// fakeSpeaker records the configuration and announcements; every configured
// peer is Established.
type fakeSpeaker struct {
	mu        sync.Mutex
	cfg       bgp.Config
	announced []netip.Addr
	sets      int
}

func (s *fakeSpeaker) SetConfig(_ context.Context, cfg bgp.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = cfg
	return nil
}

func (s *fakeSpeaker) Set(_ context.Context, vips []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announced = slices.Clone(vips)
	s.sets++
	return nil
}

func (s *fakeSpeaker) Sessions() []bgp.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bgp.Session
	for _, p := range s.cfg.Peers {
		out = append(out, bgp.Session{Peer: p.Address, State: bgp.Established, Since: time.Unix(1700000000, 0)})
	}
	return out
}

// calls returns how many times Set was called.
func (s *fakeSpeaker) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets
}

func (s *fakeSpeaker) state() ([]netip.Addr, bgp.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.announced), s.cfg
}

// fakeHealth gives verdicts by backend address.
type fakeHealth struct {
	mu       sync.Mutex
	verdicts map[netip.Addr]model.Verdict
	probes   []model.Probe
	reads    int
	sets     int
}

func (h *fakeHealth) Set(p []model.Probe) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probes = p
	h.sets++
}

// state returns the probes set and how many times they were.
func (h *fakeHealth) state() ([]model.Probe, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.probes), h.sets
}

func (h *fakeHealth) Verdict(p model.Probe) model.Verdict {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	return h.verdicts[p.Backend.Addr()]
}

// takeReads returns how many verdicts were read since the last call.
func (h *fakeHealth) takeReads() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.reads
	h.reads = 0
	return n
}

func (h *fakeHealth) set(addr string, v model.Verdict) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.verdicts[netip.MustParseAddr(addr)] = v
}

type env struct {
	c       *Controller
	portico *porticofake.Clientset
	kube    *kubefake.Clientset
	dp      *fake.Dataplane
	gate    *gatedDataplane // dp, as the controller uses it
	speaker *fakeSpeaker
	health  *fakeHealth
	cancel  context.CancelFunc
	done    chan struct{}
	hubDown atomic.Bool  // every call to the hub fails
	skew    atomic.Int64 // added to the controller's clock
}

func group() *clusterv1alpha1.LoadBalancerGroup {
	return &clusterv1alpha1.LoadBalancerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-a"},
		Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: "zone-a", BGP: clusterv1alpha1.BGPConfig{
			LocalASN: 64512, Peers: []clusterv1alpha1.BGPPeer{{Address: "10.0.0.1", ASN: 64500,
				HoldTime: &metav1.Duration{Duration: 30 * time.Second}}},
		}},
	}
}

func virtualIP(addr string, groups ...string) *trafficv1alpha1.VirtualIP {
	return &trafficv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: addr},
		Spec: trafficv1alpha1.VirtualIPSpec{
			Address: addr, Pool: "public", Groups: groups,
			Ports:    []trafficv1alpha1.Port{{Port: 443, Protocol: "TCP"}},
			Backends: []trafficv1alpha1.Backend{{Address: "10.0.0.10", Zone: "zone-a"}, {Address: "10.1.0.10", Zone: "zone-b"}},
		},
	}
}

func start(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	return startWith(t, func(*Options) {}, false, objs...)
}

// startWith starts a controller whose options opts adjusts, with the hub down
// from the start when hubDown.
func startWith(t *testing.T, opts func(*Options), hubDown bool, objs ...runtime.Object) *env {
	t.Helper()
	e := &env{
		portico: porticofake.NewSimpleClientset(objs...),
		kube:    kubefake.NewSimpleClientset(),
		dp:      &fake.Dataplane{},
		speaker: &fakeSpeaker{},
		health:  &fakeHealth{verdicts: map[netip.Addr]model.Verdict{}},
		done:    make(chan struct{}),
	}
	down := func(clienttesting.Action) (bool, runtime.Object, error) {
		if e.hubDown.Load() {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	}
	e.hubDown.Store(hubDown)
	e.statusKeepsMetadata()
	e.portico.PrependReactor("*", "*", down)
	e.kube.PrependReactor("*", "*", down)
	o := Options{Node: "edge-a-1", Group: "zone-a", Address: netip.MustParseAddr("10.0.0.2"),
		DataplaneType: "ipvs", ResyncPeriod: time.Hour, SystemNamespace: "portico-system", LeaseNamespace: "portico-edge", LeaseDuration: 40 * time.Second}
	opts(&o)
	e.gate = &gatedDataplane{Dataplane: e.dp}
	e.c = New(o, e.portico, e.kube, e.gate, e.speaker, e.health)
	e.c.now = func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		e.c.Run(ctx, 0)
	}()
	t.Cleanup(e.stop)
	return e
}

// statusKeepsMetadata makes the fake hub store only the status of a status
// write of the node, as the real one does: the agent's writes must not undo
// the annotations the hub or an operator set.
func (e *env) statusKeepsMetadata() {
	gvr := clusterv1alpha1.SchemeGroupVersion.WithResource("loadbalancernodes")
	e.portico.PrependReactor("update", "loadbalancernodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		n := a.(clienttesting.UpdateAction).GetObject().(*clusterv1alpha1.LoadBalancerNode)
		cur, err := e.portico.Tracker().Get(gvr, "", n.Name)
		if err != nil {
			return true, nil, err
		}
		stored := cur.(*clusterv1alpha1.LoadBalancerNode).DeepCopy()
		stored.Status = n.Status
		return true, stored, e.portico.Tracker().Update(gvr, stored, "")
	})
}

func (e *env) stop() {
	e.cancel()
	<-e.done
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) node(t *testing.T) *clusterv1alpha1.LoadBalancerNode {
	t.Helper()
	n, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), "edge-a-1", metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return n
}

func (e *env) statusWrites() int {
	n := 0
	for _, a := range e.portico.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestProgramsAnnouncesAndReports(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"), virtualIP("203.0.113.11", "zone-b"),
		virtualIP("203.0.113.12", "zone-a", "zone-b"))
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "the node's status", func() bool {
		n := e.node(t)
		return n != nil && len(n.Status.Announced) == 2 && meta.IsStatusConditionTrue(n.Status.Conditions, "Ready")
	})
	n := e.node(t)
	if n.Spec.Group != "zone-a" || n.Spec.Address != "10.0.0.2" {
		t.Errorf("spec %+v", n.Spec)
	}
	if !slices.Equal(n.Status.Announced, []string{"203.0.113.10", "203.0.113.12"}) {
		t.Errorf("announced %v", n.Status.Announced)
	}
	if d := n.Status.Dataplane; d.Type != "ipvs" || d.Services != 2 || d.Destinations != 4 || d.LastSyncTime == nil {
		t.Errorf("dataplane %+v", d)
	}
	if s := n.Status.BGP.Sessions; len(s) != 1 || s[0].Peer != "10.0.0.1" || s[0].State != "Established" {
		t.Errorf("sessions %+v", s)
	}
	for _, c := range []string{"DataplaneReady", "BGPEstablished"} {
		if !meta.IsStatusConditionTrue(n.Status.Conditions, c) {
			t.Errorf("condition %s: %+v", c, meta.FindStatusCondition(n.Status.Conditions, c))
		}
	}
	announced, cfg := e.speaker.state()
	if !slices.Equal(announced, addrs("203.0.113.10", "203.0.113.12")) {
		t.Errorf("speaker announces %v", announced)
	}
	if cfg.ASN != 64512 || cfg.NextHop != netip.MustParseAddr("10.0.0.2") || len(cfg.Peers) != 1 ||
		cfg.Peers[0].HoldTime != 30*time.Second || cfg.Peers[0].ASN != 64500 {
		t.Errorf("BGP config %+v", cfg)
	}
	// Local backends weigh 99, remote ones 1: 63/1 in the kernel's Maglev terms.
	services := e.dp.Services()
	if len(services) != 2 || services[0].Destinations[0].Weight != 63 || services[0].Destinations[1].Weight != 1 {
		t.Errorf("services %+v", services)
	}
	// The Lease is renewed.
	eventually(t, "the Lease", func() bool {
		l, err := e.kube.CoordinationV1().Leases("portico-edge").Get(context.Background(), "lb-agent-edge-a-1", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && *l.Spec.HolderIdentity == "edge-a-1"
	})
}

func TestStatusIsWrittenOnlyOnChange(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"))
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "the announcement", func() bool { n := e.node(t); return n != nil && len(n.Status.Announced) == 1 })
	writes, calls := e.statusWrites(), e.dp.Calls()
	for range 5 {
		e.c.Enqueue()
		eventually(t, "another sync", func() bool { return e.dp.Calls() > calls })
		calls = e.dp.Calls()
	}
	if got := e.statusWrites(); got != writes {
		t.Errorf("%d status writes for syncs that changed nothing", got-writes)
	}
}

// TestHubChangeRebuildsOneVirtualIP: a VirtualIP changed on the hub rebuilds
// the desired state of that VirtualIP alone (only its backends' verdicts are
// read); a health verdict change rebuilds every VirtualIP.
func TestHubChangeRebuildsOneVirtualIP(t *testing.T) {
	objs := []runtime.Object{group()}
	for i := range 20 {
		objs = append(objs, virtualIP(fmt.Sprintf("203.0.113.%d", 10+i), "zone-a"))
	}
	e := start(t, objs...)
	weights := func(vip string) []int {
		for _, s := range e.dp.Services() {
			if s.VIP.String() == vip {
				return []int{s.Destinations[0].Weight, s.Destinations[1].Weight}
			}
		}
		return nil
	}
	eventually(t, "the first synchronization", func() bool { return len(e.dp.Services()) == 20 })
	e.health.takeReads()

	v, err := e.portico.TrafficV1alpha1().VirtualIPs().Get(context.Background(), "203.0.113.15", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v.Spec.Backends[1].Drained = true
	if _, err := e.portico.TrafficV1alpha1().VirtualIPs().Update(context.Background(), v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the drained backend's weight 0", func() bool { return slices.Equal(weights("203.0.113.15"), []int{99, 0}) })
	if n := e.health.takeReads(); n != 2 {
		t.Errorf("a change of one VirtualIP read %d verdicts, want 2 (its two backends)", n)
	}

	e.health.set("10.0.0.10", model.Unhealthy)
	e.c.HealthChanged(model.Probe{}, model.Unhealthy)
	eventually(t, "weight 0 for the unhealthy backend in every service", func() bool {
		return slices.Equal(weights("203.0.113.10"), []int{0, 1}) && slices.Equal(weights("203.0.113.29"), []int{0, 1})
	})
	if n := e.health.takeReads(); n < 40 {
		t.Errorf("a verdict change read %d verdicts, want every VirtualIP's (40)", n)
	}
}

// TestHubChangeIsAppliedAlone: with many VirtualIPs served, a change of one
// costs what one costs. A backend drained on one VirtualIP hands the dataplane
// that VIP's services alone (an Update, no Set), reads only its backends'
// verdicts, neither announces again nor touches the probes, and reaches the
// status and the state file; a VirtualIP whose metadata only changed (its
// status on the hub) is neither rebuilt nor programmed. A VirtualIP added is
// programmed, announced and probed alone too.
func TestHubChangeIsAppliedAlone(t *testing.T) {
	const n = 50
	path := filepath.Join(t.TempDir(), "edge-a-1.json")
	objs := []runtime.Object{group()}
	for i := range n {
		objs = append(objs, virtualIP(fmt.Sprintf("203.0.113.%d", 10+i), "zone-a"))
	}
	e := startWith(t, withStateFile(path), false, objs...)
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	e.waitAnnounced(t, n)
	eventually(t, "every VIP in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && len(st.VirtualIPs) == n
	})
	calls, speakerSets := e.dp.Calls(), e.speaker.calls()
	_, healthSets := e.health.state()
	e.dp.TakeUpdates()
	e.health.takeReads()

	// Another VirtualIP's metadata changes first: its event comes before the
	// drain's, so the drain's synchronization has seen it, at the latest.
	update := func(name string, change func(*trafficv1alpha1.VirtualIP)) {
		t.Helper()
		v, err := e.portico.TrafficV1alpha1().VirtualIPs().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(v)
		if _, err := e.portico.TrafficV1alpha1().VirtualIPs().Update(context.Background(), v, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update("203.0.113.30", func(v *trafficv1alpha1.VirtualIP) { v.Labels = map[string]string{"seen": "yes"} })
	update("203.0.113.25", func(v *trafficv1alpha1.VirtualIP) { v.Spec.Backends[1].Drained = true })
	var updates []fake.Update
	eventually(t, "the drain in the dataplane", func() bool {
		updates = append(updates, e.dp.TakeUpdates()...)
		return len(updates) > 0
	})
	want := model.Service{Key: model.Key{VIP: netip.MustParseAddr("203.0.113.25"), Port: 443, Protocol: model.TCP},
		Destinations: []model.Destination{{Address: netip.MustParseAddr("10.0.0.10"), Weight: 99},
			{Address: netip.MustParseAddr("10.1.0.10"), Weight: 0}}}
	if len(updates) != 1 || !slices.Equal(updates[0].VIPs, addrs("203.0.113.25")) || len(updates[0].Services) != 1 ||
		updates[0].Services[0].Key != want.Key || !slices.Equal(updates[0].Services[0].Destinations, want.Destinations) {
		t.Errorf("dataplane updates %+v, want one of 203.0.113.25 with %+v", updates, want)
	}
	if got := e.dp.Calls(); got != calls+1 {
		t.Errorf("%d dataplane calls for one change, want 1 (an Update)", got-calls)
	}
	if reads := e.health.takeReads(); reads != 2 {
		t.Errorf("%d verdicts read, want 2 (the drained VirtualIP's backends)", reads)
	}
	if got := e.speaker.calls(); got != speakerSets {
		t.Errorf("%d announcements for a change that announces the same VIPs", got-speakerSets)
	}
	if _, sets := e.health.state(); sets != healthSets {
		t.Errorf("%d changes of the probes for a change that runs the same probes", sets-healthSets)
	}
	if a, _ := e.speaker.state(); len(a) != n || len(e.dp.Services()) != n {
		t.Errorf("after the change: %d VIPs announced, %d services programmed; want %d", len(a), len(e.dp.Services()), n)
	}
	eventually(t, "the drain in the state file and the status", func() bool {
		st, _, ok := loadState(t, path)
		i := slices.IndexFunc(st.VirtualIPs, func(v trafficv1alpha1.VirtualIP) bool { return v.Name == "203.0.113.25" })
		n := e.node(t)
		return ok && i >= 0 && st.VirtualIPs[i].Spec.Backends[1].Drained && n != nil && len(n.Status.VIPs) == 50 &&
			len(n.Status.VIPs[15].Weights) == 2 && n.Status.VIPs[15].Weights[1].Weight == 0
	})

	// A VirtualIP added, with a backend of its own.
	added := virtualIP("203.0.113.200", "zone-a")
	added.Spec.Backends = append(added.Spec.Backends, trafficv1alpha1.Backend{Address: "10.0.0.11", Zone: "zone-a"})
	e.health.set("10.0.0.11", model.Healthy)
	if _, err := e.portico.TrafficV1alpha1().VirtualIPs().Create(context.Background(), added, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitAnnounced(t, n+1)
	if updates := e.dp.TakeUpdates(); len(updates) != 1 || !slices.Equal(updates[0].VIPs, addrs("203.0.113.200")) ||
		len(updates[0].Services) != 1 {
		t.Errorf("dataplane updates %+v, want one of 203.0.113.200", updates)
	}
	if reads := e.health.takeReads(); reads != 3 {
		t.Errorf("%d verdicts read, want 3 (the new VirtualIP's backends)", reads)
	}
	probes, sets := e.health.state()
	if sets != healthSets+1 || !slices.ContainsFunc(probes, func(p model.Probe) bool { return p.Backend.Addr() == netip.MustParseAddr("10.0.0.11") }) {
		t.Errorf("probes after the new backend (%d changes): %+v", sets-healthSets, probes)
	}
	if got := e.dp.Calls(); got != calls+2 {
		t.Errorf("%d dataplane calls for two changes, want 2 (Updates)", got-calls)
	}
}

// TestWithdrawalIsSynchronizedInFull: a change that withdraws a VIP is
// checked by a full synchronization (the withdrawal guard looks at the whole
// cache), which the dataplane sees as a Set.
func TestWithdrawalIsSynchronizedInFull(t *testing.T) {
	e := startServing(t, 4, func(o *Options) { o.ResyncPeriod = time.Hour })
	calls := e.dp.Calls()
	e.dp.TakeUpdates()
	if err := e.portico.TrafficV1alpha1().VirtualIPs().Delete(context.Background(), vipAddr(4), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitAnnounced(t, 3)
	if updates := e.dp.TakeUpdates(); len(updates) != 0 || e.dp.Calls() == calls {
		t.Errorf("a withdrawal: updates %+v, %d dataplane calls; want a Set", updates, e.dp.Calls()-calls)
	}
}

func TestUnhealthyBackendsDrainAndWithdraw(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"))
	e.health.set("10.0.0.10", model.Healthy)
	e.health.set("10.1.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "the announcement", func() bool { a, _ := e.speaker.state(); return len(a) == 1 })
	e.health.set("10.0.0.10", model.Unhealthy)
	e.c.HealthChanged(model.Probe{}, model.Unhealthy)
	eventually(t, "weight 0 for the unhealthy backend", func() bool {
		s := e.dp.Services()
		return len(s) == 1 && s[0].Destinations[0].Weight == 0 && s[0].Destinations[1].Weight == 1
	})
	if a, _ := e.speaker.state(); len(a) != 1 {
		t.Errorf("withdrawn while a backend is healthy: %v", a)
	}
	e.health.set("10.1.0.10", model.Unhealthy)
	e.c.HealthChanged(model.Probe{}, model.Unhealthy)
	eventually(t, "the withdrawal", func() bool { a, _ := e.speaker.state(); return len(a) == 0 })
	eventually(t, "the status", func() bool { n := e.node(t); return n != nil && len(n.Status.Announced) == 0 })
}

// The node reports, per VIP, the weights it programmed: a drain on the hub
// shows as weight 0 there, and in the dataplane.
func TestStatusReportsProgrammedWeights(t *testing.T) {
	v := virtualIP("203.0.113.10", "zone-a")
	v.Spec.Backends = append(v.Spec.Backends, trafficv1alpha1.Backend{Address: "10.0.0.11", Zone: "zone-a"})
	e := start(t, group(), v)
	e.c.Enqueue()
	weights := func() []clusterv1alpha1.BackendWeight {
		if n := e.node(t); n != nil && len(n.Status.VIPs) == 1 {
			return n.Status.VIPs[0].Weights
		}
		return nil
	}
	// 99/1, as the kernel's Maglev table holds it (model.MaglevMaxTurns).
	want := []clusterv1alpha1.BackendWeight{{Weight: 63, Backends: []string{"10.0.0.10", "10.0.0.11"}}, {Weight: 1, Backends: []string{"10.1.0.10"}}}
	eventually(t, "the weights 63/1 in the status", func() bool { return apiequality.Semantic.DeepEqual(weights(), want) })

	v = v.DeepCopy()
	v.Spec.Backends[0].Drained = true
	if _, err := e.portico.TrafficV1alpha1().VirtualIPs().Update(context.Background(), v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []clusterv1alpha1.BackendWeight{{Weight: 63, Backends: []string{"10.0.0.11"}}, {Weight: 1, Backends: []string{"10.1.0.10"}},
		{Weight: 0, Backends: []string{"10.0.0.10"}}}
	eventually(t, "weight 0 for the drained backend in the status", func() bool { return apiequality.Semantic.DeepEqual(weights(), want) })
	if d := e.dp.Services()[0].Destinations; d[0].Weight != 0 || d[1].Weight != 63 {
		t.Errorf("dataplane destinations %+v", d)
	}
}

func TestDataplaneFailureIsNotAnnounced(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"))
	e.dp.Err = errors.New("no IPVS here")
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "DataplaneReady=False", func() bool {
		n := e.node(t)
		if n == nil {
			return false
		}
		c := meta.FindStatusCondition(n.Status.Conditions, "DataplaneReady")
		return c != nil && c.Status == metav1.ConditionFalse && c.Message == "no IPVS here" &&
			meta.IsStatusConditionFalse(n.Status.Conditions, "Ready")
	})
	if a, _ := e.speaker.state(); len(a) != 0 {
		t.Errorf("announced %v without a dataplane", a)
	}
}

func TestMissingGroupServesNothing(t *testing.T) {
	e := start(t, virtualIP("203.0.113.10", "zone-a"))
	eventually(t, "GroupNotFound", func() bool {
		n := e.node(t)
		if n == nil {
			return false
		}
		c := meta.FindStatusCondition(n.Status.Conditions, "DataplaneReady")
		return c != nil && c.Reason == ReasonGroupNotFound
	})
	if e.dp.Calls() == 0 || len(e.dp.Services()) != 0 {
		t.Errorf("dataplane: %d calls, services %v", e.dp.Calls(), e.dp.Services())
	}
	// Creating the group starts service.
	e.health.set("10.0.0.10", model.Healthy)
	if _, err := e.portico.ClusterV1alpha1().LoadBalancerGroups().Create(context.Background(), group(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the announcement", func() bool { a, _ := e.speaker.state(); return len(a) == 1 })
}

func TestHubUnreachableKeepsServing(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"))
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "the announcement", func() bool { a, _ := e.speaker.state(); return len(a) == 1 })
	e.hubDown.Store(true)
	calls := e.dp.Calls()
	e.c.Enqueue()
	eventually(t, "a sync with the hub down", func() bool { return e.dp.Calls() > calls })
	if a, _ := e.speaker.state(); len(a) != 1 || len(e.dp.Services()) != 1 {
		t.Errorf("with the hub down: announced %v, services %v", a, e.dp.Services())
	}
}

func TestShutdownWithdrawsAndReports(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"))
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "the announcement", func() bool { n := e.node(t); return n != nil && len(n.Status.Announced) == 1 })
	e.stop()
	if a, _ := e.speaker.state(); len(a) != 0 {
		t.Errorf("still announcing %v after shutdown", a)
	}
	n := e.node(t)
	if len(n.Status.Announced) != 0 {
		t.Errorf("status announces %v after shutdown", n.Status.Announced)
	}
	if c := meta.FindStatusCondition(n.Status.Conditions, "Ready"); c == nil || c.Reason != ReasonDraining {
		t.Errorf("Ready after shutdown: %+v", c)
	}
	// The dataplane is left as it is.
	if len(e.dp.Services()) != 1 {
		t.Errorf("dataplane after shutdown: %v", e.dp.Services())
	}
}

func TestBGPPasswordFromSecretSurvivesHubOutage(t *testing.T) {
	g := group()
	g.Spec.BGP.Peers[0].PasswordSecretRef = &clusterv1alpha1.SecretKeyReference{Name: "bgp-zone-a"}
	e := start(t, g, virtualIP("203.0.113.10", "zone-a"))
	if _, err := e.kube.CoreV1().Secrets("portico-system").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bgp-zone-a", Namespace: "portico-system"},
		Data:       map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Enqueue()
	eventually(t, "the password in the BGP configuration", func() bool {
		_, cfg := e.speaker.state()
		return len(cfg.Peers) == 1 && cfg.Peers[0].Password == "s3cret"
	})
	e.hubDown.Store(true)
	e.skew.Store(int64(time.Hour)) // the cached password is stale
	calls := e.dp.Calls()
	e.c.Enqueue()
	eventually(t, "a sync with the hub down", func() bool { return e.dp.Calls() > calls })
	if _, cfg := e.speaker.state(); len(cfg.Peers) != 1 || cfg.Peers[0].Password != "s3cret" {
		t.Errorf("BGP peers with the hub down: %+v", cfg.Peers)
	}
}

// TestShutdownReportRetriesAConflict: a status write cut short by the stop
// may still land at the hub, so the withdrawal's own write can find the node
// changed; it reads the node again and reports the withdrawal anyway.
func TestShutdownReportRetriesAConflict(t *testing.T) {
	e := start(t, group(), virtualIP("203.0.113.10", "zone-a"))
	e.health.set("10.0.0.10", model.Healthy)
	e.c.Enqueue()
	eventually(t, "the announcement", func() bool { n := e.node(t); return n != nil && len(n.Status.Announced) == 1 })
	var conflicts atomic.Int32
	e.portico.PrependReactor("update", "loadbalancernodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && conflicts.Add(1) == 1 {
			return true, nil, apierrors.NewConflict(clusterv1alpha1.Resource("loadbalancernodes"), "edge-a-1", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	e.stop()
	if conflicts.Load() < 2 {
		t.Fatalf("%d status writes at shutdown, want a retry after the conflict", conflicts.Load())
	}
	n := e.node(t)
	if c := meta.FindStatusCondition(n.Status.Conditions, "Ready"); len(n.Status.Announced) != 0 || c == nil || c.Reason != ReasonDraining {
		t.Errorf("after a conflicting shutdown report: announced %v, Ready %+v", n.Status.Announced, c)
	}
}
