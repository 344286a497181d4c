package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	libipvs "github.com/moby/ipvs"

	"github.com/portico-dev/portico/lb-agent/model"
)

// fakeKernel is an in-memory IPVS that behaves like the kernel for the calls the
// dataplane makes (EEXIST/ENOENT, the hashed flag) and counts writes.
type fakeKernel struct {
	mu       sync.Mutex
	services map[string]*fakeService
	writes   []string
	reads    int
	failOn   string // a write whose description contains this fails
}

type fakeService struct {
	svc   libipvs.Service
	dests map[string]libipvs.Destination
}

func newFakeKernel() *fakeKernel { return &fakeKernel{services: map[string]*fakeService{}} }

func svcID(s *libipvs.Service) string {
	return fmt.Sprintf("%d/%s:%d/fw%d", s.Protocol, net.IP(s.Address), s.Port, s.FWMark)
}

func destID(d *libipvs.Destination) string { return fmt.Sprintf("%s:%d", d.Address, d.Port) }

func (k *fakeKernel) write(op string) error {
	k.writes = append(k.writes, op)
	if k.failOn != "" && strings.Contains(op, k.failOn) {
		return syscall.EINVAL
	}
	return nil
}

func (k *fakeKernel) GetServices() ([]*libipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	var out []*libipvs.Service
	for _, s := range k.services {
		c := s.svc
		c.Flags |= flagHashed
		out = append(out, &c)
	}
	return out, nil
}

func (k *fakeKernel) NewService(s *libipvs.Service) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.write("new-service " + svcID(s)); err != nil {
		return err
	}
	if k.services[svcID(s)] != nil {
		return syscall.EEXIST
	}
	k.services[svcID(s)] = &fakeService{svc: *s, dests: map[string]libipvs.Destination{}}
	return nil
}

func (k *fakeKernel) UpdateService(s *libipvs.Service) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.write("update-service " + svcID(s)); err != nil {
		return err
	}
	cur := k.services[svcID(s)]
	if cur == nil {
		return syscall.ENOENT
	}
	cur.svc = *s
	return nil
}

func (k *fakeKernel) DelService(s *libipvs.Service) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.write("del-service " + svcID(s)); err != nil {
		return err
	}
	if k.services[svcID(s)] == nil {
		return syscall.ENOENT
	}
	delete(k.services, svcID(s))
	return nil
}

func (k *fakeKernel) GetDestinations(s *libipvs.Service) ([]*libipvs.Destination, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	cur := k.services[svcID(s)]
	if cur == nil {
		return nil, syscall.ENOENT
	}
	var out []*libipvs.Destination
	for _, d := range cur.dests {
		c := d
		out = append(out, &c)
	}
	return out, nil
}

func (k *fakeKernel) destOp(op string, s *libipvs.Service, d *libipvs.Destination, apply func(*fakeService) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.write(op + " " + svcID(s) + " " + destID(d)); err != nil {
		return err
	}
	cur := k.services[svcID(s)]
	if cur == nil {
		return syscall.ENOENT
	}
	return apply(cur)
}

func (k *fakeKernel) NewDestination(s *libipvs.Service, d *libipvs.Destination) error {
	return k.destOp("new-dest", s, d, func(cur *fakeService) error {
		if _, ok := cur.dests[destID(d)]; ok {
			return syscall.EEXIST
		}
		cur.dests[destID(d)] = *d
		return nil
	})
}

func (k *fakeKernel) UpdateDestination(s *libipvs.Service, d *libipvs.Destination) error {
	return k.destOp("update-dest", s, d, func(cur *fakeService) error {
		if _, ok := cur.dests[destID(d)]; !ok {
			return syscall.ENOENT
		}
		cur.dests[destID(d)] = *d
		return nil
	})
}

func (k *fakeKernel) DelDestination(s *libipvs.Service, d *libipvs.Destination) error {
	return k.destOp("del-dest", s, d, func(cur *fakeService) error {
		if _, ok := cur.dests[destID(d)]; !ok {
			return syscall.ENOENT
		}
		delete(cur.dests, destID(d))
		return nil
	})
}

// dump describes the kernel state in ipvsadm's spirit, sorted.
func (k *fakeKernel) dump() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for id, s := range k.services {
		out = append(out, fmt.Sprintf("%s %s flags=%#x", id, s.svc.SchedName, s.svc.Flags))
		for did, d := range s.dests {
			out = append(out, fmt.Sprintf("%s -> %s w=%d fwd=%d", id, did, d.Weight, d.ConnectionFlags))
		}
	}
	slices.Sort(out)
	return out
}

func (k *fakeKernel) takeWrites() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.writes
	k.writes = nil
	slices.Sort(w)
	return w
}

type fakeAddrs struct {
	mu    sync.Mutex
	addrs []netip.Addr
	fail  netip.Addr
}

func (f *fakeAddrs) List() ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs), nil
}

func (f *fakeAddrs) Add(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a == f.fail {
		return syscall.EPERM
	}
	if !slices.Contains(f.addrs, a) {
		f.addrs = append(f.addrs, a)
	}
	return nil
}

func (f *fakeAddrs) Del(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = slices.DeleteFunc(f.addrs, func(x netip.Addr) bool { return x == a })
	return nil
}

func (f *fakeAddrs) sorted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.addrs {
		out = append(out, a.String())
	}
	slices.Sort(out)
	return out
}

func svc(vip string, port uint16, dests ...string) model.Service {
	s := model.Service{Key: model.Key{VIP: netip.MustParseAddr(vip), Port: port, Protocol: model.TCP}}
	for _, d := range dests {
		addr, w, _ := strings.Cut(d, "=")
		var weight int
		fmt.Sscan(w, &weight)
		s.Destinations = append(s.Destinations, model.Destination{Address: netip.MustParseAddr(addr), Weight: weight})
	}
	return s
}

func newTest(verify time.Duration) (*Dataplane, *fakeKernel, *fakeAddrs) {
	k, a := newFakeKernel(), &fakeAddrs{}
	return NewWith([]Kernel{k, k, k}, a, verify), k, a
}

func mustSet(t *testing.T, d *Dataplane, services ...model.Service) {
	t.Helper()
	if _, err := d.Set(context.Background(), services); err != nil {
		t.Fatal(err)
	}
}

func TestSetFromEmpty(t *testing.T) {
	d, k, a := newTest(time.Hour)
	st, err := d.Set(context.Background(), []model.Service{
		svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1"),
		svc("203.0.113.10", 443, "10.0.0.2=99", "10.1.0.2=1"),
		svc("203.0.113.11", 80),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"6/203.0.113.10:443/fw0 mh flags=0x1a",
		"6/203.0.113.10:443/fw0 -> 10.0.0.2:443 w=99 fwd=2",
		"6/203.0.113.10:443/fw0 -> 10.1.0.2:443 w=1 fwd=2",
		"6/203.0.113.10:80/fw0 mh flags=0x1a",
		"6/203.0.113.10:80/fw0 -> 10.0.0.2:80 w=99 fwd=2",
		"6/203.0.113.10:80/fw0 -> 10.1.0.2:80 w=1 fwd=2",
		"6/203.0.113.11:80/fw0 mh flags=0x1a",
	}
	// The fake stores what it was given: 0x18 plus the hashed bit on reads.
	got := k.dump()
	for i := range got {
		got[i] = strings.Replace(got[i], "flags=0x18", "flags=0x1a", 1)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kernel:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := a.sorted(); !slices.Equal(got, []string{"203.0.113.10", "203.0.113.11"}) {
		t.Errorf("bound %v", got)
	}
	if st.Services != 3 || st.Destinations != 4 || len(st.Ready) != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestSetIsIdempotentAndRestartSafe(t *testing.T) {
	desired := []model.Service{svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1")}
	d, k, a := newTest(time.Hour)
	mustSet(t, d, desired...)
	k.takeWrites()
	mustSet(t, d, desired...)
	if w := k.takeWrites(); len(w) != 0 {
		t.Errorf("second Set wrote %v", w)
	}
	// A new agent (fresh dataplane on the same kernel) reads everything back and
	// writes nothing: no flush, no re-creation.
	restarted := NewWith([]Kernel{k}, a, time.Hour)
	mustSet(t, restarted, desired...)
	if w := k.takeWrites(); len(w) != 0 {
		t.Errorf("Set after a restart wrote %v", w)
	}
}

func TestChangesAreMinimal(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1", "10.2.0.2=1"))
	k.takeWrites()
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=0", "10.1.0.2=1", "10.3.0.2=1"))
	want := []string{
		"del-dest 6/203.0.113.10:80/fw0 10.2.0.2:80",
		"new-dest 6/203.0.113.10:80/fw0 10.3.0.2:80",
		"update-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
	}
	if w := k.takeWrites(); !slices.Equal(w, want) {
		t.Errorf("writes %v, want %v", w, want)
	}
}

func TestRemovalUnbindsAfterServicesAreGone(t *testing.T) {
	d, k, a := newTest(time.Hour)
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"), svc("203.0.113.10", 443), svc("203.0.113.11", 80))
	k.takeWrites()
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"))
	want := []string{"del-service 6/203.0.113.10:443/fw0", "del-service 6/203.0.113.11:80/fw0"}
	if w := k.takeWrites(); !slices.Equal(w, want) {
		t.Errorf("writes %v, want %v", w, want)
	}
	if got := a.sorted(); !slices.Equal(got, []string{"203.0.113.10"}) {
		t.Errorf("bound %v", got)
	}
	mustSet(t, d)
	if len(k.dump()) != 0 || len(a.sorted()) != 0 {
		t.Errorf("after Set(nothing): kernel %v, bound %v", k.dump(), a.sorted())
	}
}

func TestForeignServicesAreLeftAlone(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	// kube-proxy's service on another address, a fwmark service, and a service on
	// an address this dataplane will be asked to serve.
	foreign := &libipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: net.ParseIP("10.96.0.1").To4(), Port: 443, SchedName: "rr"}
	fwmark := &libipvs.Service{AddressFamily: syscall.AF_INET, FWMark: 7, SchedName: "rr"}
	takeover := &libipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: net.ParseIP("203.0.113.10").To4(), Port: 80, SchedName: "rr"}
	for _, s := range []*libipvs.Service{foreign, fwmark, takeover} {
		if err := k.NewService(s); err != nil {
			t.Fatal(err)
		}
	}
	k.NewDestination(foreign, &libipvs.Destination{Address: net.ParseIP("10.0.0.9").To4(), Port: 443, Weight: 1})
	k.takeWrites()
	mustSet(t, d)
	if w := k.takeWrites(); len(w) != 0 {
		t.Errorf("Set(nothing) touched foreign services: %v", w)
	}
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"))
	want := []string{"new-dest 6/203.0.113.10:80/fw0 10.0.0.2:80", "update-service 6/203.0.113.10:80/fw0"}
	if w := k.takeWrites(); !slices.Equal(w, want) {
		t.Errorf("writes %v, want %v", w, want)
	}
	mustSet(t, d)
	if got := k.dump(); len(got) != 3 || !strings.HasPrefix(got[0], "0/<nil>:0/fw7") {
		t.Errorf("kernel after release: %v", got)
	}
}

func TestDriftRepair(t *testing.T) {
	desired := []model.Service{svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1"), svc("203.0.113.10", 443)}
	d, k, _ := newTest(0)
	mustSet(t, d, desired...)
	// Someone changes a weight, adds a destination and deletes a service.
	s80 := toService(desired[0])
	k.UpdateDestination(s80, &libipvs.Destination{Address: net.ParseIP("10.0.0.2").To4(), Port: 80, Weight: 5, ConnectionFlags: libipvs.ConnectionFlagTunnel})
	k.NewDestination(s80, &libipvs.Destination{Address: net.ParseIP("10.9.9.9").To4(), Port: 80, Weight: 5})
	k.DelService(toService(desired[1]))
	before := k.dump()
	k.takeWrites()
	mustSet(t, d, desired...)
	want := []string{
		"del-dest 6/203.0.113.10:80/fw0 10.9.9.9:80",
		"new-service 6/203.0.113.10:443/fw0",
		"update-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
	}
	if w := k.takeWrites(); !slices.Equal(w, want) {
		t.Errorf("repair writes %v, want %v (kernel before: %v)", w, want, before)
	}
}

func TestVerifyIntervalSkipsReadsOfUnchangedServices(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	var desired []model.Service
	for i := range 50 {
		desired = append(desired, svc(fmt.Sprintf("203.0.113.%d", i+1), 80, "10.0.0.2=1"))
	}
	mustSet(t, d, desired...)
	k.reads = 0
	k.takeWrites()
	desired[7] = svc("203.0.113.8", 80, "10.0.0.2=0")
	mustSet(t, d, desired...)
	// One service dump and one destination read (the changed service).
	if k.reads != 2 {
		t.Errorf("reads after one change: %d, want 2", k.reads)
	}
	if w := k.takeWrites(); !slices.Equal(w, []string{"update-dest 6/203.0.113.8:80/fw0 10.0.0.2:80"}) {
		t.Errorf("writes %v", w)
	}
}

func TestFailuresAreReportedPerVIP(t *testing.T) {
	d, k, a := newTest(time.Hour)
	a.fail = netip.MustParseAddr("203.0.113.12")
	k.failOn = "10.6.6.6"
	st, err := d.Set(context.Background(), []model.Service{
		svc("203.0.113.10", 80, "10.0.0.2=1"),
		svc("203.0.113.11", 80, "10.6.6.6=1"),
		svc("203.0.113.12", 80, "10.0.0.2=1"),
	})
	if err == nil || !strings.Contains(err.Error(), "10.6.6.6") || !strings.Contains(err.Error(), "binding 203.0.113.12") {
		t.Errorf("error %v", err)
	}
	if len(st.Ready) != 1 || st.Ready[0] != netip.MustParseAddr("203.0.113.10") || st.Services != 1 {
		t.Errorf("status %+v", st)
	}
	// The unbindable VIP got no service (it could not be cleaned up later).
	for _, line := range k.dump() {
		if strings.Contains(line, "203.0.113.12") {
			t.Errorf("service of an unbound VIP: %s", line)
		}
	}
	// Once the kernel recovers, the next Set completes the failed service.
	k.failOn, a.fail = "", netip.Addr{}
	st, err = d.Set(context.Background(), []model.Service{
		svc("203.0.113.10", 80, "10.0.0.2=1"),
		svc("203.0.113.11", 80, "10.6.6.6=1"),
		svc("203.0.113.12", 80, "10.0.0.2=1"),
	})
	if err != nil || len(st.Ready) != 3 {
		t.Errorf("after recovery: %+v %v", st, err)
	}
}

func TestCancelledSetReportsIt(t *testing.T) {
	d, _, _ := newTest(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := d.Set(ctx, []model.Service{svc("203.0.113.10", 80)})
	if !errors.Is(err, context.Canceled) || len(st.Ready) != 0 {
		t.Errorf("cancelled Set: %+v %v", st, err)
	}
}
