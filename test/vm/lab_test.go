//go:build vm

// Package vm is the lb-agent's VM tier: its tests run inside a qemu VM booting
// Debian's cloud kernel (hack/vm/exec.sh), where IPVS, ip_vs_mh, IPIP, dummy and
// veth exist. The real dataplane code programs IPVS in network namespaces and
// real TCP/UDP traffic goes through it.
//
//	CGO_ENABLED=0 go test -tags vm -exec "$PWD/hack/vm/exec.sh" ./test/vm/
package vm

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/portico-dev/portico/test/localfed/nsrun"
)

// requireVM ends the test unless it runs inside the VM: it skips (fails with
// CI=true) with the reason.
func requireVM(t testing.TB) {
	t.Helper()
	reason := os.Getenv("PORTICO_VM_UNAVAILABLE")
	if reason == "" && os.Getenv("PORTICO_IN_VM") != "1" {
		reason = `not inside the test VM: run with -exec hack/vm/exec.sh (make test-vm)`
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the VM tier cannot run in CI: %s", reason)
	}
	t.Skipf("skipping the VM tier: %s", reason)
}

var labSeq atomic.Int32

// lab is a set of network namespaces attached to one bridge (in its own
// "fabric" namespace), all on 10.0.0.0/24, removed at the end of the test.
type lab struct {
	t       testing.TB
	prefix  string
	fabric  string
	handles map[string]*netlink.Handle
	veths   int
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{t: t, prefix: fmt.Sprintf("l%d-", labSeq.Add(1)), handles: map[string]*netlink.Handle{}}
	l.fabric = l.addNS("fabric")
	h := l.handles[l.fabric]
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}); err != nil {
		t.Fatal(err)
	}
	l.up(l.fabric, "br0")
	return l
}

// addNS creates the namespace <prefix><name> with lo up and returns its name.
func (l *lab) addNS(name string) string {
	t := l.t
	t.Helper()
	full := l.prefix + name
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(full)
		if err == nil {
			ns.Close()
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("creating network namespace %s: %v", full, err)
	}
	ns, err := netns.GetFromName(full)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	l.handles[full] = h
	t.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(full); err != nil {
			t.Errorf("removing network namespace %s: %v", full, err)
		}
	})
	l.up(full, "lo")
	return full
}

// nsPath is the path of a namespace for ipvs.Options.Netns.
func nsPath(ns string) string { return filepath.Join("/run/netns", ns) }

func (l *lab) up(ns, link string) {
	l.t.Helper()
	h := l.handles[ns]
	lk, err := h.LinkByName(link)
	if err == nil {
		err = h.LinkSetUp(lk)
	}
	if err != nil {
		l.t.Fatalf("setting %s up in %s: %v", link, ns, err)
	}
}

// attach connects ns to the bridge with eth0 holding addr (a.b.c.d/24).
func (l *lab) attach(ns, addr string) {
	t := l.t
	t.Helper()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	l.veths++
	name := fmt.Sprintf("f%d", l.veths)
	fab := l.handles[l.fabric]
	if err := fab.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "eth0", PeerNamespace: netlink.NsFd(target)}); err != nil {
		t.Fatalf("veth to %s: %v", ns, err)
	}
	br, _ := fab.LinkByName("br0")
	lk, _ := fab.LinkByName(name)
	if err := fab.LinkSetMaster(lk, br); err != nil {
		t.Fatal(err)
	}
	l.up(l.fabric, name)
	l.addAddr(ns, "eth0", addr)
	l.up(ns, "eth0")
}

func (l *lab) addAddr(ns, link, cidr string) {
	l.t.Helper()
	h := l.handles[ns]
	lk, err := h.LinkByName(link)
	if err != nil {
		l.t.Fatalf("%s in %s: %v", link, ns, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err == nil {
		err = h.AddrAdd(lk, a)
	}
	if err != nil {
		l.t.Fatalf("adding %s to %s in %s: %v", cidr, link, ns, err)
	}
}

// route adds dst/32 via gw in ns (replacing an existing route).
func (l *lab) route(ns, dst, gw string) {
	l.t.Helper()
	d := netip.MustParsePrefix(dst + "/32")
	r := &netlink.Route{Dst: &net.IPNet{IP: d.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}, Gw: net.ParseIP(gw)}
	if err := l.handles[ns].RouteReplace(r); err != nil {
		l.t.Fatalf("route %s via %s in %s: %v", dst, gw, ns, err)
	}
}

// sysctl writes /proc/sys/<key with dots as slashes> in ns.
func (l *lab) sysctl(ns, key, value string) {
	l.t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := nsrun.Do(ns, func() error { return os.WriteFile(path, []byte(value), 0o644) }); err != nil {
		l.t.Fatalf("sysctl %s=%s in %s: %v", key, value, ns, err)
	}
}

// backendNS makes ns an IPIP backend: tunl0 up holding vips, reverse path
// filtering off (decapsulated packets arrive on tunl0, replies leave on eth0),
// no ARP answers for the VIPs.
func (l *lab) backendNS(ns string, vips ...string) {
	l.up(ns, "tunl0")
	for _, v := range vips {
		l.addAddr(ns, "tunl0", v+"/32")
	}
	for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.tunl0.rp_filter", "net.ipv4.conf.eth0.rp_filter", "net.ipv4.conf.default.rp_filter"} {
		l.sysctl(ns, k, "0")
	}
	l.sysctl(ns, "net.ipv4.conf.all.arp_ignore", "1")
	l.sysctl(ns, "net.ipv4.conf.all.arp_announce", "2")
}

// run runs a command in ns.
func (l *lab) run(ns string, stdin string, name string, args ...string) (string, error) {
	var out []byte
	err := nsrun.Do(ns, func() (err error) {
		cmd := exec.Command(name, args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns, err, out)
	}
	return string(out), nil
}

func (l *lab) mustRun(ns, stdin, name string, args ...string) string {
	l.t.Helper()
	out, err := l.run(ns, stdin, name, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// rxBytes is the byte count received by link in ns.
func (l *lab) rxBytes(ns, link string) uint64 {
	l.t.Helper()
	lk, err := l.handles[ns].LinkByName(link)
	if err != nil {
		l.t.Fatal(err)
	}
	return lk.Attrs().Statistics.RxBytes
}
