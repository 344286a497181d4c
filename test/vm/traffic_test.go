//go:build vm

package vm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portico-dev/portico/lb-agent/dataplane/ipvs"
	"github.com/portico-dev/portico/lb-agent/model"
	"github.com/portico-dev/portico/test/localfed/nsrun"
)

const (
	vip        = "203.0.113.10"
	clientAddr = "10.0.0.100"
)

// dsr is a client, directors (IPVS) and backends on one L2 segment. The client
// routes the VIP to a director; a director tunnels (IPIP) each new flow to a
// backend, which decapsulates it (the VIP is on its tunl0) and answers the
// client directly.
type dsr struct {
	*lab
	client    string
	directors []string // namespaces; addresses 10.0.0.2, .3, ...
	backends  []*backend
	sources   int // client addresses added by source
}

type backend struct {
	name, ns, addr string
	tcp            net.Listener
	udp            net.PacketConn
}

func directorAddr(i int) string { return fmt.Sprintf("10.0.0.%d", 2+i) }

func newDSR(t *testing.T, directors, backends int) *dsr {
	d := &dsr{lab: newLab(t)}
	d.client = d.addNS("client")
	d.attach(d.client, clientAddr+"/24")
	for i := range directors {
		ns := d.addNS(fmt.Sprintf("lb%d", i))
		d.attach(ns, directorAddr(i)+"/24")
		d.directors = append(d.directors, ns)
	}
	d.via(0)
	for i := range backends {
		b := &backend{name: fmt.Sprintf("be%d", i), addr: fmt.Sprintf("10.0.0.%d", 11+i)}
		b.ns = d.addNS(b.name)
		d.attach(b.ns, b.addr+"/24")
		d.backendNS(b.ns, vip)
		d.serve(t, b)
		d.backends = append(d.backends, b)
	}
	return d
}

// via routes the client's traffic to the VIP through director i.
func (d *dsr) via(i int) { d.route(d.client, vip, directorAddr(i)) }

// serve runs the backend's servers: TCP on :80 (commands "who", "big", "echo")
// and UDP on VIP:53 (answers its name, from the VIP).
func (d *dsr) serve(t *testing.T, b *backend) {
	if err := nsrun.Do(b.ns, func() (err error) {
		if b.tcp, err = net.Listen("tcp", ":80"); err != nil {
			return err
		}
		b.udp, err = net.ListenPacket("udp", vip+":53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.tcp.Close(); b.udp.Close() })
	go func() {
		for {
			c, err := b.tcp.Accept()
			if err != nil {
				return
			}
			go b.handle(c)
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := b.udp.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = b.udp.WriteTo([]byte(b.name), from)
		}
	}()
}

func (b *backend) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	cmd, err := r.ReadString('\n')
	if err != nil {
		return
	}
	fmt.Fprintf(c, "%s %s\n", b.name, c.RemoteAddr())
	switch strings.TrimSpace(cmd) {
	case "big":
		_, _ = c.Write(make([]byte, 1<<20))
	case "echo":
		_, _ = io.Copy(c, r)
	}
}

// dial connects the client to the VIP and sends cmd; it returns the connection,
// the backend's name and the client address the backend saw.
func (d *dsr) dial(t *testing.T, cmd string) (net.Conn, string, string) {
	t.Helper()
	var c net.Conn
	if err := nsrun.Do(d.client, func() (err error) {
		c, err = net.DialTimeout("tcp", vip+":80", 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("connecting to %s:80: %v", vip, err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "%s\n", cmd)
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the backend's greeting: %v", err)
	}
	f := strings.Fields(line)
	// The reader may hold what followed the greeting in the same segment
	// (the start of a download): later reads go through it.
	return bufferedConn{Conn: c, r: r}, f[0], f[1]
}

// bufferedConn reads through the reader that read the greeting.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// who makes n short connections and counts them per backend.
func (d *dsr) who(t *testing.T, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c, name, _ := d.dial(t, "who")
		c.Close()
		got[name]++
	}
	return got
}

func (d *dsr) services(weights map[string]int) []model.Service {
	s := model.Service{Key: model.Key{VIP: netip.MustParseAddr(vip), Port: 80, Protocol: model.TCP}}
	u := model.Service{Key: model.Key{VIP: netip.MustParseAddr(vip), Port: 53, Protocol: model.UDP}}
	for _, b := range d.backends {
		w, ok := weights[b.name]
		if !ok {
			continue
		}
		dest := model.Destination{Address: netip.MustParseAddr(b.addr), Weight: w}
		s.Destinations = append(s.Destinations, dest)
		u.Destinations = append(u.Destinations, dest)
	}
	return []model.Service{u, s}
}

func (d *dsr) all(weight int) map[string]int {
	w := map[string]int{}
	for _, b := range d.backends {
		w[b.name] = weight
	}
	return w
}

func newDataplane(t *testing.T, ns string) *ipvs.Dataplane {
	t.Helper()
	dp, err := ipvs.New(ipvs.Options{Netns: nsPath(ns)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	return dp
}

func set(t *testing.T, dp *ipvs.Dataplane, services []model.Service) {
	t.Helper()
	if _, err := dp.Set(context.Background(), services); err != nil {
		t.Fatal(err)
	}
}

// TestTCPThroughVIPWithDSR: real TCP to the VIP is tunnelled to the backends,
// which see the client's own address, and the replies bypass the director.
func TestTCPThroughVIPWithDSR(t *testing.T) {
	requireVM(t)
	d := newDSR(t, 1, 2)
	set(t, newDataplane(t, d.directors[0]), d.services(d.all(1)))

	got := map[string]int{}
	for range 40 {
		c, name, remote := d.dial(t, "who")
		c.Close()
		got[name]++
		if host, _, _ := net.SplitHostPort(remote); host != clientAddr {
			t.Fatalf("backend %s saw the client as %s, want %s (no SNAT)", name, remote, clientAddr)
		}
	}
	if len(got) != 2 {
		t.Errorf("40 connections reached %v, want both backends", got)
	}
	t.Logf("40 connections through the VIP: %v; every backend saw the client's address %s", got, clientAddr)

	// 1 MiB answer: it must not cross the director.
	before := d.rxBytes(d.directors[0], "eth0")
	c, name, _ := d.dial(t, "big")
	n, err := io.Copy(io.Discard, c)
	c.Close()
	if err != nil || n != 1<<20 {
		t.Fatalf("downloading 1 MiB from %s: %d bytes, %v", name, n, err)
	}
	seen := d.rxBytes(d.directors[0], "eth0") - before
	if seen > 256<<10 {
		t.Errorf("the director received %d bytes during a 1 MiB download: replies are not direct", seen)
	}
	t.Logf("1 MiB from %s to the client: the director received %d bytes (client->VIP only: direct server return)", name, seen)
}

// TestFailedBackendGetsNoNewConnections runs the agent's health checks and
// model against the real dataplane: a backend failing its health check
// (another port) gets no new connections while its established ones continue,
// and gets new ones again once healthy.
func TestFailedBackendGetsNoNewConnections(t *testing.T) {
	requireVM(t)
	d := newDSR(t, 1, 2)
	dp := newDataplane(t, d.directors[0])
	health := map[string]net.Listener{}
	for _, b := range d.backends {
		health[b.name] = d.healthListener(t, b)
	}
	loop := newAgentLoop(t, d, dp)
	loop.waitVerdicts(t, map[string]model.Verdict{"be0": model.Healthy, "be1": model.Healthy})

	established, name, _ := d.dial(t, "echo")
	defer established.Close()
	failing := name
	other := "be0"
	if failing == "be0" {
		other = "be1"
	}
	health[failing].Close()
	loop.waitVerdicts(t, map[string]model.Verdict{failing: model.Unhealthy, other: model.Healthy})
	if got := d.who(t, 30); got[failing] != 0 || got[other] != 30 {
		t.Errorf("with %s unhealthy, 30 new connections went to %v", failing, got)
	}
	// The established connection to the failing backend still works (weight 0
	// drains, it does not cut).
	fmt.Fprintf(established, "still there?\n")
	line, err := bufio.NewReader(established).ReadString('\n')
	if err != nil || line != "still there?\n" {
		t.Errorf("established connection to %s after it failed: %q, %v", failing, line, err)
	}

	health[failing] = d.healthListenerOn(t, d.backend(failing))
	loop.waitVerdicts(t, map[string]model.Verdict{failing: model.Healthy, other: model.Healthy})
	if got := d.who(t, 40); got[failing] == 0 {
		t.Errorf("after %s recovered, 40 new connections went to %v", failing, got)
	} else {
		t.Logf("%s failed: 30/30 new connections to %s, its established connection kept working; recovered: %v", failing, other, got)
	}
}

func (d *dsr) backend(name string) *backend {
	for _, b := range d.backends {
		if b.name == name {
			return b
		}
	}
	return nil
}

const healthPort = 8081

func (d *dsr) healthListener(t *testing.T, b *backend) net.Listener { return d.healthListenerOn(t, b) }

func (d *dsr) healthListenerOn(t *testing.T, b *backend) net.Listener {
	var l net.Listener
	if err := nsrun.Do(b.ns, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", healthPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}

// TestRestartKeepsEstablishedConnection: the agent is a separate process; it
// programs IPVS, exits, and a new one programs the same state (and then a
// changed one): an established connection keeps working throughout.
func TestRestartKeepsEstablishedConnection(t *testing.T) {
	requireVM(t)
	d := newDSR(t, 1, 3)
	services := d.services(d.all(1))
	runAgent(t, d.directors[0], services)
	c, name, _ := d.dial(t, "echo")
	defer c.Close()
	r := bufio.NewReader(c)
	echo := func(step string) {
		t.Helper()
		msg := fmt.Sprintf("%s %d\n", step, time.Now().UnixNano())
		fmt.Fprint(c, msg)
		if line, err := r.ReadString('\n'); err != nil || line != msg {
			t.Fatalf("%s: echo through %s: %q, %v", step, name, line, err)
		}
	}
	echo("before the restart")
	runAgent(t, d.directors[0], services)
	echo("after a restart with the same state")
	more := append(d.services(d.all(1)), model.Service{Key: model.Key{VIP: netip.MustParseAddr("203.0.113.99"), Port: 80, Protocol: model.TCP}})
	runAgent(t, d.directors[0], more)
	echo("after a restart with another VIP added")
	conns := d.mustRun(d.directors[0], "", "ipvsadm", "-Lnc")
	if !strings.Contains(conns, "ESTABLISHED") {
		t.Errorf("no established IPVS connection entry:\n%s", conns)
	}
	t.Logf("connection to %s survived two agent restarts", name)
}
