//go:build peers

// Package peers is the lb-agent's peer tier: two real lb-agents (with an
// in-memory dataplane: this kernel has no IPVS) in their own network namespaces
// peer over eBGP with a real BIRD 2 router in a third one, driven by a real hub
// (kube-apiserver + portico-hub). It checks what the routers see: both next hops
// of a VIP and an ECMP kernel route, a withdrawal when one node's backends fail,
// SIGTERM withdrawing before exit, kill -9 dropping the route, announcements
// surviving a hub outage, an agent restarted without a hub serving its state
// file (coldstart_test.go), a wiped hub's mass withdrawal held until it is
// confirmed (hubwipe_test.go); and it measures hub change -> route and health
// verdict -> withdrawal.
package peers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/manifests"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
	"github.com/portico-dev/portico/test/localfed/nsrun"
)

const (
	group       = "zone-a"
	backendAddr = lanPrefix + ".100"
	backendPort = 8080
	baseVIP     = "198.51.100.10"
	drainPeriod = 3 * time.Second
)

type node struct {
	name, role, addr, ns string
	kubecfg              string // its own hub identity (kubectl portico join-edge)
	proc                 *localfed.Process
	fwd                  *hubForwarder // the hub as its namespace reaches it
}

type env struct {
	t       *testing.T
	dir     string
	topo    *topology
	bird    *bird
	portico *versioned.Clientset
	kube    kubernetes.Interface
	hub     *framework.HubCluster
	ph      *framework.PorticoHub
	hubPort int
	agent   string // binary
	nodes   []*node
}

func TestPeers(t *testing.T) {
	requireTools(t)
	e := setup(t)

	t.Run("ECMP", e.testECMP)
	t.Run("NodeStatus", e.testNodeStatus)
	t.Run("HubChangeToRoute", e.testHubChangeLatency)
	t.Run("HealthWithdrawsOnlyThatNode", e.testHealth)
	t.Run("HubOutageKeepsAnnouncements", e.testHubOutage)
	t.Run("SIGTERMWithdrawsBeforeExit", e.testSIGTERM)
	t.Run("KillDropsRoute", e.testKill)
}

func setup(t *testing.T) *env { return setupWith(t, nil) }

// setupWith is setup with more namespaces on the LAN: role -> address (their
// namespaces are e.topo.spokes[role]).
func setupWith(t *testing.T, extra map[string]string) *env {
	e := &env{t: t, dir: t.TempDir()}
	e.agent = buildAgent(t, e.dir)
	hub := framework.NewHubCluster(t)
	e.ph = framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	e.hub, e.hubPort = hub, hub.Port
	var err error
	if e.portico, err = versioned.NewForConfig(hub.RestConfig); err != nil {
		t.Fatal(err)
	}
	e.kube = kubernetes.NewForConfigOrDie(hub.RestConfig)
	applyEdgeManifests(t, hub)

	e.nodes = []*node{
		{name: "edge-a-1", role: "a", addr: lanPrefix + ".11"},
		{name: "edge-a-2", role: "b", addr: lanPrefix + ".12"},
	}
	for _, n := range e.nodes {
		n.kubecfg = agentKubeconfig(t, hub, e.dir, n)
	}
	spokes := map[string]string{"be": backendAddr}
	maps.Copy(spokes, extra)
	for _, n := range e.nodes {
		spokes[n.role] = n.addr
	}
	e.topo = newTopology(t, spokes)
	e.bird = startBIRD(t, e.topo.router)
	go serveTCP(listenIn(t, e.topo.spokes["be"], fmt.Sprintf("%s:%d", backendAddr, backendPort)))

	e.createGroup()
	e.createVIP(baseVIP)
	for _, n := range e.nodes {
		n.ns = e.topo.spokes[n.role]
		n.fwd = forwardHub(t, n.ns, hub.Port)
		e.startAgent(n)
	}
	framework.Eventually(t, 60*time.Second, "two BGP sessions at BIRD", func() (bool, string) {
		n := e.bird.established()
		return n == 2, fmt.Sprintf("%d established", n)
	})
	return e
}

// buildAgent builds test/peers/agent (the lb-agent with an in-memory dataplane).
func buildAgent(t *testing.T, dir string) string {
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "lb-agent")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "./test/peers/agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	t.Logf("built the agent in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// applyEdgeManifests applies manifests/lb-agent/hub: what every edge node
// shares (the namespace portico-edge and the read-only role).
func applyEdgeManifests(t *testing.T, hub *framework.HubCluster) {
	root, _ := localfed.RepoRoot()
	if out, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "apply", "-k", filepath.Join(root, "manifests", "lb-agent", "hub")); err != nil {
		t.Fatalf("applying manifests/lb-agent/hub: %v\n%s%s", err, out, stderr)
	}
}

// agentKubeconfig gives node n its own hub identity as `kubectl portico
// join-edge` does and returns the path of its kubeconfig: each agent runs with
// exactly the RBAC of its node (its own LoadBalancerNode and Lease).
func agentKubeconfig(t *testing.T, hub *framework.HubCluster, dir string, n *node) string {
	kube, err := kubernetes.NewForConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := versioned.NewForConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	res, err := plugin.JoinEdge(context.Background(), pc, kube, plugin.JoinEdgeOptions{
		Node: n.name, Group: group, Address: n.addr, TokenDuration: time.Hour,
		Hub: plugin.HubEndpoint{Server: hub.URL, CAData: hub.RestConfig.CAData},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The node's edge manifest (manifests/lb-agent/edge) is valid for a real API server.
	var manifest bytes.Buffer
	if err := manifests.RenderLBAgentNode(&manifest, manifests.LBAgentNodeValues{Node: n.name, Group: group, Address: n.addr, HubKubeconfig: res.Kubeconfig}); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := framework.KubectlWithInput(t, hub.KubeconfigPath, &manifest, "apply", "--dry-run=server", "-f", "-"); err != nil {
		t.Errorf("the edge manifest of %s was rejected by the API server: %v\n%s%s", n.name, err, out, stderr)
	}
	path := filepath.Join(dir, n.name+".kubeconfig")
	if err := os.WriteFile(path, res.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent starts (or starts again) node n's agent, its state file in
// stateDir.
func (e *env) startAgent(n *node) {
	t := e.t
	proc, err := localfed.StartProcess(localfed.ProcessOptions{
		Name: n.name, Path: "ip",
		Args: []string{"netns", "exec", n.ns, e.agent, "--hub-kubeconfig", n.kubecfg, "--node-name", n.name,
			"--group", group, "--address", n.addr, "--drain-period", drainPeriod.String(),
			"--listen-address", "127.0.0.1:9474", "--resync-period", "10s", "--state-dir", e.stateDir(),
			"-v=" + agentVerbosity()},
		LogPath: filepath.Join(e.dir, n.name+".log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.proc = proc
	t.Cleanup(func() {
		if t.Failed() && n.proc == proc { // the log of every run of the agent
			t.Logf("--- %s log (tail) ---\n%s", n.name, proc.LogTail(40))
		}
		_ = proc.Stop()
	})
}

// stateDir holds the agents' state files (each its own <node>.json).
func (e *env) stateDir() string { return filepath.Join(e.dir, "state") }

func (e *env) createGroup() {
	_, err := e.portico.ClusterV1alpha1().LoadBalancerGroups().Create(context.Background(), &clusterv1alpha1.LoadBalancerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: group},
		Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: group, BGP: clusterv1alpha1.BGPConfig{
			LocalASN: 64512,
			Peers:    []clusterv1alpha1.BGPPeer{{Address: routerAddr, ASN: routerASN}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) createVIP(addr string) {
	ms := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	_, err := e.portico.TrafficV1alpha1().VirtualIPs().Create(context.Background(), &trafficv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: addr},
		Spec: trafficv1alpha1.VirtualIPSpec{
			Address: addr, Pool: "test", Groups: []string{group},
			Ports:    []trafficv1alpha1.Port{{Name: "http", Port: backendPort, Protocol: "TCP"}},
			Backends: []trafficv1alpha1.Backend{{Address: backendAddr, Cluster: "c1", Zone: group}},
			HealthCheck: &trafficv1alpha1.HealthCheck{Type: "tcp", Interval: ms(100 * time.Millisecond),
				Timeout: ms(100 * time.Millisecond), HealthyThreshold: ptr.To(int32(2)), UnhealthyThreshold: ptr.To(int32(2))},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deleteVIP(addr string) {
	err := e.portico.TrafficV1alpha1().VirtualIPs().Delete(context.Background(), addr, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
}

func (e *env) addrs(nodes ...*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.addr)
	}
	slices.Sort(out)
	return out
}

// waitHops waits until BIRD's routes for vip have exactly the next hops of nodes.
func (e *env) waitHops(t *testing.T, vip string, timeout time.Duration, nodes ...*node) {
	t.Helper()
	want := e.addrs(nodes...)
	framework.Eventually(t, timeout, fmt.Sprintf("next hops %v for %s at BIRD", want, vip), func() (bool, string) {
		hops := e.bird.nextHops(vip + "/32")
		return slices.Equal(hops, want), fmt.Sprint(hops)
	})
}

// measureHops is the timing helper of the MEASURE figures, not a wait: it
// returns when BIRD's routes for vip first had exactly the next hops of nodes,
// polling every 2ms so that the figures keep millisecond precision (waits use
// waitHops). It fails the test after timeout.
func (e *env) measureHops(t *testing.T, vip string, timeout time.Duration, nodes ...*node) time.Time {
	t.Helper()
	want := e.addrs(nodes...)
	deadline := time.Now().Add(timeout)
	for {
		hops := e.bird.nextHops(vip + "/32")
		if slices.Equal(hops, want) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for next hops %v for %s at BIRD; last: %v", timeout, want, vip, hops)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) testECMP(t *testing.T) {
	a, b := e.nodes[0], e.nodes[1]
	e.waitHops(t, baseVIP, 30*time.Second, a, b)
	var hops []string
	var multipath bool
	framework.Eventually(t, 10*time.Second, "the ECMP kernel route in the router namespace", func() (bool, string) {
		hops, multipath = e.bird.kernelNextHops(t, baseVIP)
		return multipath && slices.Equal(hops, e.addrs(a, b)), fmt.Sprintf("next hops %v, multipath %v", hops, multipath)
	})
	t.Logf("router kernel route for %s: multipath via %v", baseVIP, hops)
}

func (e *env) testNodeStatus(t *testing.T) {
	for _, n := range e.nodes {
		framework.Eventually(t, 30*time.Second, "the status of "+n.name, func() (bool, string) {
			lbn, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), n.name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			s := lbn.Status
			return lbn.Spec.Address == n.addr && lbn.Spec.Group == group && slices.Contains(s.Announced, baseVIP) &&
				len(s.BGP.Sessions) == 1 && s.BGP.Sessions[0].Peer == routerAddr && s.BGP.Sessions[0].State == "Established" &&
				s.Dataplane.Type == "fake" && s.Dataplane.Services == 1 && s.Dataplane.Destinations == 1 &&
				meta.IsStatusConditionTrue(s.Conditions, "Ready"), fmt.Sprintf("spec %+v, status %+v", lbn.Spec, s)
		})
		metrics := e.get(t, n, "/metrics")
		for _, want := range []string{
			`portico_lb_bgp_session_established{peer="` + routerAddr + `"} 1`,
			`portico_lb_announced_vips 1`,
			`portico_lb_backend_healthy{backend="` + backendAddr + `:8080",type="tcp"} 1`,
			`portico_lb_dataplane_services 1`,
			`portico_lb_sync_duration_seconds_count`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("%s's /metrics lacks %s", n.name, want)
			}
		}
		if got := e.get(t, n, "/healthz"); got != "ok" {
			t.Errorf("%s's /healthz: %q", n.name, got)
		}
		// Its own identity renews its own Lease (join-edge created it unrenewed).
		framework.Eventually(t, 30*time.Second, n.name+"'s Lease renewed by its agent", func() (bool, string) {
			l, err := e.kube.CoordinationV1().Leases(lblease.Namespace).Get(context.Background(), lblease.Name(n.name), metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return lblease.Alive(l, time.Now()) && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == n.name,
				fmt.Sprintf("spec %+v", l.Spec)
		})
	}
}

// get fetches path from the node's agent (127.0.0.1:9474 in its namespace).
func (e *env) get(t *testing.T, n *node, path string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = nsrun.Do(n.ns, func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	resp, err := client.Get("http://127.0.0.1:9474" + path)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, n.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// testHubChangeLatency measures VirtualIP created/deleted on the hub -> route
// with both next hops in BIRD / route gone from BIRD.
func (e *env) testHubChangeLatency(t *testing.T) {
	const n = 50
	var add, del []time.Duration
	for i := range n {
		vip := fmt.Sprintf("198.51.100.%d", 100+i)
		start := time.Now()
		e.createVIP(vip)
		add = append(add, e.measureHops(t, vip, 30*time.Second, e.nodes...).Sub(start))
	}
	for i := range n {
		vip := fmt.Sprintf("198.51.100.%d", 100+i)
		start := time.Now()
		e.deleteVIP(vip)
		del = append(del, e.measureHops(t, vip, 30*time.Second).Sub(start))
	}
	t.Logf("MEASURE VirtualIP created on the hub -> route via both nodes in BIRD (n=%d): %s", n, percentiles(add))
	t.Logf("MEASURE VirtualIP deleted on the hub -> route gone from BIRD (n=%d): %s", n, percentiles(del))
}

// testHealth makes node a's health checks fail (a prohibit route to the backend
// in its namespace): only a's path is withdrawn; then it comes back.
func (e *env) testHealth(t *testing.T) {
	a, b := e.nodes[0], e.nodes[1]
	const n = 20
	var sinceFault, sinceVerdict, back []time.Duration
	for i := range n {
		start := time.Now()
		sh(t, "ip", "-n", a.ns, "route", "add", "prohibit", backendAddr+"/32")
		gone := e.measureHops(t, baseVIP, 30*time.Second, b)
		sinceFault = append(sinceFault, gone.Sub(start))
		if v, ok := lastVerdict(t, a, "Unhealthy", start); ok {
			sinceVerdict = append(sinceVerdict, gone.Sub(v))
		}
		if i == 0 {
			hops, _ := e.bird.kernelNextHops(t, baseVIP)
			if !slices.Equal(hops, e.addrs(b)) {
				t.Errorf("router kernel route after a's withdrawal: %v", hops)
			}
		}
		start = time.Now()
		sh(t, "ip", "-n", a.ns, "route", "del", "prohibit", backendAddr+"/32")
		back = append(back, e.measureHops(t, baseVIP, 30*time.Second, a, b).Sub(start))
	}
	t.Logf("health check: tcp every 100ms, timeout 100ms, unhealthy after 2 failures, healthy after 2 successes")
	t.Logf("MEASURE backend unreachable from node a -> a's path withdrawn in BIRD (n=%d): %s", n, percentiles(sinceFault))
	t.Logf("MEASURE node a's Unhealthy verdict (agent log) -> a's path withdrawn in BIRD (n=%d): %s", len(sinceVerdict), percentiles(sinceVerdict))
	t.Logf("MEASURE backend reachable again -> a's path back in BIRD (n=%d): %s", n, percentiles(back))
}

var klogTime = regexp.MustCompile(`^[IWE](\d{4} \d{2}:\d{2}:\d{2}\.\d{6})`)

// lastVerdict finds the time of node's last "Backend health changed" log line
// with verdict, logged after since.
func lastVerdict(t *testing.T, n *node, verdict string, since time.Time) (time.Time, bool) {
	data, err := os.ReadFile(n.proc.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	var found time.Time
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "Backend health changed") || !strings.Contains(line, `verdict="`+verdict+`"`) {
			continue
		}
		m := klogTime.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ts, err := time.ParseInLocation("0102 15:04:05.000000", m[1], time.Local)
		if err != nil {
			continue
		}
		ts = ts.AddDate(since.Year(), 0, 0)
		if !ts.Before(since) {
			found = ts
		}
	}
	return found, !found.IsZero()
}

// testHubOutage stops portico-hub: both nodes keep announcing, health checks
// still withdraw and restore a node's path; after the hub is back, changes flow
// again.
func (e *env) testHubOutage(t *testing.T) {
	a, b := e.nodes[0], e.nodes[1]
	if err := e.ph.Stop(); err != nil {
		t.Fatal(err)
	}
	outage := time.Now()
	_, err := e.portico.TrafficV1alpha1().VirtualIPs().Get(context.Background(), baseVIP, metav1.GetOptions{})
	if err == nil {
		t.Fatal("the Portico API still answers with portico-hub stopped")
	}
	// Not a wait: for 15s of the outage the announcements may not change.
	for time.Since(outage) < 15*time.Second {
		if hops := e.bird.nextHops(baseVIP + "/32"); !slices.Equal(hops, e.addrs(a, b)) {
			t.Fatalf("%v into the hub outage the next hops are %v", time.Since(outage).Round(time.Millisecond), hops)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sh(t, "ip", "-n", a.ns, "route", "add", "prohibit", backendAddr+"/32")
	e.waitHops(t, baseVIP, 30*time.Second, b)
	sh(t, "ip", "-n", a.ns, "route", "del", "prohibit", backendAddr+"/32")
	e.waitHops(t, baseVIP, 30*time.Second, a, b)
	t.Logf("announcements held for %v with portico-hub stopped; health checks kept acting", time.Since(outage).Round(time.Second))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := e.ph.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	const vip = "198.51.100.200"
	e.createVIP(vip)
	e.waitHops(t, vip, 60*time.Second, a, b)
	e.deleteVIP(vip)
	e.waitHops(t, vip, 60*time.Second)
}

// testSIGTERM: a stopping node withdraws at once and exits only after the
// drain period.
func (e *env) testSIGTERM(t *testing.T) {
	a, b := e.nodes[0], e.nodes[1]
	start := time.Now()
	if err := syscall.Kill(a.proc.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	gone := e.measureHops(t, baseVIP, 10*time.Second, b)
	if exited, _ := a.proc.Exited(); exited {
		t.Fatalf("%s exited before its path was withdrawn", a.name)
	}
	select {
	case <-a.proc.Done():
	case <-time.After(drainPeriod + 10*time.Second):
		t.Fatalf("%s did not exit after the drain period", a.name)
	}
	exit := time.Now()
	if exit.Sub(start) < drainPeriod {
		t.Errorf("%s exited %v after SIGTERM, before the drain period %v", a.name, exit.Sub(start), drainPeriod)
	}
	lbn, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), a.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(lbn.Status.Conditions, "Ready")
	if len(lbn.Status.Announced) != 0 || ready == nil || ready.Reason != "Draining" {
		t.Errorf("%s's status after SIGTERM: announced %v, Ready %+v", a.name, lbn.Status.Announced, ready)
	}
	t.Logf("MEASURE SIGTERM -> path withdrawn in BIRD: %v; process exited after %v (drain period %v)",
		gone.Sub(start).Round(time.Microsecond), exit.Sub(start).Round(time.Millisecond), drainPeriod)
}

// testKill: kill -9 of the last node drops the route (the kernel closes the
// TCP session).
func (e *env) testKill(t *testing.T) {
	b := e.nodes[1]
	e.waitHops(t, baseVIP, 10*time.Second, b)
	start := time.Now()
	if err := syscall.Kill(b.proc.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gone := e.measureHops(t, baseVIP, 30*time.Second)
	t.Logf("MEASURE kill -9 -> route gone from BIRD: %v", gone.Sub(start).Round(time.Microsecond))
	if hops, _ := e.bird.kernelNextHops(t, baseVIP); len(hops) != 0 {
		t.Errorf("router kernel route still present: %v", hops)
	}
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "no samples"
	}
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	p := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		return s[max(0, min(i, len(s)-1))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v, p99 %v, min %v, max %v", p(0.5), p(0.99), s[0].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// agentVerbosity is the agents' -v (PORTICO_PEERS_AGENT_V; 4 logs every
// synchronization).
func agentVerbosity() string {
	if v := os.Getenv("PORTICO_PEERS_AGENT_V"); v != "" {
		return v
	}
	return "2"
}
