package localup

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/portico-dev/portico/test/localfed/nsrun"
)

// Zone is one availability zone of the local federation: a member cluster whose
// stand-in ingress gateway answers in its own network namespace, and an L4 edge
// node (a VM running lb-agent), all on the zone's /24 of the router's bridge.
type Zone struct {
	Name    string // zone-a: the MemberCluster's zone and the LoadBalancerGroup
	Region  string
	Cluster string // zone-a-1: the member cluster
	Node    string // edge-a-1: the LoadBalancerNode and its VM
	Subnet  string // 10.0.0: the zone's /24
}

// RouterAddress is the router's address in the zone: BGP peer of the zone's
// edge node, its default gateway, and where it reaches the hub.
func (z Zone) RouterAddress() string { return z.Subnet + ".1" }

// NodeAddress is the edge node's address (BGP next hop, IPIP tunnel source).
func (z Zone) NodeAddress() string { return z.Subnet + ".11" }

// GatewayAddresses are the ingress gateway "pod" addresses of the zone's member
// cluster: its EndpointSlice lists them and the gateway namespace holds them.
func (z Zone) GatewayAddresses() []string { return []string{z.Subnet + ".20", z.Subnet + ".21"} }

// Zones of the local federation. The LoadBalancerGroups peer with the same
// routers as manifests/examples/walkthrough/20-loadbalancing.yaml, so applying the examples
// to a running federation changes nothing there.
var Zones = []Zone{
	{Name: "zone-a", Region: "r1", Cluster: "zone-a-1", Node: "edge-a-1", Subnet: "10.0.0"},
	{Name: "zone-b", Region: "r1", Cluster: "zone-b-1", Node: "edge-b-1", Subnet: "10.1.0"},
}

// BGP autonomous systems: the router's and the edge nodes'.
const (
	RouterASN = 64500
	EdgeASN   = 64512
)

// Interfaces inside the router namespace (names are per namespace).
const bridge = "br0"

func tapName(z Zone) string  { return "tap-" + z.Node }
func vethName(z Zone) string { return "gw-" + z.Cluster }

// network is the set of network namespaces of one federation: a router holding
// a bridge, and one namespace per zone's gateways attached to it by a veth pair.
// The edge VMs attach to the bridge by tap devices (created in the router
// namespace, where qemu runs). Nothing is added to the host's namespace.
type network struct {
	Router   string            // namespace name
	Gateways map[string]string // cluster -> namespace name
}

func newNetwork(prefix string) *network {
	n := &network{Router: prefix + "-router", Gateways: map[string]string{}}
	for _, z := range Zones {
		n.Gateways[z.Cluster] = prefix + "-gw-" + z.Cluster
	}
	return n
}

// names lists the namespaces, router first.
func (n *network) names() []string {
	out := []string{n.Router}
	for _, z := range Zones {
		out = append(out, n.Gateways[z.Cluster])
	}
	return out
}

// create builds the namespaces; record is called with each namespace before it
// is created, so that a failure half way still removes it.
func (n *network) create(record func(ns string) error) error {
	for _, ns := range n.names() {
		deleteNetns(ns) // a leftover of a run that could not clean up
		if err := record(ns); err != nil {
			return err
		}
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	r := n.Router
	cmds := [][]string{
		{"-n", r, "link", "add", bridge, "type", "bridge"},
		{"-n", r, "link", "set", bridge, "up"},
	}
	for _, z := range Zones {
		gw := n.Gateways[z.Cluster]
		cmds = append(cmds,
			[]string{"-n", r, "addr", "add", z.RouterAddress() + "/24", "dev", bridge},
			[]string{"-n", r, "link", "add", vethName(z), "type", "veth", "peer", "name", "eth0", "netns", gw},
			[]string{"-n", r, "link", "set", vethName(z), "master", bridge, "up"},
			[]string{"-n", r, "tuntap", "add", "dev", tapName(z), "mode", "tap"},
			[]string{"-n", r, "link", "set", tapName(z), "master", bridge, "up"},
		)
		for _, a := range z.GatewayAddresses() {
			cmds = append(cmds, []string{"-n", gw, "addr", "add", a + "/24", "dev", "eth0"})
		}
		cmds = append(cmds,
			[]string{"-n", gw, "link", "set", "eth0", "up"},
			[]string{"-n", gw, "route", "add", "default", "via", z.RouterAddress()})
	}
	for _, c := range cmds {
		if err := ip(c...); err != nil {
			return err
		}
	}
	// The router forwards between the zones' subnets (health checks of remote
	// gateways).
	return nsrun.Do(r, func() error { return writeSysctl("net/ipv4/ip_forward", "1") })
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// deleteNetns removes a network namespace and with it every interface in it
// (bridge, veth ends, taps); it is not an error when it does not exist.
func deleteNetns(ns string) error {
	out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns del %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ListenIn listens on addr (TCP) inside the namespace ns.
func ListenIn(ns, addr string) (l net.Listener, err error) {
	err = nsrun.Do(ns, func() error {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// DialIn dials addr (TCP) from inside the namespace ns.
func DialIn(ns, addr string) (c net.Conn, err error) {
	err = nsrun.Do(ns, func() error {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	return c, err
}

func writeSysctl(key, value string) error {
	return writeFile("/proc/sys/"+key, value)
}
