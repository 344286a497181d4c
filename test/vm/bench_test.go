//go:build vm

package vm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	libipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/controller"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/dataplane/ipvs"
	"github.com/portico-dev/portico/lb-agent/model"
	"github.com/portico-dev/portico/test/benchfig"
	"github.com/portico-dev/portico/test/framework"
)

// The benchmark's node, and its size (PORTICO_BENCH_IPVS_VIPS overrides the
// VIPs for a quick run; the figures' sentences say the size measured).
const (
	benchGroup    = "edge-bench"
	benchNode     = "edge-bench-1"
	benchZone     = "zone-a"
	benchVIPs     = 5000
	benchBackends = 8
)

// benchSamples is PORTICO_BENCH_SAMPLES, default benchfig.MinSamples. Inside
// the VM it is set with PORTICO_VM_TEST_ENV='export PORTICO_BENCH_SAMPLES=7'.
func benchSamples(b *testing.B) int {
	return envInt(b, "PORTICO_BENCH_SAMPLES", benchfig.MinSamples)
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

// benchVirtualIPs is the hub's state: vips VirtualIPs (198.18.0.0/15, TCP 80)
// of the node's group, each with backends backends in the node's zone.
func benchVirtualIPs(vips, backends int) []*trafficv1alpha1.VirtualIP {
	out := make([]*trafficv1alpha1.VirtualIP, 0, vips)
	for i := range vips {
		v := &trafficv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vip-%05d", i)},
			Spec: trafficv1alpha1.VirtualIPSpec{
				Address: netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)}).String(),
				Pool:    "public", Groups: []string{benchGroup},
				Ports: []trafficv1alpha1.Port{{Port: 80, Protocol: "TCP"}},
			},
		}
		for j := range backends {
			v.Spec.Backends = append(v.Spec.Backends, trafficv1alpha1.Backend{
				Address: netip.AddrFrom4([4]byte{10, 1, 0, byte(j + 1)}).String(), Zone: benchZone})
		}
		out = append(out, v)
	}
	return out
}

// allHealthy is the controller's Health in the benchmark: every backend healthy,
// no probes run (their verdicts would add synchronizations to the samples).
type allHealthy struct{}

func (allHealthy) Set([]model.Probe)                 {}
func (allHealthy) Verdict(model.Probe) model.Verdict { return model.Healthy }

// benchServices is what the node programs for vips.
func benchServices(b *testing.B, vips []*trafficv1alpha1.VirtualIP) []model.Service {
	state, err := model.For(vips, model.Node{Group: benchGroup, Zone: benchZone}, allHealthy{}.Verdict)
	if err != nil {
		b.Fatal(err)
	}
	return state.Services()
}

// restoreRules is the same state for ipvsadm -R, with scheduler sched.
func restoreRules(services []model.Service, sched string) string {
	var b strings.Builder
	for _, s := range services {
		svc := fmt.Sprintf("-t %s", netip.AddrPortFrom(s.VIP, s.Port))
		if s.Protocol == model.UDP {
			svc = fmt.Sprintf("-u %s", netip.AddrPortFrom(s.VIP, s.Port))
		}
		if sched == "mh" {
			fmt.Fprintf(&b, "-A %s -s mh -b mh-fallback,mh-port\n", svc)
		} else {
			fmt.Fprintf(&b, "-A %s -s %s\n", svc, sched)
		}
		for _, d := range s.Destinations {
			fmt.Fprintf(&b, "-a %s -r %s -i -w %d\n", svc, netip.AddrPortFrom(d.Address, s.Port), d.Weight)
		}
	}
	return b.String()
}

// timed runs fn and returns how long it took.
func timed(b *testing.B, what string, fn func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return time.Since(start)
}

// clearIPVS deletes every IPVS service of ns (not timed: it keeps the next
// sample's kernel as empty as the first's).
func clearIPVS(l *lab, ns string) { l.mustRun(ns, "", "ipvsadm", "-C") }

// bindAll binds the VIPs of services on a dummy interface portico0 in ns with
// netlink, as the dataplane does (one address request each).
func bindAll(l *lab, ns string, services []model.Service) error {
	h := l.handles[ns]
	if err := h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: ipvs.DefaultInterface}}); err != nil {
		return err
	}
	lk, err := h.LinkByName(ipvs.DefaultInterface)
	if err == nil {
		err = h.LinkSetUp(lk)
	}
	if err != nil {
		return err
	}
	var last netip.Addr
	for _, s := range services {
		if s.VIP == last {
			continue
		}
		last = s.VIP
		if err := h.AddrAdd(lk, &netlink.Addr{IPNet: netlink.NewIPNet(s.VIP.AsSlice())}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkIPVS5000x8 measures the lb-agent's IPVS dataplane with 5000 VIPs ×
// 8 IPIP backends (Maglev) in the VM, each figure from PORTICO_BENCH_SAMPLES
// samples (default 5):
//   - from empty, as a ratio to ipvsadm -R of the same rules in the same sample
//     (goal ≤ 0.25), the VIPs bound beforehand (their binding is a figure of
//     its own); the absolute times; the same with one netlink socket; ipvsadm
//     -R with the rr scheduler (the difference is the Maglev table builds);
//     the mean time of each kind of netlink operation;
//   - one backend's weight changed: the netlink operation it issues (goal ≤ 1
//     ms; exactly one, no read, asserted) and the whole Set;
//   - a restart with nothing changed: a new dataplane's first Set (goal ≤ 2 s,
//     no write, asserted);
//   - a VirtualIP changed on the (in-memory) hub until the kernel has the new
//     weight, through the real lb-agent controller (goal ≤ 20 ms).
//
// Software-emulated CPU: compare the ratios, not the absolute times.
func BenchmarkIPVS5000x8(b *testing.B) {
	requireVM(b)
	n := benchSamples(b)
	vips, backends := envInt(b, "PORTICO_BENCH_IPVS_VIPS", benchVIPs), benchBackends
	objs := benchVirtualIPs(vips, backends)
	services := benchServices(b, objs)
	size := fmt.Sprintf("%d VIPs × %d IPIP backends (mh, TCP 80)", vips, backends)
	for range b.N {
		l := newLab(b)
		ns, dp, m := benchFromEmpty(b, l, n, services, size)
		benchOneChange(b, dp, m, n, services, size)
		dp.Close()
		benchRestart(b, l, ns, n, services, size)
		benchHubToKernel(b, ns, n, objs, size)
	}
}

// benchFromEmpty takes the from-empty samples, each in fresh namespaces, and
// returns the agent's namespace of the last one with its dataplane and meter.
func benchFromEmpty(b *testing.B, l *lab, n int, services []model.Service, size string) (string, *ipvs.Dataplane, *meter) {
	ctx := context.Background()
	rulesMH, rulesRR := restoreRules(services, "mh"), restoreRules(services, "rr")
	var restore, restoreRR, bind, agent, agent1 []time.Duration
	var ratio, ratio1 []float64
	var perWrite []time.Duration
	var perRoundTrip []float64
	var want []string
	var (
		keepNS string
		keepDP *ipvs.Dataplane
		keepM  *meter
	)
	for i := range n {
		nsR := l.addNS(fmt.Sprintf("restore%d", i))
		restore = append(restore, timed(b, "ipvsadm -R", func() error {
			_, err := l.run(nsR, rulesMH, "ipvsadm", "-R")
			return err
		}))
		if i == 0 {
			want = ipvsTable(l, nsR)
		}
		clearIPVS(l, nsR)
		// A namespace of its own: the destinations deleted with the services
		// wait in the namespace's trash, which every destination added
		// walks (ip_vs_trash_get_dest).
		nsRR := l.addNS(fmt.Sprintf("restore-rr%d", i))
		restoreRR = append(restoreRR, timed(b, "ipvsadm -R (rr)", func() error {
			_, err := l.run(nsRR, rulesRR, "ipvsadm", "-R")
			return err
		}))
		clearIPVS(l, nsRR)

		nsA := l.addNS(fmt.Sprintf("agent%d", i))
		bind = append(bind, timed(b, "binding the VIPs", func() error { return bindAll(l, nsA, services) }))
		m := &meter{}
		dp, err := ipvs.New(ipvs.Options{Netns: nsPath(nsA), Workers: ipvs.DefaultWorkers, VerifyInterval: time.Hour, WrapKernel: m.wrap})
		if err != nil {
			b.Fatal(err)
		}
		agent = append(agent, timed(b, "agent Set from empty", func() error { return setAll(ctx, dp, services) }))
		ratio = append(ratio, float64(agent[i])/float64(restore[i]))
		if i == 0 || i == n-1 {
			if got := ipvsTable(l, nsA); !slices.Equal(got, want) {
				b.Fatalf("sample %d: the agent's table differs from ipvsadm -R's:\n%s", i, diffLines(got, want))
			}
		}
		m.take()
		if i < n-1 {
			dp.Close()
			clearIPVS(l, nsA)
		} else {
			keepNS, keepDP, keepM = nsA, dp, m
		}

		ns1 := l.addNS(fmt.Sprintf("agent1-%d", i))
		if err := bindAll(l, ns1, services); err != nil {
			b.Fatal(err)
		}
		m1 := &meter{}
		dp1, err := ipvs.New(ipvs.Options{Netns: nsPath(ns1), Workers: 1, VerifyInterval: time.Hour, WrapKernel: m1.wrap})
		if err != nil {
			b.Fatal(err)
		}
		agent1 = append(agent1, timed(b, "agent Set from empty (1 socket)", func() error { return setAll(ctx, dp1, services) }))
		ratio1 = append(ratio1, float64(agent1[i])/float64(restore[i]))
		ops := m1.take()
		perWrite = append(perWrite, ops["Write"].total/time.Duration(ops.writes()))
		perRoundTrip = append(perRoundTrip, float64(ops.writes())/float64(ops["Write"].n))
		dp1.Close()
		clearIPVS(l, ns1)
		b.Logf("sample %d: ipvsadm -R %v (rr %v); binding %v; agent %v (1 socket %v): %.3fx",
			i, restore[i].Round(time.Millisecond), restoreRR[i].Round(time.Millisecond), bind[i].Round(time.Millisecond),
			agent[i].Round(time.Millisecond), agent1[i].Round(time.Millisecond), ratio[i])
	}

	agentIncludes := "a new dataplane's first Set on an empty IPVS (" + size + "), the VIPs already bound on portico0: " +
		"it reads the kernel back (addresses, services, /proc/net/ip_vs), creates each service without a scheduler, adds its 8 destinations and switches it to mh, " +
		"in batches of up to 256 writes per netlink round trip; "
	benchfig.Values(b, "ipvs/from-empty-ratio", "x", benchfig.AtMost(0.25), benchfig.Median, ratio,
		"the agent's Set from empty over 4 kernel handles (ipvs/from-empty-agent) divided by ipvsadm -R of the same rules "+
			"(ipvs/from-empty-ipvsadm-restore) in the same sample; binding the VIPs is not in either (ipvs/bind-vips)")
	benchfig.Durations(b, "ipvs/from-empty-agent", "s", benchfig.None, benchfig.Median, agent,
		agentIncludes+"4 kernel handles (netlink sockets) in parallel")
	benchfig.Durations(b, "ipvs/from-empty-ipvsadm-restore", "s", benchfig.None, benchfig.Median, restore,
		"ipvsadm -R of the same services and destinations (mh, mh-fallback,mh-port, IPIP), one command at a time, in a fresh namespace")
	benchfig.Durations(b, "ipvs/from-empty-ipvsadm-restore-rr", "s", benchfig.None, benchfig.Median, restoreRR,
		"ipvsadm -R of the same rules with the rr scheduler: the difference from ipvs/from-empty-ipvsadm-restore is the "+
			"kernel's Maglev table builds (one per destination added)")
	benchfig.Values(b, "ipvs/from-empty-ratio-1-socket", "x", benchfig.None, benchfig.Median, ratio1,
		"as ipvs/from-empty-ratio with one kernel handle (the kernel serializes IPVS commands: genl_mutex and __ip_vs_mutex)")
	benchfig.Durations(b, "ipvs/from-empty-agent-1-socket", "s", benchfig.None, benchfig.Median, agent1,
		agentIncludes+"one kernel handle")
	benchfig.Durations(b, "ipvs/bind-vips", "s", benchfig.None, benchfig.Median, bind,
		fmt.Sprintf("binding the %d VIPs as /32 on a dummy interface with netlink, one request each, as the dataplane does before creating their services", len(distinctVIPs(services))))
	benchfig.Durations(b, "ipvs/from-empty-write", "µs", benchfig.None, benchfig.Median, perWrite,
		"the mean time of one write (service or destination created, scheduler switched) in the 1-socket from-empty Set: "+
			"the time of its netlink batches (request, kernel, answers) divided by the writes")
	benchfig.Values(b, "ipvs/from-empty-writes-per-round-trip", "writes", benchfig.None, benchfig.Median, perRoundTrip,
		"writes per netlink round trip in the 1-socket from-empty Set (batches of whole services, at most 256 writes)")
	return keepNS, keepDP, keepM
}

func setAll(ctx context.Context, dp *ipvs.Dataplane, services []model.Service) error {
	st, err := dp.Set(ctx, services)
	if err == nil && st.Services != len(services) {
		err = fmt.Errorf("programmed %d services of %d", st.Services, len(services))
	}
	return err
}

func distinctVIPs(services []model.Service) []netip.Addr {
	var out []netip.Addr
	for _, s := range services {
		if len(out) == 0 || out[len(out)-1] != s.VIP {
			out = append(out, s.VIP)
		}
	}
	return out
}

// benchOneChange changes one backend's weight per sample and checks that the
// Set issued exactly one netlink operation, an UpdateDestination, and no read.
func benchOneChange(b *testing.B, dp *ipvs.Dataplane, m *meter, n int, services []model.Service, size string) {
	ctx := context.Background()
	current := slices.Clone(services)
	var kernel, set []time.Duration
	for i := range n {
		s := (i*1237 + 17) % len(current)
		current[s].Destinations = slices.Clone(current[s].Destinations)
		d := &current[s].Destinations[i%len(current[s].Destinations)]
		d.Weight = map[bool]int{true: 0, false: 1}[d.Weight > 0]
		m.take()
		set = append(set, timed(b, "Set with one weight changed", func() error { return setAll(ctx, dp, current) }))
		ops := m.take()
		if ops.writes() != 1 || ops["UpdateDestination"].n != 1 || ops["Write"].n != 1 || ops.reads() != 0 {
			b.Fatalf("one backend's weight changed: netlink operations %v, want one UpdateDestination (one round trip) and no read", ops)
		}
		kernel = append(kernel, ops.total())
	}
	if err := setAll(ctx, dp, services); err != nil {
		b.Fatal(err)
	}
	benchfig.Durations(b, "ipvs/one-change-kernel", "µs", benchfig.AtMost(1000), benchfig.Median, kernel,
		"the netlink operations a Set issues when one backend's weight changes among "+size+": exactly one UpdateDestination "+
			"(asserted, and no read), timed from the request to the kernel's answer; the kernel rebuilds the service's Maglev table in it")
	benchfig.Durations(b, "ipvs/one-change-set", "µs", benchfig.None, benchfig.Median, set,
		"the dataplane's whole Set with one backend's weight changed among "+size+": diffing the desired state against the "+
			"dataplane's record, and the one UpdateDestination")
}

// benchRestart starts a new dataplane on the programmed namespace and sets the
// same state: it reads everything back and must write nothing.
func benchRestart(b *testing.B, l *lab, ns string, n int, services []model.Service, size string) {
	ctx := context.Background()
	boundBefore := len(boundVIPs(l, ns, ipvs.DefaultInterface))
	var took []time.Duration
	for range n {
		m := &meter{}
		var dp *ipvs.Dataplane
		took = append(took, timed(b, "restart", func() (err error) {
			if dp, err = ipvs.New(ipvs.Options{Netns: nsPath(ns), VerifyInterval: time.Hour, WrapKernel: m.wrap}); err != nil {
				return err
			}
			return setAll(ctx, dp, services)
		}))
		dp.Close()
		if ops := m.take(); ops.writes() != 0 {
			b.Fatalf("a restart with nothing changed wrote: %v", ops)
		}
	}
	if after := len(boundVIPs(l, ns, ipvs.DefaultInterface)); after != boundBefore {
		b.Fatalf("restarts changed the VIPs bound: %d, then %d", boundBefore, after)
	}
	benchfig.Durations(b, "ipvs/restart-unchanged", "s", benchfig.AtMost(2), benchfig.Median, took,
		"opening a new dataplane (4 kernel handles) on a kernel serving "+size+" and its first Set of the same state: "+
			"it lists the bound VIPs, dumps the services (netlink) and reads every destination back from /proc/net/ip_vs, "+
			"compares them with the desired state and writes nothing (asserted)")
}

// timedDataplane records how long the controller's dataplane calls take,
// and what the last one was.
type timedDataplane struct {
	*ipvs.Dataplane
	mu   sync.Mutex
	last time.Duration
	call string
}

func (t *timedDataplane) Set(ctx context.Context, services []model.Service) (dataplane.Status, error) {
	start := time.Now()
	st, err := t.Dataplane.Set(ctx, services)
	t.record("Set", start)
	return st, err
}

func (t *timedDataplane) Update(ctx context.Context, vips []netip.Addr, services []model.Service) (dataplane.Status, error) {
	start := time.Now()
	st, err := t.Dataplane.Update(ctx, vips, services)
	t.record(fmt.Sprintf("Update of %d VIPs", len(vips)), start)
	return st, err
}

func (t *timedDataplane) record(call string, start time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.call = time.Since(start), call
}

// benchHubToKernel runs the real lb-agent controller on the programmed
// namespace, its hub an in-memory clientset holding objs, and measures each
// VirtualIP change (one backend drained) until the kernel has the new weight.
func benchHubToKernel(b *testing.B, ns string, n int, objs []*trafficv1alpha1.VirtualIP, size string) {
	group := &clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: benchGroup},
		Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: benchZone}}
	initial := []k8sruntime.Object{group}
	for _, v := range objs {
		initial = append(initial, v.DeepCopy())
	}
	hub := porticofake.NewSimpleClientset(initial...)
	m := &meter{}
	inner, err := ipvs.New(ipvs.Options{Netns: nsPath(ns), VerifyInterval: time.Hour, WrapKernel: m.wrap})
	if err != nil {
		b.Fatal(err)
	}
	defer inner.Close()
	dp := &timedDataplane{Dataplane: inner}
	c := controller.New(controller.Options{
		Node: benchNode, Group: benchGroup, Address: netip.MustParseAddr("10.0.0.2"), DataplaneType: "ipvs",
		ResyncPeriod: time.Hour, SystemNamespace: "portico-system", LeaseNamespace: "portico-edge", LeaseDuration: time.Minute,
	}, hub, kubefake.NewSimpleClientset(), dp, &silentSpeaker{}, allHealthy{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 0)
	}()
	defer func() { cancel(); <-done }()
	reported := func(vip string, want int) (bool, string) {
		node, err := hub.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), benchNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, v := range node.Status.VIPs {
			if v.Address == vip {
				return len(v.Weights) == want, fmt.Sprintf("%d weight groups", len(v.Weights))
			}
		}
		return false, fmt.Sprintf("%d VIPs reported", len(node.Status.VIPs))
	}
	framework.Eventually(b, 5*time.Minute, "the controller's first synchronization", func() (bool, string) {
		return reported(objs[len(objs)-1].Spec.Address, 1)
	})
	if ops := m.take(); ops.writes() != 0 {
		b.Fatalf("the controller's first synchronization on a kernel serving its state wrote: %v", ops)
	}

	poller, err := libipvs.New(nsPath(ns))
	if err != nil {
		b.Fatal(err)
	}
	defer poller.Close()
	var took, sets []time.Duration
	for i := range n {
		obj := objs[(i*1237+17)%len(objs)]
		backend := i % len(obj.Spec.Backends)
		start := time.Now()
		v, err := hub.TrafficV1alpha1().VirtualIPs().Get(context.Background(), obj.Name, metav1.GetOptions{})
		if err == nil {
			v.Spec.Backends[backend].Drained = true
			_, err = hub.TrafficV1alpha1().VirtualIPs().Update(context.Background(), v, metav1.UpdateOptions{})
		}
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, pollWeight(b, poller, v.Spec.Address, v.Spec.Backends[backend].Address, 0, start))
		// The node reports two weight groups (drained and not) once the
		// synchronization is over: the next sample starts from a quiet agent.
		framework.Eventually(b, time.Minute, "the node's status after the change", func() (bool, string) {
			return reported(v.Spec.Address, 2)
		})
		dp.mu.Lock()
		sets = append(sets, dp.last)
		call := dp.call
		dp.mu.Unlock()
		if call != "Update of 1 VIPs" {
			b.Fatalf("a backend drained on the hub: the controller's last dataplane call was a %s, want an Update of that VIP", call)
		}
		if ops := m.take(); ops.writes() != 1 || ops["Write"].n != 1 || ops.reads() != 0 {
			b.Fatalf("a backend drained on the hub: netlink operations %v, want one write and no read", ops)
		}
	}
	benchfig.Durations(b, "ipvs/hub-to-kernel", "ms", benchfig.AtMost(20), benchfig.Median, took,
		"from the update of one VirtualIP (one backend drained) in an in-memory hub (a fake clientset, no API server) until the "+
			"kernel's destination weight reads 0 (polled with netlink about every 100µs), through the real lb-agent controller "+
			"serving "+size+": the informer's event (which notes the VirtualIP's name), the controller's synchronization of that "+
			"change alone up to the dataplane (the VirtualIP read from the informer's cache, whether it withdraws a VIP, its VIP "+
			"rebuilt), the dataplane's Update of that one VIP (asserted)")
	benchfig.Durations(b, "ipvs/hub-to-kernel-dataplane-set", "ms", benchfig.None, benchfig.Median, sets,
		"the controller's dataplane call in each ipvs/hub-to-kernel sample, an Update of the changed VIP among "+size+
			": the diff of its service against the dataplane's record and one write")
}

// pollWeight reads the destination's weight until it is want and returns the
// time since start. It measures, so it polls as finely as the kernel answers,
// not at a test's wait interval.
func pollWeight(b *testing.B, h *libipvs.Handle, vip, backend string, want int, start time.Time) time.Duration {
	svc := &libipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP(vip).To4(), Port: 80}
	deadline := start.Add(30 * time.Second)
	for {
		dests, err := h.GetDestinations(svc)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range dests {
			if d.Address.String() == backend && d.Weight == want {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 30s the kernel's weight of %s in %s:80 is not %d", backend, vip, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// meter counts and times the IPVS operations of a dataplane, per kind: the
// reads (a netlink round trip each) and the writes, which go in batches
// ("Write": one netlink round trip each, and their time) (ipvs.Options.WrapKernel).
type meter struct {
	mu  sync.Mutex
	ops opStats
}

type opStat struct {
	n     int
	total time.Duration
}

type opStats map[string]opStat

func (s opStats) count(prefix string) int {
	n := 0
	for op, st := range s {
		if strings.HasPrefix(op, prefix) {
			n += st.n
		}
	}
	return n
}

func (s opStats) reads() int  { return s.count("Get") }
func (s opStats) writes() int { return s.count("New") + s.count("Update") + s.count("Del") }

// total is the time of the reads and of the write batches.
func (s opStats) total() time.Duration {
	var t time.Duration
	for _, st := range s {
		t += st.total
	}
	return t
}

func (s opStats) String() string {
	var parts []string
	for op, st := range s {
		parts = append(parts, fmt.Sprintf("%s×%d (%v)", op, st.n, st.total))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func (m *meter) wrap(k ipvs.Kernel) ipvs.Kernel { return &meteredKernel{k: k, m: m} }

// observe counts n op, and the time since start unless it is zero.
func (m *meter) observe(op string, n int, start time.Time) {
	var d time.Duration
	if !start.IsZero() {
		d = time.Since(start)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ops == nil {
		m.ops = opStats{}
	}
	st := m.ops[op]
	st.n += n
	st.total += d
	m.ops[op] = st
}

// take returns the operations since the last take.
func (m *meter) take() opStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	ops := m.ops
	m.ops = nil
	return ops
}

type meteredKernel struct {
	k ipvs.Kernel
	m *meter
}

func (k *meteredKernel) GetServices() ([]*libipvs.Service, error) {
	defer k.m.observe("GetServices", 1, time.Now())
	return k.k.GetServices()
}

func (k *meteredKernel) GetService(s *libipvs.Service) (*libipvs.Service, error) {
	defer k.m.observe("GetService", 1, time.Now())
	return k.k.GetService(s)
}

func (k *meteredKernel) GetDestinations(s *libipvs.Service) ([]*libipvs.Destination, error) {
	defer k.m.observe("GetDestinations", 1, time.Now())
	return k.k.GetDestinations(s)
}

// Write counts each op by kind and the batch ("Write": its round trips, the
// time they took).
func (k *meteredKernel) Write(ops []ipvs.Op) []error {
	defer k.m.observe("Write", 1, time.Now())
	for _, op := range ops {
		k.m.observe(op.Kind.String(), 1, time.Time{})
	}
	return k.k.Write(ops)
}
