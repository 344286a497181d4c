//go:build peers

package peers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed"
	"github.com/portico-dev/portico/test/localfed/nsrun"
)

// requireTools ends the test when what the tier needs is missing and cannot be
// installed: it skips locally and fails with CI=true.
func requireTools(t *testing.T) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("the peer tier cannot run in CI: %s", msg)
		}
		t.Skipf("skipping the peer tier: %s", msg)
	}
	if os.Geteuid() != 0 {
		fail("it needs root (network namespaces, BIRD)")
	}
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(root, "hack", "install-bird.sh")).CombinedOutput(); err != nil {
		fail("BIRD 2 is missing and hack/install-bird.sh could not install it: %v\n%s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		fail("`ip netns` does not work here: %v\n%s", err, out)
	}
}

// sh runs a command and fails the test on error.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// topology is a router namespace holding a bridge, and namespaces attached to
// it by veth pairs, all on lanPrefix.0/24. Everything lives in namespaces the
// test creates and removes; nothing is added to the host's namespace.
type topology struct {
	id     string
	router string
	spokes map[string]string // role -> namespace
}

const (
	lanPrefix  = "10.213.0"
	routerAddr = lanPrefix + ".1"
)

func newTopology(t *testing.T, spokes map[string]string) *topology {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	topo := &topology{id: hex.EncodeToString(b), spokes: map[string]string{}}
	topo.router = "pt" + topo.id + "-router"
	var created []string
	t.Cleanup(func() {
		for _, ns := range created {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("removing network namespace %s: %v\n%s", ns, err, out)
			}
		}
	})
	add := func(ns string) {
		sh(t, "ip", "netns", "add", ns)
		created = append(created, ns)
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	add(topo.router)
	sh(t, "ip", "-n", topo.router, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", topo.router, "addr", "add", routerAddr+"/24", "dev", "br0")
	sh(t, "ip", "-n", topo.router, "link", "set", "br0", "up")
	i := 0
	for role, addr := range spokes {
		ns := "pt" + topo.id + "-" + role
		add(ns)
		topo.spokes[role] = ns
		veth := fmt.Sprintf("v%d", i)
		i++
		sh(t, "ip", "-n", topo.router, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		sh(t, "ip", "-n", topo.router, "link", "set", veth, "master", "br0", "up")
		sh(t, "ip", "-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	}
	return topo
}

func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := nsrun.Do(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serveTCP accepts and closes connections (a backend for tcp health checks).
func serveTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// hubForwarder makes the hub's 127.0.0.1:port reachable at 127.0.0.1:port
// inside ns (an agent there uses the hub's kubeconfig unchanged). Close stops
// it and cuts the connections it relays.
type hubForwarder struct {
	l     net.Listener
	conns chan net.Conn
}

func forwardHub(t *testing.T, ns string, port int) *hubForwarder {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	f := &hubForwarder{l: listenIn(t, ns, addr), conns: make(chan net.Conn, 1024)}
	go func() {
		for {
			in, err := f.l.Accept()
			if err != nil {
				return
			}
			go f.relay(in, addr)
		}
	}()
	t.Cleanup(f.Close)
	return f
}

func (f *hubForwarder) relay(in net.Conn, addr string) {
	out, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	f.conns <- in
	f.conns <- out
	go func() { _, _ = io.Copy(out, in); out.Close() }()
	_, _ = io.Copy(in, out)
	in.Close()
}

func (f *hubForwarder) Close() {
	f.l.Close()
	for {
		select {
		case c := <-f.conns:
			c.Close()
		default:
			return
		}
	}
}
