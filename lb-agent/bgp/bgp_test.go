package bgp

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// router is a plain gobgp server on 127.0.0.1 standing in for a top-of-rack
// router: it accepts the speaker's session and shows what it receives.
type router struct {
	srv  *server.BgpServer
	port uint16
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func newRouter(t *testing.T) *router {
	t.Helper()
	r := &router{srv: server.NewBgpServer(), port: freePort(t)}
	go r.srv.Serve()
	ctx := context.Background()
	if err := r.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 64500, RouterId: "10.255.0.1", ListenPort: int32(r.port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 64512},
		Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.srv.Stop)
	return r
}

// routes returns prefix -> next hop of the router's best paths.
func (r *router) routes(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{
		TableType: api.TableType_GLOBAL, Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
	}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if !p.Best {
				continue
			}
			attrs, _ := apiutil.UnmarshalPathAttributes(p.Pattrs)
			for _, a := range attrs {
				if nh, ok := a.(*bgp.PathAttributeNextHop); ok {
					out[d.Prefix] = nh.Value.String()
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func vips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, v := range s {
		out = append(out, netip.MustParseAddr(v))
	}
	return out
}

func TestAnnounceWithdrawAndSessions(t *testing.T) {
	r := newRouter(t)
	var changes atomic.Int32
	s := New(func() { changes.Add(1) })
	ctx := context.Background()
	t.Cleanup(func() { s.Stop(ctx) })
	cfg := Config{ASN: 64512, RouterID: netip.MustParseAddr("10.0.0.2"), NextHop: netip.MustParseAddr("10.0.0.2"),
		Peers: []Peer{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64500, Port: r.port}}}
	// Announcements made before the configuration are kept.
	if err := s.Set(ctx, vips("203.0.113.10", "203.0.113.11")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an established session", func() bool {
		ss := s.Sessions()
		return len(ss) == 1 && ss[0].State == Established
	})
	if changes.Load() == 0 {
		t.Error("no change notification for the session")
	}
	eventually(t, "both routes at the router", func() bool {
		got := r.routes(t)
		return got["203.0.113.10/32"] == "10.0.0.2" && got["203.0.113.11/32"] == "10.0.0.2"
	})

	if err := s.Set(ctx, vips("203.0.113.11")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the withdrawal", func() bool {
		got := r.routes(t)
		return len(got) == 1 && got["203.0.113.11/32"] == "10.0.0.2"
	})
	if got := s.Announced(); !slices.Equal(got, vips("203.0.113.11")) {
		t.Errorf("Announced() = %v", got)
	}

	// A new next hop re-announces; the session stays.
	cfg.NextHop = netip.MustParseAddr("10.0.0.3")
	if err := s.SetConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new next hop", func() bool { return r.routes(t)["203.0.113.11/32"] == "10.0.0.3" })

	// A new ASN restarts the speaker with the announcements.
	if _, err := r.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 64513}, Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg.ASN = 64513
	if err := s.SetConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route after the ASN change", func() bool { return r.routes(t)["203.0.113.11/32"] == "10.0.0.3" })

	s.Stop(ctx)
	eventually(t, "routes gone after Stop", func() bool { return len(r.routes(t)) == 0 })
}

func TestReceivedRoutesAreRejected(t *testing.T) {
	r := newRouter(t)
	s := New(nil)
	ctx := context.Background()
	t.Cleanup(func() { s.Stop(ctx) })
	if err := s.SetConfig(ctx, Config{ASN: 64512, RouterID: netip.MustParseAddr("10.0.0.2"), NextHop: netip.MustParseAddr("10.0.0.2"),
		Peers: []Peer{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64500, Port: r.port}}}); err != nil {
		t.Fatal(err)
	}
	path, _ := apiutil.NewPath(bgp.NewIPAddrPrefix(8, "10.0.0.0"), false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeNextHop("10.255.0.1"),
	}, time.Now())
	if _, err := r.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, vips("203.0.113.10")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the speaker's route at the router", func() bool { return r.routes(t)["203.0.113.10/32"] != "" })
	// The router's route reached the speaker (adj-in) but is not in its table.
	eventually(t, "the router's route in the speaker's adj-in", func() bool {
		n := 0
		s.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_ADJ_IN, Name: "127.0.0.1",
			Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}, func(*api.Destination) { n++ })
		return n == 1
	})
	var prefixes []string
	s.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL,
		Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if !p.Filtered {
				prefixes = append(prefixes, d.Prefix)
			}
		}
	})
	if !slices.Equal(prefixes, []string{"203.0.113.10/32"}) {
		t.Errorf("speaker's table: %v, want only its own route", prefixes)
	}
}
