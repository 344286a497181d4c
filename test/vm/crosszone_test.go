//go:build vm

package vm

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/bgp"
	"github.com/portico-dev/portico/lb-agent/controller"
	"github.com/portico-dev/portico/lb-agent/healthcheck"
	"github.com/portico-dev/portico/lb-agent/model"
	"github.com/portico-dev/portico/test/localfed/nsrun"
)

// The cross-zone test's edge node is in zoneLocal; half the backends are there,
// half in zoneRemote. Its health checks probe the service port every
// checkInterval and take checkFall failures (checkRise successes) in a row.
const (
	zoneLocal     = "zone-a"
	zoneRemote    = "zone-b"
	edgeGroup     = "edge-zone-a"
	edgeNode      = "edge-a-1"
	localWeight   = 99
	remoteWeight  = 1
	checkInterval = 500 * time.Millisecond
	checkFall     = 2
	checkRise     = 2
	// splitConns TCP connections and splitFlows UDP flows measure the split:
	// the flows tell 1.6% from 1% or 2% (4σ of the binomial is ±0.35%).
	splitConns = 1000
	splitFlows = 20000
	// settleRun connections in a row to the expected zone end a move.
	settleRun = 50
)

// edge is the lb-agent's real controller on one director: its hub is an
// in-memory clientset (the test plays the hub and writes the VirtualIP), its
// health checks run from the director's namespace, its dataplane is the real
// IPVS one and nothing speaks BGP (the client routes the VIP to the director).
type edge struct {
	hub *porticofake.Clientset
}

func startEdge(t *testing.T, d *dsr, vipObj *trafficv1alpha1.VirtualIP) *edge {
	t.Helper()
	group := &clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: edgeGroup},
		Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: zoneLocal}}
	e := &edge{hub: porticofake.NewSimpleClientset(group, vipObj)}
	director := d.directors[0]
	var c *controller.Controller
	check := func(ctx context.Context, p model.Probe) error {
		return nsrun.Do(director, func() error { return healthcheck.Check(ctx, p) })
	}
	health := healthcheck.New(check, func(p model.Probe, v model.Verdict) { c.HealthChanged(p, v) })
	c = controller.New(controller.Options{
		Node: edgeNode, Group: edgeGroup, Address: netip.MustParseAddr(directorAddr(0)), DataplaneType: "ipvs",
		ResyncPeriod: time.Hour, SystemNamespace: "portico-system", LeaseNamespace: "portico-edge", LeaseDuration: time.Minute,
	}, e.hub, kubefake.NewSimpleClientset(), newDataplane(t, director), &silentSpeaker{}, health)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 0)
	}()
	t.Cleanup(func() { cancel(); <-done; health.Stop() })
	return e
}

// silentSpeaker announces nothing: BGP is the peers tier's.
type silentSpeaker struct{}

func (silentSpeaker) SetConfig(context.Context, bgp.Config) error { return nil }
func (silentSpeaker) Set(context.Context, []netip.Addr) error     { return nil }
func (silentSpeaker) Sessions() []bgp.Session                     { return nil }

// updateVIP changes the VirtualIP on the hub and returns when the write
// returned.
func (e *edge) updateVIP(t *testing.T, change func(*trafficv1alpha1.VirtualIPSpec)) time.Time {
	t.Helper()
	v, err := e.hub.TrafficV1alpha1().VirtualIPs().Get(context.Background(), "crosszone", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	change(&v.Spec)
	if _, err := e.hub.TrafficV1alpha1().VirtualIPs().Update(context.Background(), v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// nodeWeights is what the node reports in its status for the VIP: backend
// address -> weight.
func (e *edge) nodeWeights() map[string]int {
	n, err := e.hub.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), edgeNode, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, v := range n.Status.VIPs {
		if v.Address != vip {
			continue
		}
		for _, w := range v.Weights {
			for _, b := range w.Backends {
				out[b] = int(w.Weight)
			}
		}
	}
	return out
}

// kernelWeights reads the weights of the VIP's TCP service from the kernel:
// backend address -> weight.
func kernelWeights(d *dsr) map[string]int {
	out := map[string]int{}
	prefix := "TCP " + vip + ":80 -> "
	for _, line := range ipvsTable(d.lab, d.directors[0]) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest) // DEST:PORT FORWARD WEIGHT
		var w int
		fmt.Sscan(f[2], &w)
		host, _, _ := net.SplitHostPort(f[0])
		out[host] = w
	}
	return out
}

// waitWeights waits until the kernel and the node's status both have want.
func waitWeights(t *testing.T, d *dsr, e *edge, want map[string]int) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for {
		k, s := kernelWeights(d), e.nodeWeights()
		if fmt.Sprint(k) == fmt.Sprint(want) && fmt.Sprint(s) == fmt.Sprint(want) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("weights: kernel %v, node status %v; want %v in both", k, s, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// source adds a client address: each step of a test connects from its own,
// so that no IPVS connection entry of an earlier step (input-only entries of
// closed connections live for minutes) steers a reused source port.
func (d *dsr) source(t *testing.T) net.IP {
	t.Helper()
	d.sources++
	addr := fmt.Sprintf("10.0.0.%d", 150+d.sources)
	d.addAddr(d.client, "eth0", addr+"/24")
	return net.ParseIP(addr)
}

// tryWho makes one connection through the VIP from src and returns the
// backend that answered, or the error (a failed backend refuses).
func (d *dsr) tryWho(src net.IP) (string, error) {
	var c net.Conn
	dialer := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	if err := nsrun.Do(d.client, func() (err error) {
		c, err = dialer.Dial("tcp", vip+":80")
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "who\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.Fields(line)[0], nil
}

// settle makes connections until settleRun in a row reach a backend of want
// and returns when the first of them started, after since (0 when it
// started before).
func (d *dsr) settle(t *testing.T, src net.IP, since time.Time, zones map[string]string, want string) time.Duration {
	t.Helper()
	deadline := since.Add(20 * time.Second)
	var first time.Time
	run := 0
	seen := map[string]int{}
	for run < settleRun {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, connections still reach other zones than %s (last: %v)", want, seen)
		}
		start := time.Now()
		name, err := d.tryWho(src)
		if err != nil {
			name = "refused"
		}
		seen[name]++
		if err == nil && zones[name] == want {
			if run == 0 {
				first = start
			}
			run++
		} else {
			run = 0
		}
		time.Sleep(2 * time.Millisecond)
	}
	return max(first.Sub(since), 0)
}

// tcpSplit makes n connections and counts them per backend.
func (d *dsr) tcpSplit(t *testing.T, n int) map[string]int {
	t.Helper()
	src := d.source(t)
	per := map[string]int{}
	for range n {
		name, err := d.tryWho(src)
		if err != nil {
			t.Fatalf("connection through the VIP: %v", err)
		}
		per[name]++
	}
	return per
}

// udpSplit sends one datagram per flow (source port) to the VIP's port 53,
// in batches, and counts the answers per backend. The kernel's Maglev hashes
// the sum of source address and port, so the flows of the next source
// address are (but one) the same flows again: a table rebuilt with the same
// weights sends them to the same backends.
func (d *dsr) udpSplit(t *testing.T, n int) map[string]int {
	t.Helper()
	const batch = 500
	src := d.source(t)
	dst := &net.UDPAddr{IP: net.ParseIP(vip), Port: 53}
	per := map[string]int{}
	buf := make([]byte, 64)
	for first := 0; first < n; first += batch {
		var flows []*net.UDPConn
		if err := nsrun.Do(d.client, func() error {
			for i := first; i < min(first+batch, n); i++ {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: src, Port: 20000 + i})
				if err != nil {
					return err
				}
				flows = append(flows, c)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		pending := flows
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 4 {
				t.Fatalf("%d UDP flows (of ports %d-%d from %s) got no answer from the VIP after 4 tries; answers so far: %v", len(pending), 20000+first, 20000+first+len(flows)-1, src, per)
			}
			for _, c := range pending {
				if _, err := c.WriteToUDP([]byte("who"), dst); err != nil {
					t.Fatal(err)
				}
			}
			var missed []*net.UDPConn
			deadline := time.Now().Add(2 * time.Second)
			for _, c := range pending {
				_ = c.SetReadDeadline(deadline)
				if m, _, err := c.ReadFromUDP(buf); err == nil {
					per[string(buf[:m])]++
				} else {
					missed = append(missed, c)
				}
			}
			pending = missed
		}
		for _, c := range flows {
			c.Close()
		}
	}
	return per
}

// checkShare checks that the remote zone's share of per is within four
// standard deviations of the binomial mean for probability p.
func checkShare(t *testing.T, what string, per map[string]int, zones map[string]string, p float64) string {
	t.Helper()
	n, remote := 0, 0
	for name, c := range per {
		n += c
		if zones[name] == zoneRemote {
			remote += c
		}
	}
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	if lo, hi := mean-4*sd, mean+4*sd; float64(remote) < lo || float64(remote) > hi {
		t.Errorf("%d of %d %s reached %s (%v), want %.0f ± %.0f (4σ of the binomial, p=%.4f)", remote, n, what, zoneRemote, per, mean, 4*sd, p)
	}
	return fmt.Sprintf("%d of %d %s to %s (%.2f%%, expected %.0f ± %.0f) %v", remote, n, what, zoneRemote, 100*float64(remote)/float64(n), mean, 4*sd, per)
}

// reopen starts the backend's service port again after a failure.
func (d *dsr) reopen(t *testing.T, b *backend) {
	t.Helper()
	if err := nsrun.Do(b.ns, func() (err error) {
		b.tcp, err = net.Listen("tcp", ":80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go b.handle(c)
		}
	}(b.tcp)
}

// TestCrossZoneSplitFailoverAndDrain runs the lb-agent's controller with real
// health checks and kernel IPVS (Maglev, IPIP/DSR) on one edge node of
// zone-a, whose VIP has two backends in zone-a and two in zone-b, each in its
// own namespace, with crossZone 99/1:
//   - the kernel's Maglev table cannot hold 99/1 (model.MaglevMaxTurns): the
//     node programs 63/1, the closest it holds exactly, and reports it; real
//     connections and UDP flows split 63/1 within the binomial bound (1.6% to
//     zone-b; unfitted weights would have given 2%);
//   - when every zone-a backend fails, all new connections go to zone-b
//     within interval × unhealthyThreshold + 200ms; once they recover, the
//     split is back;
//   - draining zone-a on the hub (the VirtualIP the hub writes for
//     `kubectl portico drain zone`) moves new connections within 1s while an
//     established connection to zone-a goes on; undrain restores the split.
func TestCrossZoneSplitFailoverAndDrain(t *testing.T) {
	requireVM(t)
	d := newDSR(t, 1, 4)
	zones := map[string]string{}
	var local []*backend
	vipObj := &trafficv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "crosszone"},
		Spec: trafficv1alpha1.VirtualIPSpec{
			Address: vip, Pool: "public", Groups: []string{edgeGroup},
			Ports:     []trafficv1alpha1.Port{{Port: 80, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}},
			CrossZone: &trafficv1alpha1.CrossZone{LocalWeight: ptr.To(int32(localWeight)), RemoteWeight: ptr.To(int32(remoteWeight))},
			HealthCheck: &trafficv1alpha1.HealthCheck{Type: "tcp", Port: 80,
				Interval: &metav1.Duration{Duration: checkInterval}, Timeout: &metav1.Duration{Duration: checkInterval},
				HealthyThreshold: ptr.To(int32(checkRise)), UnhealthyThreshold: ptr.To(int32(checkFall))},
		},
	}
	// What the node programs for 99/1 with two backends in each zone.
	weights, drained := map[string]int{}, map[string]int{}
	for i, b := range d.backends {
		zone := zoneLocal
		if i >= len(d.backends)/2 {
			zone = zoneRemote
		}
		zones[b.name] = zone
		vipObj.Spec.Backends = append(vipObj.Spec.Backends, trafficv1alpha1.Backend{Address: b.addr, Zone: zone, Cluster: b.name})
		if zone == zoneLocal {
			local = append(local, b)
			weights[b.addr], drained[b.addr] = model.MaglevMaxTurns, 0
		} else {
			weights[b.addr], drained[b.addr] = remoteWeight, remoteWeight
		}
	}
	p := 2.0 / (2*model.MaglevMaxTurns + 2)

	e := startEdge(t, d, vipObj)
	waitWeights(t, d, e, weights)

	t.Run("Split", func(t *testing.T) {
		start := time.Now()
		tcp := checkShare(t, "connections", d.tcpSplit(t, splitConns), zones, p)
		tcpTook := time.Since(start)
		start = time.Now()
		udp := checkShare(t, "UDP flows", d.udpSplit(t, splitFlows), zones, p)
		t.Logf("99/1 programmed as %v (kernel = node status): %s in %v; %s in %v",
			kernelWeights(d), tcp, tcpTook.Round(time.Millisecond), udp, time.Since(start).Round(time.Millisecond))
	})

	t.Run("Failover", func(t *testing.T) {
		src := d.source(t)
		for _, b := range local {
			b.tcp.Close()
		}
		failed := time.Now()
		moved := d.settle(t, src, failed, zones, zoneRemote)
		bound := checkInterval*checkFall + 200*time.Millisecond
		if moved > bound {
			t.Errorf("every zone-a backend failed: new connections reached only zone-b after %v, want ≤ %v (interval × unhealthyThreshold + 200ms)", moved, bound)
		}
		for _, b := range local {
			d.reopen(t, b)
		}
		back := waitWeights(t, d, e, weights)
		udp := checkShare(t, "UDP flows", d.udpSplit(t, splitFlows), zones, p)
		t.Logf("failover: all new connections to %s %v after every %s backend failed (bound %v); recovered: weights back after %v (healthyThreshold %d × %v), then %s",
			zoneRemote, moved.Round(time.Millisecond), zoneLocal, bound, back.Round(time.Millisecond), checkRise, checkInterval, udp)
	})

	t.Run("Drain", func(t *testing.T) {
		var established net.Conn
		var name string
		for established == nil || zones[name] != zoneLocal {
			if established != nil {
				established.Close()
			}
			established, name, _ = d.dial(t, "echo")
		}
		defer established.Close()
		r := bufio.NewReader(established)
		echo := func(step string) error {
			msg := fmt.Sprintf("%s %d\n", step, time.Now().UnixNano())
			fmt.Fprint(established, msg)
			line, err := r.ReadString('\n')
			if err == nil && line != msg {
				err = fmt.Errorf("echo %q, want %q", line, msg)
			}
			return err
		}
		if err := echo("before the drain"); err != nil {
			t.Fatalf("established connection to %s: %v", name, err)
		}

		src := d.source(t)
		changed := e.updateVIP(t, func(s *trafficv1alpha1.VirtualIPSpec) { s.CrossZone.DrainedZones = []string{zoneLocal} })
		moved := d.settle(t, src, changed, zones, zoneRemote)
		if moved > time.Second {
			t.Errorf("draining %s: new connections reached only %s %v after the change on the hub, want ≤ 1s", zoneLocal, zoneRemote, moved)
		}
		waitWeights(t, d, e, drained)
		if err := echo("after the drain"); err != nil {
			t.Errorf("the established connection to %s (drained) broke: %v", name, err)
		}
		conns := d.mustRun(d.directors[0], "", "ipvsadm", "-Lnc")
		if !slices.ContainsFunc(strings.Split(conns, "\n"), func(l string) bool {
			return strings.Contains(l, "ESTABLISHED") && strings.Contains(l, d.backend(name).addr+":80")
		}) {
			t.Errorf("no established IPVS connection entry to %s after the drain:\n%s", name, conns)
		}

		e.updateVIP(t, func(s *trafficv1alpha1.VirtualIPSpec) { s.CrossZone.DrainedZones = nil })
		back := waitWeights(t, d, e, weights)
		udp := checkShare(t, "UDP flows", d.udpSplit(t, splitFlows), zones, p)
		t.Logf("drain: all new connections to %s %v after the change on the hub (bound 1s), the established connection to %s went on; undrain: weights back %v after the change, then %s",
			zoneRemote, moved.Round(time.Millisecond), name, back.Round(time.Millisecond), udp)
	})
}
