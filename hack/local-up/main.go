// Command local-up runs a local Portico federation on this machine (make up) and
// stops it (make down); package test/localfed/localup does the work, and
// nothing here links package testing. Everything lives under _output/local; the
// processes run detached and their PIDs are kept in _output/local/pids, the
// network namespaces in _output/local/netns.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/portico-dev/portico/test/localfed"
	"github.com/portico-dev/portico/test/localfed/localup"
)

const usage = `usage: local-up up|down|status
       local-up relay FILE

  up      start a complete local federation (needs root; installs BIRD 2, BIND 9
          and qemu with apt-get when missing):
            - the hub cluster (etcd, kube-apiserver and kube-controller-manager
              built from source) and portico-hub with embedded etcd;
            - member clusters zone-a-1 and zone-b-1 (Istio CRDs, a stand-in
              ingress gateway) joined with kubectl portico join, with
              member-agents;
            - BIND 9 on 127.0.0.1 serving portico.test (TSIG, RFC 2136) and the
              DNSProvider local; a CA (cached) and the CertificateIssuer local-ca;
            - a router network namespace running BIRD 2, the stand-in gateways
              in network namespaces answering on ports 80 and 443, and one
              lb-agent per zone in a qemu VM peering with BIRD (ECMP);
            - the VIPPool local (198.51.100.0/24) served by the
              LoadBalancerGroups zone-a and zone-b;
          writes _output/local/kubeconfig, <cluster>.kubeconfig and env, prints
          how to use it; does nothing when it is up
  down    stop every process "up" started (by PID) and remove its network
          namespaces (with the bridge, taps and veths in them), keeping the data
  status  list the recorded processes and namespaces
  relay   (internal) the relay process of "up": forwards the hub cluster's port
          into the router namespace and serves the stand-in gateways, as FILE says

The edge VMs use KVM when /dev/kvm boots them (probed once, cached in
_output/vm), software emulation (TCG) otherwise; PORTICO_VM_ACCEL=kvm|tcg
overrides the probe.`

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	root, err := localfed.RepoRoot()
	if err != nil {
		fail(err)
	}
	dir := filepath.Join(root, "_output", "local")
	switch {
	case args[0] == "up" && len(args) == 1:
		err = up(dir)
	case args[0] == "down" && len(args) == 1:
		err = down(dir)
	case args[0] == "status" && len(args) == 1:
		lines := localup.Status(dir)
		if len(lines) == 0 {
			lines = []string{"The local federation is not running."}
		}
		fmt.Println(strings.Join(lines, "\n"))
	case args[0] == "relay" && len(args) == 2:
		err = relay(args[1])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

func up(dir string) error {
	switch alive, total := localup.Running(dir); {
	case total > 0 && alive == total:
		fmt.Printf("The local federation is already up; nothing changed.\n  export KUBECONFIG=%s\n  . %s\n",
			filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "env"))
		return nil
	case total > 0:
		fmt.Println("The local federation is partly up; stopping what is left before starting again.")
		if err := localup.Down(dir); err != nil {
			return err
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 20*time.Minute)
	defer cancelTimeout()
	fmt.Println("Starting the local federation:")
	f, err := localup.Up(ctx, localup.Options{Dir: dir, NetnsPrefix: "portico-local", Detach: true,
		Logf: func(format string, args ...any) { fmt.Printf(format+"\n", args...) }})
	if errors.Is(err, localup.ErrMissing) {
		return fmt.Errorf("%w\n(install what is missing, or run as root so that make up can install it)", err)
	}
	if err != nil {
		return err
	}
	fmt.Print(summary(f))
	return nil
}

// summary says where everything is and how to use it.
func summary(f *localup.Federation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe local federation is up (%v).\n", f.Took.Round(time.Second))
	fmt.Fprintf(&b, "  hub cluster    %s   (logs in %s)\n", f.Hub.URL, f.Hub.Dir)
	fmt.Fprintf(&b, "  portico-hub    %s   (embedded etcd in %s)\n", f.PorticoHub.URL(), filepath.Join(f.PorticoHub.Options.Dir, "data"))
	for _, m := range f.Members {
		fmt.Fprintf(&b, "  %-14s %s   (zone %s; member-agent metrics %s; gateways %s in netns %s)\n", m.Zone.Cluster, m.Cluster.URL,
			m.Zone.Name, m.Agent.MetricsURL(), strings.Join(m.Zone.GatewayAddresses(), ", "), f.GatewayNetns[m.Zone.Cluster])
	}
	fmt.Fprintf(&b, "  DNS            named on %s, zone %s (DNSProvider %s)\n", f.DNS.Addr, localup.DNSZone, localup.DNSProviderName)
	fmt.Fprintf(&b, "  certificates   CertificateIssuer %s, CA %s\n", localup.IssuerName, f.CAFile)
	fmt.Fprintf(&b, "  router         BIRD (AS %d) in netns %s, socket %s\n", localup.RouterASN, f.RouterNetns, f.BIRD.Socket)
	for _, n := range f.Nodes {
		fmt.Fprintf(&b, "  %-14s VM at %s, group %s (console %s; metrics http://%s/metrics from netns %s)\n",
			n.Name(), n.Address(), n.Zone.Name, n.ConsoleLog(), n.MetricsAddress(), f.RouterNetns)
	}
	env := filepath.Join(f.Dir, "env")
	fmt.Fprintf(&b, `  VIPs           VIPPool %s (%s), LoadBalancerGroups zone-a and zone-b

  . %s                       # PORTICO_* variables
  export KUBECONFIG=$PORTICO_KUBECONFIG PATH=%s:%s:$PATH   # kubectl, kubectl-portico
  kubectl apply -f manifests/examples/checkout.yaml  # an access point with a VIP, a certificate and DNS
  kubectl wait fap/checkout --for=condition=Ready    # the kubeconfig's namespace is shop
  kubectl portico describe fap checkout              # the tree: VIP, edge nodes, certificate, DNS, clusters
  kubectl portico status                             # one line per access point
  kubectl get fap,nsvc -o wide; kubectl get lbn,vip
  birdc -s $PORTICO_BIRD_SOCKET show route                 # one next hop per edge node
  dig @127.0.0.1 -p %s checkout.%s                  # dig: apt-get install bind9-dnsutils
  KUBECONFIG=$PORTICO_MEMBER_ZONE_A_1_KUBECONFIG kubectl get gateway,virtualservice -n shop
  KUBECONFIG=$PORTICO_MEMBER_ZONE_A_1_KUBECONFIG kubectl get secret -n istio-system   # the certificate
  kubectl portico drain cluster zone-a-1             # shift traffic away from a zone (README); undrain to undo

Stop it with: make down
`, localup.PoolName, localup.PoolCIDR, env, pluginDir(), f.BinDir, portOf(f.DNS.Addr), localup.DNSZone)
	return b.String()
}

// pluginDir is where kubectl-portico is built (the member clusters were
// joined with it).
func pluginDir() string {
	bin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		return "_output/bin"
	}
	return filepath.Dir(bin)
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

func down(dir string) error {
	if len(localup.Status(dir)) == 0 {
		fmt.Println("The local federation is not running.")
		return nil
	}
	if err := localup.Down(dir); err != nil {
		return err
	}
	fmt.Println("Stopped the local federation (data kept in " + dir + ").")
	return nil
}

func relay(file string) error {
	cfg, err := localup.ReadRelayConfig(file)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	return localup.RunRelay(ctx, cfg)
}
