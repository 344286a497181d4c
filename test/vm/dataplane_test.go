//go:build vm

package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/portico-dev/portico/lb-agent/dataplane/ipvs"
	"github.com/portico-dev/portico/lb-agent/model"
)

// TestMain doubles as the "agent" of the restart test: with PORTICO_VM_HELPER
// set it programs the dataplane from a file, like a (re)starting lb-agent, and
// exits.
func TestMain(m *testing.M) {
	if os.Getenv("PORTICO_VM_HELPER") == "set" {
		os.Exit(helperSet(os.Args[1], os.Args[2]))
	}
	os.Exit(m.Run())
}

func helperSet(ns, file string) int {
	data, err := os.ReadFile(file)
	var services []model.Service
	if err == nil {
		err = json.Unmarshal(data, &services)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	d, err := ipvs.New(ipvs.Options{Netns: ns})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer d.Close()
	st, err := d.Set(context.Background(), services)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("programmed %d services, %d destinations\n", st.Services, st.Destinations)
	return 0
}

// runAgent programs services into ns from a separate process (the agent).
func runAgent(t *testing.T, ns string, services []model.Service) {
	t.Helper()
	file := t.TempDir() + "/desired.json"
	data, _ := json.Marshal(services)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], nsPath(ns), file)
	cmd.Env = append(os.Environ(), "PORTICO_VM_HELPER=set")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("agent process: %v\n%s", err, out)
	}
}

func svc(vip string, port uint16, proto model.Protocol, dests ...string) model.Service {
	s := model.Service{Key: model.Key{VIP: netip.MustParseAddr(vip), Port: port, Protocol: proto}}
	for _, d := range dests {
		addr, w, _ := strings.Cut(d, "=")
		var weight int
		fmt.Sscan(w, &weight)
		s.Destinations = append(s.Destinations, model.Destination{Address: netip.MustParseAddr(addr), Weight: weight})
	}
	return s
}

// expectedTable is what ipvsadm -Ln must show for services (see ipvsTable).
func expectedTable(services []model.Service) []string {
	var out []string
	for _, s := range services {
		key := fmt.Sprintf("%s %s", s.Protocol, netip.AddrPortFrom(s.VIP, s.Port))
		out = append(out, key+" mh (mh-fallback,mh-port)")
		for _, d := range s.Destinations {
			out = append(out, fmt.Sprintf("%s -> %s Tunnel %d", key, netip.AddrPortFrom(d.Address, s.Port), d.Weight))
		}
	}
	slices.Sort(out)
	return out
}

// ipvsTable is `ipvsadm -Ln` in ns as sorted lines "PROTO VIP:PORT SCHED (FLAGS)"
// and "PROTO VIP:PORT -> DEST:PORT FORWARD WEIGHT".
func ipvsTable(l *lab, ns string) []string {
	out := l.mustRun(ns, "", "ipvsadm", "-Ln")
	var lines []string
	var key string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && (f[0] == "TCP" || f[0] == "UDP"):
			key = f[0] + " " + f[1]
			lines = append(lines, strings.Join(f, " "))
		case len(f) >= 4 && f[0] == "->" && key != "":
			lines = append(lines, fmt.Sprintf("%s -> %s %s %s", key, f[1], f[2], f[3]))
		}
	}
	slices.Sort(lines)
	return lines
}

func boundVIPs(l *lab, ns, link string) []string {
	l.t.Helper()
	h := l.handles[ns]
	lk, err := h.LinkByName(link)
	if err != nil {
		return nil
	}
	addrs, err := h.AddrList(lk, netlink.FAMILY_V4)
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	slices.Sort(out)
	return out
}

func diffLines(got, want []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  missing: %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  unexpected: %s\n", g)
		}
	}
	return b.String()
}

// TestKernelTablesMatchDesired: the dataplane programs exactly the desired
// services, repairs drift, leaves a foreign service alone, binds and unbinds the
// VIPs, and a restarted dataplane changes nothing.
func TestKernelTablesMatchDesired(t *testing.T) {
	requireVM(t)
	l := newLab(t)
	ns := l.addNS("dp")
	// Someone else's service (kube-proxy, an operator).
	l.mustRun(ns, "", "ipvsadm", "-A", "-t", "10.96.0.1:443", "-s", "rr")
	l.mustRun(ns, "", "ipvsadm", "-a", "-t", "10.96.0.1:443", "-r", "10.9.9.9:443", "-m", "-w", "1")
	foreign := []string{"TCP 10.96.0.1:443 -> 10.9.9.9:443 Masq 1", "TCP 10.96.0.1:443 rr"}

	newDP := func() *ipvs.Dataplane {
		d, err := ipvs.New(ipvs.Options{Netns: nsPath(ns), VerifyInterval: 0})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		return d
	}
	check := func(step string, d *ipvs.Dataplane, services []model.Service, vips ...string) {
		t.Helper()
		start := time.Now()
		st, err := d.Set(context.Background(), services)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		elapsed := time.Since(start)
		want := append(expectedTable(services), foreign...)
		slices.Sort(want)
		if got := ipvsTable(l, ns); !slices.Equal(got, want) {
			t.Fatalf("%s: kernel table differs from the desired state:\n%s", step, diffLines(got, want))
		}
		var wantVIPs []string
		for _, v := range vips {
			wantVIPs = append(wantVIPs, v+"/32")
		}
		if got := boundVIPs(l, ns, ipvs.DefaultInterface); !slices.Equal(got, wantVIPs) {
			t.Fatalf("%s: VIPs bound on %s: %v, want %v", step, ipvs.DefaultInterface, got, wantVIPs)
		}
		t.Logf("%s: kernel matches (%d services, %d destinations, %d ready VIPs) in %v",
			step, st.Services, st.Destinations, len(st.Ready), elapsed.Round(time.Microsecond))
	}

	d := newDP()
	first := []model.Service{
		svc("203.0.113.10", 53, model.UDP, "10.0.0.11=99", "10.1.0.11=1"),
		svc("203.0.113.10", 80, model.TCP, "10.0.0.11=99", "10.1.0.11=1", "10.1.0.12=0"),
		svc("203.0.113.10", 443, model.TCP, "10.0.0.11=99", "10.1.0.11=1", "10.1.0.12=0"),
		svc("203.0.113.11", 80, model.TCP, "10.0.0.12=99"),
		svc("203.0.113.12", 80, model.TCP),
	}
	check("from empty", d, first, "203.0.113.10", "203.0.113.11", "203.0.113.12")
	check("same state again", d, first, "203.0.113.10", "203.0.113.11", "203.0.113.12")

	second := []model.Service{
		svc("203.0.113.10", 53, model.UDP, "10.0.0.11=0", "10.1.0.11=1"),
		svc("203.0.113.10", 80, model.TCP, "10.0.0.11=0", "10.1.0.11=1", "10.1.0.13=1"),
		svc("203.0.113.12", 80, model.TCP, "10.0.0.13=5"),
		svc("203.0.113.13", 8080, model.TCP, "10.0.0.13=1"),
	}
	check("changes", d, second, "203.0.113.10", "203.0.113.12", "203.0.113.13")

	// Drift: a weight edited, a service deleted, a destination added by hand.
	l.mustRun(ns, "", "ipvsadm", "-e", "-t", "203.0.113.10:80", "-r", "10.1.0.11:80", "-i", "-w", "7")
	l.mustRun(ns, "", "ipvsadm", "-D", "-t", "203.0.113.12:80")
	l.mustRun(ns, "", "ipvsadm", "-a", "-t", "203.0.113.13:8080", "-r", "10.6.6.6:8080", "-i", "-w", "1")
	check("drift repaired", d, second, "203.0.113.10", "203.0.113.12", "203.0.113.13")

	// A restarted agent (new netlink sockets, no memory) converges without
	// touching anything.
	before := l.mustRun(ns, "", "ipvsadm", "-Ln", "--stats")
	check("after a restart", newDP(), second, "203.0.113.10", "203.0.113.12", "203.0.113.13")
	if after := l.mustRun(ns, "", "ipvsadm", "-Ln", "--stats"); after != before {
		t.Errorf("a restart changed the kernel state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	check("nothing desired", d, nil)
}
