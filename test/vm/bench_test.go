//go:build vm

package vm

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/portico-dev/portico/lb-agent/dataplane/ipvs"
	"github.com/portico-dev/portico/lb-agent/model"
)

// bigState is vips services (198.18.0.0/15, TCP 80) with backends destinations
// each.
func bigState(vips, backends int) []model.Service {
	var out []model.Service
	for i := range vips {
		s := model.Service{Key: model.Key{VIP: netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)}), Port: 80, Protocol: model.TCP}}
		for j := range backends {
			s.Destinations = append(s.Destinations, model.Destination{Address: netip.AddrFrom4([4]byte{10, 1, 0, byte(j + 1)}), Weight: 1})
		}
		out = append(out, s)
	}
	return out
}

// restoreRules is the same state for ipvsadm -R.
func restoreRules(services []model.Service) string {
	var b strings.Builder
	for _, s := range services {
		vip := netip.AddrPortFrom(s.VIP, s.Port)
		fmt.Fprintf(&b, "-A -t %s -s mh -b mh-fallback,mh-port\n", vip)
		for _, d := range s.Destinations {
			fmt.Fprintf(&b, "-a -t %s -r %s -i -w %d\n", vip, netip.AddrPortFrom(d.Address, s.Port), d.Weight)
		}
	}
	return b.String()
}

func timed(b *testing.B, what string, fn func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	d := time.Since(start)
	b.Logf("%-58s %v", what, d.Round(time.Millisecond))
	return d
}

// BenchmarkIPVS5000x8 programs 5000 VIPs x 8 tunnel destinations (scheduler mh)
// with the agent's dataplane, from empty and for one backend change, next to
// ipvsadm -R of the same rules in the same VM (the floor). Software-emulated
// CPU: compare the ratios, not the absolute times.
func BenchmarkIPVS5000x8(b *testing.B) {
	requireVM(b)
	const vips, backends = 5000, 8
	services := bigState(vips, backends)
	rules := restoreRules(services)
	ctx := context.Background()
	var restore, fromEmpty, fromEmpty1, oneChange, verify, bind time.Duration
	for range b.N {
		l := newLab(b)
		nsRestore, nsAgent, nsAgent1, nsBind := l.addNS("restore"), l.addNS("agent"), l.addNS("agent1"), l.addNS("bind")

		restore += timed(b, "ipvsadm -R (floor)", func() error {
			_, err := l.run(nsRestore, rules, "ipvsadm", "-R")
			return err
		})
		dp, err := ipvs.New(ipvs.Options{Netns: nsPath(nsAgent), Workers: 4, VerifyInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		fromEmpty += timed(b, "agent Set from empty (4 sockets, incl. binding 5000 VIPs)", func() error {
			_, err := dp.Set(ctx, services)
			return err
		})
		if got, want := ipvsTable(l, nsAgent), ipvsTable(l, nsRestore); !slices.Equal(got, want) {
			b.Fatalf("the agent's table differs from ipvsadm -R's: %d vs %d lines", len(got), len(want))
		}
		changed := slices.Clone(services)
		changed[1234].Destinations = slices.Clone(changed[1234].Destinations)
		changed[1234].Destinations[3].Weight = 0
		oneChange += timed(b, "agent Set with one backend's weight changed", func() error {
			_, err := dp.Set(ctx, changed)
			return err
		})
		dp.Close()
		dpv, err := ipvs.New(ipvs.Options{Netns: nsPath(nsAgent), VerifyInterval: 0})
		if err != nil {
			b.Fatal(err)
		}
		verify += timed(b, "agent Set after a restart (reads back everything, no change)", func() error {
			_, err := dpv.Set(ctx, changed)
			return err
		})
		dpv.Close()
		dp1, err := ipvs.New(ipvs.Options{Netns: nsPath(nsAgent1), Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		fromEmpty1 += timed(b, "agent Set from empty (1 socket)", func() error {
			_, err := dp1.Set(ctx, services)
			return err
		})
		dp1.Close()
		bind += timed(b, "binding 5000 /32s on a dummy interface alone (netlink)", func() error {
			return bindAll(l, nsBind, services)
		})
	}
	n := float64(b.N)
	b.ReportMetric(restore.Seconds()/n, "s/ipvsadm-restore")
	b.ReportMetric(fromEmpty.Seconds()/n, "s/set-from-empty")
	b.ReportMetric(fromEmpty1.Seconds()/n, "s/set-from-empty-1-socket")
	b.ReportMetric(float64(oneChange.Milliseconds())/n, "ms/one-change")
	b.ReportMetric(verify.Seconds()/n, "s/restart-verify")
	b.ReportMetric(bind.Seconds()/n, "s/bind-5000-vips")
	b.ReportMetric(fromEmpty.Seconds()/restore.Seconds(), "x-of-restore")
}

func bindAll(l *lab, ns string, services []model.Service) error {
	h := l.handles[ns]
	if err := h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "portico0"}}); err != nil {
		return err
	}
	lk, err := h.LinkByName("portico0")
	if err != nil {
		return err
	}
	for _, s := range services {
		if err := h.AddrAdd(lk, &netlink.Addr{IPNet: netlink.NewIPNet(s.VIP.AsSlice())}); err != nil {
			return err
		}
	}
	return nil
}
