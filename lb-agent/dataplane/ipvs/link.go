package ipvs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkAddresses binds VIPs as /32 addresses of a dummy interface, created (and set
// up) when missing. List looks the interface up (and repairs it); Add and Del
// use the interface last looked up, and look it up again when it is gone.
type linkAddresses struct {
	h    *netlink.Handle
	name string
	// cached is the interface last looked up; nil before the first.
	cached netlink.Link
}

func newLinkAddresses(name, nsPath string) (*linkAddresses, error) {
	var (
		h   *netlink.Handle
		err error
	)
	if nsPath == "" {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		var ns netns.NsHandle
		if ns, err = netns.GetFromPath(nsPath); err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", nsPath, err)
		}
		defer ns.Close()
		h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	return &linkAddresses{h: h, name: name}, nil
}

func (l *linkAddresses) close() { l.h.Close() }

// link returns the interface, creating a dummy one and setting it up as needed.
// An existing interface of another type is refused rather than taken over.
func (l *linkAddresses) link() (netlink.Link, error) {
	link, err := l.h.LinkByName(l.name)
	if _, missing := err.(netlink.LinkNotFoundError); missing {
		err = l.h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: l.name}})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating dummy interface %s: %w", l.name, err)
		}
		link, err = l.h.LinkByName(l.name)
	}
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", l.name, err)
	}
	if link.Type() != "dummy" {
		return nil, fmt.Errorf("interface %s is a %s interface, not dummy", l.name, link.Type())
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := l.h.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("setting %s up: %w", l.name, err)
		}
	}
	l.cached = link
	return link, nil
}

// withLink calls fn with the interface last looked up, and once more with the
// interface looked up again when there was none or it is gone (deleted, or
// replaced, behind the agent's back).
func (l *linkAddresses) withLink(fn func(netlink.Link) error) error {
	if l.cached != nil {
		err := fn(l.cached)
		if !errors.Is(err, unix.ENODEV) {
			return err
		}
	}
	link, err := l.link()
	if err != nil {
		return err
	}
	return fn(link)
}

// List returns the /32 IPv4 addresses of the interface.
func (l *linkAddresses) List() ([]netip.Addr, error) {
	link, err := l.link()
	if err != nil {
		return nil, err
	}
	addrs, err := l.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", l.name, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		ones, bits := a.Mask.Size()
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ones == 32 && bits == 32 {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// Add binds vip.
func (l *linkAddresses) Add(vip netip.Addr) error {
	return l.withLink(func(link netlink.Link) error {
		err := l.h.AddrAdd(link, hostAddr(vip))
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	})
}

// Del unbinds vip.
func (l *linkAddresses) Del(vip netip.Addr) error {
	return l.withLink(func(link netlink.Link) error {
		err := l.h.AddrDel(link, hostAddr(vip))
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil
		}
		return err
	})
}

func hostAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(32, 32)}}
}
