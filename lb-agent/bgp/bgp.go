// Package bgp announces VIPs as /32 routes with an embedded gobgp (v3) speaker.
// Like MetalLB's speaker it has two declarative calls: SetConfig (ASN, router ID,
// peers and their timers) and Set (the prefixes to announce, with the node's
// address as next hop). It dials out to its peers and never listens; routes the
// peers send are rejected, so a router sending a full table costs nothing.
package bgp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Defaults of a peer's timers.
const (
	DefaultHoldTime  = 9 * time.Second
	DefaultKeepalive = 3 * time.Second
	// connectRetry is how soon a failed or dropped session is tried again
	// (gobgp's default of 120s would leave a restarted router unused for minutes).
	connectRetry = 2 * time.Second
)

// Peer is a router to announce to.
type Peer struct {
	Address   netip.Addr
	ASN       uint32
	HoldTime  time.Duration
	Keepalive time.Duration
	// Password enables TCP MD5 authentication.
	Password string
	// Port of the router; 0 means 179.
	Port uint16
}

// Config of the speaker.
type Config struct {
	ASN      uint32
	RouterID netip.Addr
	// NextHop of every announced route: the node's address.
	NextHop netip.Addr
	Peers   []Peer
}

// Session is the state of the session with one peer.
type Session struct {
	Peer  netip.Addr
	State string
	Since time.Time
}

// Established is the State of an established session.
const Established = "Established"

// Speaker is an embedded BGP speaker.
type Speaker struct {
	srv      *server.BgpServer
	onChange func()
	cancel   context.CancelFunc

	mu       sync.Mutex
	global   *Config // applied global settings, nil before the first SetConfig
	peers    map[netip.Addr]Peer
	nextHop  netip.Addr
	paths    map[netip.Addr][]byte // announced prefix -> gobgp path UUID
	sessions map[netip.Addr]Session
}

// New returns a speaker; it starts speaking on the first SetConfig. onChange (may
// be nil) is called, without locks held, whenever a session changes state.
func New(onChange func()) *Speaker {
	if onChange == nil {
		onChange = func() {}
	}
	return &Speaker{onChange: onChange, peers: map[netip.Addr]Peer{},
		paths: map[netip.Addr][]byte{}, sessions: map[netip.Addr]Session{}}
}

// SetConfig applies cfg: it (re)starts the speaker when the ASN or router ID
// change (announcements are restored), and adds, updates or removes peers. An
// ASN of 0 stops speaking (the announcements are remembered).
func (s *Speaker) SetConfig(ctx context.Context, cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.ASN == 0 {
		if s.global != nil {
			s.stopLocked(ctx)
		}
		return nil
	}
	nextHopChanged := s.nextHop != cfg.NextHop
	s.nextHop = cfg.NextHop
	switch {
	case s.global == nil || s.global.ASN != cfg.ASN || s.global.RouterID != cfg.RouterID:
		if err := s.restart(ctx, cfg); err != nil {
			return err
		}
	case nextHopChanged:
		if err := s.reannounce(ctx); err != nil {
			return err
		}
	}
	return s.setPeers(ctx, cfg.Peers)
}

// restart stops the running speaker, if any, and starts a new one with cfg's
// global settings, keeping the announcements.
func (s *Speaker) restart(ctx context.Context, cfg Config) error {
	if s.global != nil {
		s.stopLocked(ctx)
	}
	s.srv = server.NewBgpServer(server.LoggerOption(newLogger()))
	go s.srv.Serve()
	err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: -1,
	}})
	if err != nil {
		return fmt.Errorf("starting BGP: %w", err)
	}
	if err := rejectImports(ctx, s.srv); err != nil {
		return err
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.srv.WatchEvent(watchCtx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.peerEvent); err != nil {
		cancel()
		return fmt.Errorf("watching BGP sessions: %w", err)
	}
	s.global = &Config{ASN: cfg.ASN, RouterID: cfg.RouterID}
	return s.reannounce(ctx)
}

// rejectImports drops every route received from a peer (local paths have no
// neighbor and pass).
func rejectImports(ctx context.Context, srv *server.BgpServer) error {
	const set, policy = "portico-all-neighbors", "portico-reject-received"
	err := srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
		DefinedType: api.DefinedType_NEIGHBOR, Name: set, List: []string{"0.0.0.0/0", "::/0"},
	}})
	if err == nil {
		err = srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{Name: policy, Statements: []*api.Statement{{
			Name:       policy,
			Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Name: set, Type: api.MatchSet_ANY}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_REJECT},
		}}}})
	}
	if err == nil {
		err = srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name: "global", Direction: api.PolicyDirection_IMPORT, DefaultAction: api.RouteAction_ACCEPT,
			Policies: []*api.Policy{{Name: policy}},
		}})
	}
	if err != nil {
		return fmt.Errorf("installing the import policy: %w", err)
	}
	return nil
}

func (s *Speaker) setPeers(ctx context.Context, peers []Peer) error {
	want := map[netip.Addr]Peer{}
	for _, p := range peers {
		want[p.Address] = withDefaults(p)
	}
	for addr := range s.peers {
		if _, ok := want[addr]; !ok {
			if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
				return fmt.Errorf("removing peer %s: %w", addr, err)
			}
			delete(s.peers, addr)
			delete(s.sessions, addr)
		}
	}
	for addr, p := range want {
		if err := s.setPeer(ctx, p); err != nil {
			return fmt.Errorf("peer %s: %w", addr, err)
		}
	}
	return nil
}

// setPeer adds p, or replaces it when its settings changed (which resets the
// session: gobgp cannot change timers or the ASN of a running session).
func (s *Speaker) setPeer(ctx context.Context, p Peer) error {
	cur, ok := s.peers[p.Address]
	if ok && cur == p {
		return nil
	}
	if ok {
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
			return err
		}
	}
	if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: toAPIPeer(p)}); err != nil {
		return err
	}
	s.peers[p.Address] = p
	s.sessions[p.Address] = Session{Peer: p.Address, State: "Idle", Since: time.Now()}
	return nil
}

func withDefaults(p Peer) Peer {
	if p.HoldTime <= 0 {
		p.HoldTime = DefaultHoldTime
	}
	if p.Keepalive <= 0 {
		p.Keepalive = DefaultKeepalive
	}
	if p.Port == 0 {
		p.Port = bgp.BGP_PORT
	}
	return p
}

func toAPIPeer(p Peer) *api.Peer {
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:               uint64(p.HoldTime.Seconds()),
			KeepaliveInterval:      uint64(p.Keepalive.Seconds()),
			ConnectRetry:           uint64(connectRetry.Seconds()),
			IdleHoldTimeAfterReset: 1,
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
			Enabled: true,
		}}},
	}
}

// Set announces exactly prefixes (as /32s) and withdraws everything else.
func (s *Speaker) Set(ctx context.Context, prefixes []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[netip.Addr]bool{}
	for _, p := range prefixes {
		want[p] = true
	}
	for p, id := range s.paths {
		if !want[p] {
			if err := s.withdraw(ctx, p, id); err != nil {
				return err
			}
		}
	}
	for _, p := range prefixes {
		if _, ok := s.paths[p]; !ok {
			if err := s.announce(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Announced lists the prefixes announced, sorted.
func (s *Speaker) Announced() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Addr, 0, len(s.paths))
	for p := range s.paths {
		out = append(out, p)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// announce adds p; before the first SetConfig it is only remembered.
func (s *Speaker) announce(ctx context.Context, p netip.Addr) error {
	if s.global == nil || !s.nextHop.IsValid() {
		s.paths[p] = nil
		return nil
	}
	path, err := apiutil.NewPath(bgp.NewIPAddrPrefix(32, p.String()), false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeNextHop(s.nextHop.String()),
	}, time.Now())
	if err != nil {
		return err
	}
	resp, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
	if err != nil {
		return fmt.Errorf("announcing %s: %w", p, err)
	}
	s.paths[p] = resp.Uuid
	return nil
}

func (s *Speaker) withdraw(ctx context.Context, p netip.Addr, id []byte) error {
	if id != nil {
		err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Uuid: id})
		if err != nil {
			return fmt.Errorf("withdrawing %s: %w", p, err)
		}
	}
	delete(s.paths, p)
	return nil
}

// reannounce adds every remembered prefix again (after a restart or a next hop
// change).
func (s *Speaker) reannounce(ctx context.Context) error {
	for _, p := range slices.Collect(maps.Keys(s.paths)) {
		if err := s.withdraw(ctx, p, s.paths[p]); err != nil {
			return err
		}
		if err := s.announce(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// Sessions returns the state of every peer's session, sorted by peer.
func (s *Speaker) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.sessions))
	for _, st := range s.sessions {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Session) int { return a.Peer.Compare(b.Peer) })
	return out
}

func (s *Speaker) peerEvent(r *api.WatchEventResponse) {
	ev := r.GetPeer()
	if ev == nil || ev.Type != api.WatchEventResponse_PeerEvent_STATE || ev.Peer == nil || ev.Peer.State == nil {
		return
	}
	addr, err := netip.ParseAddr(ev.Peer.State.NeighborAddress)
	if err != nil {
		return
	}
	state := stateName(ev.Peer.State.SessionState)
	s.mu.Lock()
	cur, known := s.sessions[addr]
	changed := known && cur.State != state
	if changed {
		s.sessions[addr] = Session{Peer: addr, State: state, Since: time.Now()}
	}
	s.mu.Unlock()
	if changed {
		s.onChange()
	}
}

func stateName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_IDLE:
		return "Idle"
	case api.PeerState_CONNECT:
		return "Connect"
	case api.PeerState_ACTIVE:
		return "Active"
	case api.PeerState_OPENSENT:
		return "OpenSent"
	case api.PeerState_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_ESTABLISHED:
		return Established
	}
	return "Unknown"
}

// Stop closes every session (peers drop the routes at once) and stops the
// speaker.
func (s *Speaker) Stop(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.global != nil {
		s.stopLocked(ctx)
	}
}

func (s *Speaker) stopLocked(ctx context.Context) {
	s.cancel()
	_ = s.srv.StopBgp(ctx, &api.StopBgpRequest{})
	s.srv.Stop()
	s.global = nil
	clear(s.peers)
	clear(s.sessions)
	for p := range s.paths {
		s.paths[p] = nil
	}
}
