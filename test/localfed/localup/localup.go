// Package localup runs a complete local Portico federation on one machine: the
// hub cluster and portico-hub, two member clusters with member-agents, BIND 9
// with a DNSProvider, a CA with a CertificateIssuer, and the L4 tier — a BIRD 2
// router in a network namespace and one lb-agent per zone in a qemu VM peering
// with it — with stand-in ingress gateways answering in their own namespaces.
// hack/local-up (make up / make down) and test/e2e both run it through Up and
// Down.
//
// Network (all inside namespaces Up creates; nothing in the host's):
//
//	<prefix>-router        br0: 10.0.0.1/24 (zone-a), 10.1.0.1/24 (zone-b); BIRD (AS 64500);
//	                       taps of the VMs; the relay forwards <router>:<hub port> to the hub
//	VM edge-a-1            10.0.0.11, lb-agent of group zone-a (AS 64512)
//	VM edge-b-1            10.1.0.11, lb-agent of group zone-b (AS 64512)
//	<prefix>-gw-zone-a-1   10.0.0.20, 10.0.0.21: zone-a-1's gateway endpoints, HTTP on 80 and 443
//	<prefix>-gw-zone-b-1   10.1.0.20, 10.1.0.21: zone-b-1's gateway endpoints, HTTP on 80 and 443
package localup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/test/localfed"
)

// Options configure Up.
type Options struct {
	// Dir holds everything: logs, kubeconfigs, the env file, the PIDs and
	// namespaces to remove, and the data kept across Up and Down (the clusters'
	// etcd, portico-hub's data, the CA, the TSIG secret, the DNS zone). Required.
	Dir string
	// NetnsPrefix names the network namespaces (<prefix>-router,
	// <prefix>-gw-<cluster>). Required.
	NetnsPrefix string
	// Detach lets the processes outlive the caller (make up); without it they
	// die with it (tests).
	Detach bool
	// Logf reports progress (nil: silent).
	Logf func(format string, args ...any)
}

// Member is a member cluster and its member-agent.
type Member struct {
	Zone    Zone
	Cluster *localfed.MemberCluster
	Agent   *localfed.MemberAgent
}

// Federation is a running local federation.
type Federation struct {
	Options
	Root       string
	BinDir     string // kube-apiserver, etcd, kubectl
	Hub        *localfed.HubCluster
	PorticoHub *localfed.PorticoHub
	DNS        *DNS
	CA         *localfed.CA
	// CAFile is the CA certificate (PEM) of the CertificateIssuer.
	CAFile  string
	Members []*Member
	// RouterNetns is the router's network namespace; GatewayNetns maps each
	// member cluster to its gateways' namespace.
	RouterNetns  string
	GatewayNetns map[string]string
	BIRD         *BIRD
	Relay        *localfed.Process
	Nodes        []*LBNode
	// Took is how long Up took.
	Took time.Duration

	net     *network
	clients *hubClients
	exes    map[string]string // bird, qemu: binaries started through `ip netns exec`
}

// Files in Options.Dir.
const (
	pidsFile  = "pids"
	netnsFile = "netns"
	envFile   = "env"
)

// Up starts the federation and returns when all of it serves: both edge nodes
// peer with the router and report Ready. It checks and prepares what it needs
// first (root, BIRD, BIND, the VM and a static lb-agent; errors wrap ErrMissing
// when something is missing) and stops everything again when it fails.
func Up(ctx context.Context, opts Options) (_ *Federation, err error) {
	if opts.Dir == "" || opts.NetnsPrefix == "" {
		return nil, fmt.Errorf("localup: Dir and NetnsPrefix are required")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	f := &Federation{Options: opts, net: newNetwork(opts.NetnsPrefix), exes: map[string]string{}}
	f.RouterNetns, f.GatewayNetns = f.net.Router, f.net.Gateways
	start := time.Now()
	defer func() {
		if err != nil {
			if downErr := Down(opts.Dir); downErr != nil {
				err = fmt.Errorf("%w (and stopping what had started: %v)", err, downErr)
			}
		}
	}()
	var assets *vmAssets
	steps := []struct {
		name string
		run  func() error
	}{
		{"requirements (root, BIRD 2, BIND 9, kube binaries)", f.checkRequirements},
		{"edge VM image and static lb-agent", func() (err error) { assets, err = prepareVMs(f.Root); return err }},
		// named first: portico-hub probes the DNSProvider kept from an earlier
		// run as soon as it starts, and again only a minute later.
		{"BIND 9", func() error { return f.startDNS(ctx) }},
		{"hub cluster and portico-hub", func() error { return f.startHub(ctx) }},
		{"DNSProvider " + DNSProviderName, func() error { return f.clients.applyDNSProvider(ctx, f.DNS) }},
		{"HostGrant " + HostGrantName + " (" + GrantedHosts + " to namespace " + QuickstartNamespace + ")", func() error { return f.clients.applyHostGrant(ctx) }},
		{"CA and CertificateIssuer " + IssuerName, func() error { return f.createIssuer(ctx) }},
		{"member clusters and member-agents", func() error { return f.startMembers(ctx) }},
		{"kubefed CRDs and KubeFedClusters", func() error { return f.registerKubefed(ctx) }},
		{"network namespaces", func() error { return f.net.create(f.recordNetns) }},
		{"BIRD router, relay and stand-in gateways", func() error { return f.startRouter(ctx) }},
		{"VIPPool, LoadBalancerGroups and edge VMs", func() error { return f.startEdge(ctx, assets) }},
		{"edge nodes peering and Ready", func() error { return f.WaitLBNodes(ctx, 3*time.Minute) }},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		opts.Logf("  %-55s %v", s.name, time.Since(t).Round(100*time.Millisecond))
	}
	if err := f.writeEnv(); err != nil {
		return nil, err
	}
	f.Took = time.Since(start)
	return f, nil
}

func (f *Federation) checkRequirements() (err error) {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the L4 tier needs root (network namespaces, taps, BIRD)", ErrMissing)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: ip (iproute2) not found", ErrMissing)
	}
	if f.Root, err = localfed.RepoRoot(); err != nil {
		return err
	}
	if f.BinDir, err = localfed.KubeBinDir(); err != nil {
		return fmt.Errorf("%w: %v", ErrMissing, err)
	}
	if _, err := lookNamed(); err != nil {
		return err
	}
	if f.exes["bird"], err = lookBIRD(f.Root); err != nil {
		return err
	}
	if f.exes["qemu"], err = exec.LookPath("qemu-system-x86_64"); err != nil {
		// hack/vm/build-lb.sh installs qemu next: resolved after it ran.
		f.exes["qemu"] = ""
	}
	return nil
}

func (f *Federation) startHub(ctx context.Context) (err error) {
	f.Hub, err = localfed.StartHubCluster(ctx, localfed.HubClusterOptions{Dir: filepath.Join(f.Dir, "hub"), Detach: f.Detach, BinDir: f.BinDir})
	if err != nil {
		return err
	}
	if err := f.writeState(); err != nil {
		return err
	}
	f.PorticoHub, err = localfed.StartPorticoHub(ctx, f.Hub, localfed.PorticoHubOptions{Dir: filepath.Join(f.Dir, "portico-hub"), Detach: f.Detach, HostGrants: "enforce"})
	if err != nil {
		return err
	}
	if err := f.writeState(); err != nil {
		return err
	}
	if f.clients, err = newHubClients(f.Hub); err != nil {
		return err
	}
	// The user's kubeconfig defaults to the quickstart's namespace, so
	// `kubectl wait fap/checkout --for=condition=Ready` works as written.
	cfg, err := clientcmd.LoadFromFile(f.Hub.KubeconfigPath)
	if err != nil {
		return err
	}
	for _, c := range cfg.Contexts {
		c.Namespace = QuickstartNamespace
	}
	kubeconfig, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return localfed.WriteFile(f.Kubeconfig(), kubeconfig, 0o600)
}

// QuickstartNamespace is the namespace of manifests/examples/checkout.yaml and
// the default namespace of the kubeconfig make up writes.
const QuickstartNamespace = "shop"

func (f *Federation) startDNS(ctx context.Context) (err error) {
	if f.DNS, err = startDNS(ctx, filepath.Join(f.Dir, "dns"), f.Detach); err != nil {
		return err
	}
	return f.writeState()
}

func (f *Federation) createIssuer(ctx context.Context) (err error) {
	f.CAFile = filepath.Join(f.Dir, "ca", "tls.crt")
	if f.CA, err = localfed.LoadOrCreateCA("Portico local CA", f.CAFile, filepath.Join(f.Dir, "ca", "tls.key")); err != nil {
		return err
	}
	return f.clients.applyIssuer(ctx, f.CA)
}

// startMembers starts each zone's member cluster, its gateway endpoints being
// the zone's gateway addresses, and joins it with a member-agent.
func (f *Federation) startMembers(ctx context.Context) error {
	for _, z := range Zones {
		dir := filepath.Join(f.Dir, z.Cluster)
		mc, err := localfed.StartMemberCluster(ctx, localfed.MemberClusterOptions{Dir: dir, Name: z.Cluster, Detach: f.Detach,
			BinDir: f.BinDir, GatewayAddresses: z.GatewayAddresses(), GatewayAPICRDs: true})
		if err != nil {
			return err
		}
		m := &Member{Zone: z, Cluster: mc}
		f.Members = append(f.Members, m)
		if err := f.writeState(); err != nil {
			return err
		}
		kubeconfig, err := os.ReadFile(mc.KubeconfigPath)
		if err != nil {
			return err
		}
		if err := localfed.WriteFile(f.MemberKubeconfig(z.Cluster), kubeconfig, 0o600); err != nil {
			return err
		}
		m.Agent, err = localfed.StartMemberAgent(ctx, f.Hub, mc, localfed.MemberAgentOptions{
			Dir: filepath.Join(dir, "agent"), Zone: z.Name, Region: z.Region, Detach: f.Detach})
		if m.Agent != nil && m.Agent.Process != nil {
			if err := f.writeState(); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// registerKubefed installs kubefed's CRDs in the hub cluster and registers
// every member cluster as a KubeFedCluster of the same name (with its zone
// and region in status, as kubefed's cluster controller reports them), so
// that access points can follow FederatedDeployments. kubefed's own
// controllers do not run.
func (f *Federation) registerKubefed(ctx context.Context) error {
	if err := localfed.InstallKubefedCRDs(ctx, f.Hub.KubectlPath(), f.Hub.KubeconfigPath); err != nil {
		return err
	}
	for _, m := range f.Members {
		if err := localfed.CreateKubeFedCluster(ctx, f.Hub.RestConfig, localfed.KubeFedCluster{
			Name: m.Zone.Cluster, APIEndpoint: m.Cluster.URL, CABundle: m.Cluster.RestConfig.CAData,
			Labels: map[string]string{"topology.kubernetes.io/region": m.Zone.Region},
			Zones:  []string{m.Zone.Name}, Region: m.Zone.Region,
		}); err != nil {
			return err
		}
	}
	return nil
}

func (f *Federation) startRouter(ctx context.Context) (err error) {
	if f.BIRD, err = startBIRD(ctx, f.Root, filepath.Join(f.Dir, "bird"), f.net.Router, f.Detach); err != nil {
		return err
	}
	if err := f.writeState(); err != nil {
		return err
	}
	if f.Relay, err = startRelay(ctx, f.Root, f.Dir, relayConfig(f.net, f.Hub.Port), f.Detach); err != nil {
		return err
	}
	return f.writeState()
}

// startEdge applies the VIPPool and the LoadBalancerGroups and boots one edge
// VM per zone.
func (f *Federation) startEdge(ctx context.Context, assets *vmAssets) error {
	if err := f.clients.applyEdge(ctx); err != nil {
		return err
	}
	if err := installLBAgentRBAC(ctx, f.Root, f.Hub); err != nil {
		return err
	}
	if f.exes["qemu"] == "" {
		var err error
		if f.exes["qemu"], err = exec.LookPath("qemu-system-x86_64"); err != nil {
			return fmt.Errorf("%w: qemu-system-x86_64 not found", ErrMissing)
		}
	}
	for _, z := range Zones {
		n := &LBNode{Zone: z, Dir: filepath.Join(f.Dir, "vm", z.Node), router: f.net.Router, assets: assets, detach: f.Detach}
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return err
		}
		kubeconfig, err := f.clients.lbAgentKubeconfig(ctx, f.Hub, z)
		if err != nil {
			return err
		}
		if err := n.writeInitrd(kubeconfig); err != nil {
			return err
		}
		if err := n.Start(); err != nil {
			return err
		}
		f.Nodes = append(f.Nodes, n)
		if err := f.writeState(); err != nil {
			return err
		}
	}
	return nil
}

// WaitLBNodes waits until BIRD has a session with every running edge node and
// each reports its LoadBalancerNode Ready; it fails at once when one of those
// VMs stops.
func (f *Federation) WaitLBNodes(ctx context.Context, timeout time.Duration) error {
	var want []string
	var vms []*localfed.Process
	for _, n := range f.Nodes {
		if exited, _ := n.Process.Exited(); !exited {
			want = append(want, n.Address())
			vms = append(vms, n.Process)
		}
	}
	slices.Sort(want)
	ready := func(ctx context.Context) error {
		peers, err := f.BIRD.Established()
		if err != nil || !slices.Equal(peers, want) {
			return fmt.Errorf("BIRD sessions %v (want %v), err %v", peers, want, err)
		}
		if notReady := f.notReadyNodes(ctx); len(notReady) > 0 {
			return fmt.Errorf("LoadBalancerNodes not Ready: %s", strings.Join(notReady, "; "))
		}
		return nil
	}
	if err := localfed.WaitUntil(ctx, timeout, ready, vms...); err != nil {
		var consoles []string
		for _, n := range f.Nodes {
			if exited, _ := n.Process.Exited(); exited {
				consoles = append(consoles, fmt.Sprintf("--- console of %s (tail) ---\n%s", n.Name(), n.Process.LogTail(40)))
			}
		}
		return fmt.Errorf("edge nodes not ready: %w\n%s", err, strings.Join(consoles, "\n"))
	}
	return nil
}

func (f *Federation) notReadyNodes(ctx context.Context) []string {
	var out []string
	for _, n := range f.Nodes {
		if exited, _ := n.Process.Exited(); exited {
			continue
		}
		lbn, err := f.clients.portico.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, n.Name(), metav1.GetOptions{})
		if err != nil {
			out = append(out, n.Name()+": "+err.Error())
			continue
		}
		if c := meta.FindStatusCondition(lbn.Status.Conditions, clusterv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			out = append(out, fmt.Sprintf("%s: %+v", n.Name(), c))
		}
	}
	return out
}

// Member returns the member of cluster name (nil if none).
func (f *Federation) Member(name string) *Member {
	for _, m := range f.Members {
		if m.Zone.Cluster == name {
			return m
		}
	}
	return nil
}

// Node returns the edge node name (nil if none).
func (f *Federation) Node(name string) *LBNode {
	for _, n := range f.Nodes {
		if n.Name() == name {
			return n
		}
	}
	return nil
}

// StopAgent stops the member-agent of cluster.
func (f *Federation) StopAgent(cluster string) error { return f.Member(cluster).Agent.Stop() }

// StartAgent starts the stopped member-agent of cluster again.
func (f *Federation) StartAgent(ctx context.Context, cluster string) error {
	if err := f.Member(cluster).Agent.Restart(ctx); err != nil {
		return err
	}
	return f.writeState()
}

// StopNode powers an edge VM off (see LBNode.Stop).
func (f *Federation) StopNode(name string, graceful bool) error { return f.Node(name).Stop(graceful) }

// StartNode boots a stopped edge VM again.
func (f *Federation) StartNode(name string) error {
	if err := f.Node(name).Start(); err != nil {
		return err
	}
	return f.writeState()
}

// Kubeconfig is the hub cluster's admin kubeconfig.
func (f *Federation) Kubeconfig() string { return filepath.Join(f.Dir, "kubeconfig") }

// MemberKubeconfig is the admin kubeconfig of a member cluster.
func (f *Federation) MemberKubeconfig(cluster string) string {
	return filepath.Join(f.Dir, cluster+".kubeconfig")
}

// Kubectl is the kubectl built with the clusters.
func (f *Federation) Kubectl() string { return filepath.Join(f.BinDir, localfed.KubectlBinary) }

// proc is a started process as recorded in the pids file.
type proc struct {
	name string
	pid  int
	exe  string
}

// procs lists the started processes in start order.
func (f *Federation) procs() []proc {
	var out []proc
	add := func(name string, p *localfed.Process, exe string) {
		if p != nil {
			if exe == "" {
				exe = p.Path
			}
			out = append(out, proc{name, p.PID, exe})
		}
	}
	cluster := func(prefix string, h *localfed.HubCluster) {
		if h.Etcd != nil {
			add(prefix+"etcd", h.Etcd.Process, "")
		}
		add(prefix+"kube-apiserver", h.APIServer, "")
		add(prefix+"kube-controller-manager", h.ControllerManager, "")
	}
	if f.DNS != nil {
		add("named", f.DNS.Process, "")
	}
	if f.Hub != nil {
		cluster("", f.Hub)
	}
	if f.PorticoHub != nil {
		add("portico-hub", f.PorticoHub.Process, "")
	}
	for _, m := range f.Members {
		cluster(m.Zone.Cluster+"-", m.Cluster.HubCluster)
		if m.Agent != nil {
			add(m.Zone.Cluster+"-member-agent", m.Agent.Process, "")
		}
	}
	if f.BIRD != nil {
		add("bird", f.BIRD.Process, f.exes["bird"])
	}
	add("relay", f.Relay, "")
	for _, n := range f.Nodes {
		add("vm-"+n.Name(), n.Process, f.exes["qemu"])
	}
	return out
}

func (f *Federation) writeState() error {
	var b strings.Builder
	for _, p := range f.procs() {
		fmt.Fprintf(&b, "%s %d %s\n", p.name, p.pid, p.exe)
	}
	return localfed.WriteFile(filepath.Join(f.Dir, pidsFile), []byte(b.String()), 0o644)
}

// recordNetns adds ns to the namespaces Down removes.
func (f *Federation) recordNetns(ns string) error {
	file, err := os.OpenFile(filepath.Join(f.Dir, netnsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer file.Close()
	_, err = fmt.Fprintln(file, ns)
	return err
}

// Env is the content of the env file: shell KEY=value lines.
func (f *Federation) Env() []string {
	env := []string{
		"PORTICO_KUBECONFIG=" + f.Kubeconfig(),
		"PORTICO_KUBECTL=" + f.Kubectl(),
		"PORTICO_HUB_CLUSTER_URL=" + f.Hub.URL,
		"PORTICO_HUB_URL=" + f.PorticoHub.URL(),
		"PORTICO_HUB_PID=" + strconv.Itoa(f.PorticoHub.Process.PID),
		"PORTICO_HUB_CLUSTER_APISERVER_PID=" + strconv.Itoa(f.Hub.APIServerPID),
		"PORTICO_HUB_CLUSTER_ETCD_PID=" + strconv.Itoa(f.Hub.EtcdPID),
		"PORTICO_HUB_CLUSTER_CONTROLLER_MANAGER_PID=" + strconv.Itoa(f.Hub.ControllerManagerPID),
		"PORTICO_LOG_DIR=" + f.Dir,
		"PORTICO_VIP_POOL=" + PoolName,
		"PORTICO_DNS_SERVER=" + f.DNS.Addr,
		"PORTICO_DNS_ZONE=" + DNSZone,
		"PORTICO_DNS_PROVIDER=" + DNSProviderName,
		"PORTICO_ISSUER=" + IssuerName,
		"PORTICO_ISSUER_CA_FILE=" + f.CAFile,
		"PORTICO_BIRD_SOCKET=" + f.BIRD.Socket,
		"PORTICO_ROUTER_NETNS=" + f.RouterNetns,
	}
	for _, m := range f.Members {
		env = append(env, "PORTICO_MEMBER_"+envName(m.Zone.Cluster)+"_KUBECONFIG="+f.MemberKubeconfig(m.Zone.Cluster))
	}
	for _, n := range f.Nodes {
		env = append(env, "PORTICO_LB_"+envName(n.Name())+"_ADDRESS="+n.Address())
	}
	return env
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

func (f *Federation) writeEnv() error {
	return localfed.WriteFile(filepath.Join(f.Dir, envFile), []byte(strings.Join(f.Env(), "\n")+"\n"), 0o644)
}

// Running counts the processes recorded in dir's pids file that still run.
func Running(dir string) (alive, total int) {
	procs, _ := readPIDs(filepath.Join(dir, pidsFile))
	for _, p := range procs {
		if localfed.PIDRunsBinary(p.pid, p.exe) {
			alive++
		}
	}
	return alive, len(procs)
}

// Down stops every process recorded in dir (in reverse order of start, each
// only if its PID still runs the recorded binary) and removes the recorded
// network namespaces with everything in them (bridge, taps, veths). The data
// stays in dir. It is what `make down` does, and what Up does when it fails.
func Down(dir string) error {
	procs, err := readPIDs(filepath.Join(dir, pidsFile))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var errs []string
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if err := localfed.StopPID(p.pid, p.exe, localfed.DefaultStopTimeout); err != nil {
			errs = append(errs, fmt.Sprintf("stopping %s (pid %d): %v", p.name, p.pid, err))
		}
	}
	namespaces, _ := os.ReadFile(filepath.Join(dir, netnsFile))
	for _, ns := range strings.Fields(string(namespaces)) {
		if err := deleteNetns(ns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	for _, name := range []string{envFile, pidsFile, netnsFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// Status describes each recorded process (running or stopped) and namespace.
func Status(dir string) []string {
	procs, _ := readPIDs(filepath.Join(dir, pidsFile))
	var out []string
	for _, p := range procs {
		state := "stopped"
		if localfed.PIDRunsBinary(p.pid, p.exe) {
			state = "running"
		}
		out = append(out, fmt.Sprintf("%-24s pid %-8d %s", p.name, p.pid, state))
	}
	namespaces, _ := os.ReadFile(filepath.Join(dir, netnsFile))
	for _, ns := range strings.Fields(string(namespaces)) {
		state := "absent"
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			state = "present"
		}
		out = append(out, fmt.Sprintf("netns %-29s %s", ns, state))
	}
	return out
}

func readPIDs(path string) ([]proc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var procs []proc
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		pid, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		procs = append(procs, proc{fields[0], pid, fields[2]})
	}
	return procs, nil
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o644) }
