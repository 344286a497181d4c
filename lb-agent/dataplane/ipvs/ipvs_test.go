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
// dataplane makes (ESRCH for a missing service, EEXIST/ENOENT for destinations,
// the hashed flag), records every read and write, and counts the builds of the
// Maglev table: one per destination added, changed or deleted on an mh service,
// and one per switch of a service with destinations to mh (ip_vs_mh).
type fakeKernel struct {
	mu       sync.Mutex
	services map[string]*fakeService
	writes   []string
	reads    []string
	builds   int
	batches  int    // Write calls: netlink round trips of the real kernel
	failOn   string // a write whose description contains this fails
	failOnce string // as failOn, once
	noNone   bool   // an old kernel: creating a service without a scheduler fails
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
	if k.failOnce != "" && strings.Contains(op, k.failOnce) {
		k.failOnce = ""
		return syscall.EIO
	}
	if k.failOn != "" && strings.Contains(op, k.failOn) {
		return syscall.EINVAL
	}
	return nil
}

// Write applies ops one by one, as the kernel does with a batch.
func (k *fakeKernel) Write(ops []Op) []error {
	k.mu.Lock()
	k.batches++
	k.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		switch op.Kind {
		case NewService:
			errs[i] = k.NewService(op.Service)
		case UpdateService:
			errs[i] = k.UpdateService(op.Service)
		case DelService:
			errs[i] = k.DelService(op.Service)
		case NewDestination:
			errs[i] = k.NewDestination(op.Service, op.Destination)
		case UpdateDestination:
			errs[i] = k.UpdateDestination(op.Service, op.Destination)
		case DelDestination:
			errs[i] = k.DelDestination(op.Service, op.Destination)
		}
	}
	return errs
}

func (k *fakeKernel) GetServices() ([]*libipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads = append(k.reads, "get-services")
	var out []*libipvs.Service
	for _, s := range k.services {
		c := s.svc
		c.Flags |= flagHashed
		out = append(out, &c)
	}
	return out, nil
}

func (k *fakeKernel) GetService(s *libipvs.Service) (*libipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads = append(k.reads, "get-service "+svcID(s))
	cur := k.services[svcID(s)]
	if cur == nil {
		return nil, syscall.ESRCH
	}
	c := cur.svc
	c.Flags |= flagHashed
	return &c, nil
}

func (k *fakeKernel) NewService(s *libipvs.Service) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.write("new-service " + svcID(s) + " " + s.SchedName); err != nil {
		return err
	}
	if k.noNone && s.SchedName == "none" {
		return syscall.ENOENT
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
	if err := k.write("update-service " + svcID(s) + " " + s.SchedName); err != nil {
		return err
	}
	cur := k.services[svcID(s)]
	if cur == nil {
		return syscall.ESRCH
	}
	if cur.svc.SchedName != "mh" && s.SchedName == "mh" && len(cur.dests) > 0 {
		k.builds++
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
		return syscall.ESRCH
	}
	delete(k.services, svcID(s))
	return nil
}

func (k *fakeKernel) GetDestinations(s *libipvs.Service) ([]*libipvs.Destination, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads = append(k.reads, "get-dests "+svcID(s))
	cur := k.services[svcID(s)]
	if cur == nil {
		return nil, syscall.ESRCH
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
		return syscall.ESRCH
	}
	err := apply(cur)
	if err == nil && cur.svc.SchedName == "mh" {
		k.builds++
	}
	return err
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
		out = append(out, fmt.Sprintf("%s %s flags=%#x", id, s.svc.SchedName, s.svc.Flags|flagHashed))
		for did, d := range s.dests {
			out = append(out, fmt.Sprintf("%s -> %s w=%d fwd=%d", id, did, d.Weight, d.ConnectionFlags))
		}
	}
	slices.Sort(out)
	return out
}

// take returns the writes and reads since the last take, sorted, and the
// Maglev table builds.
func (k *fakeKernel) take() (writes, reads []string, builds int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	writes, reads, builds = k.writes, k.reads, k.builds
	k.writes, k.reads, k.builds, k.batches = nil, nil, 0, 0
	slices.Sort(writes)
	slices.Sort(reads)
	return writes, reads, builds
}

func (k *fakeKernel) takeWrites() []string {
	w, _, _ := k.take()
	return w
}

// fakeAddrs binds addresses in memory and records the calls.
type fakeAddrs struct {
	mu    sync.Mutex
	addrs []netip.Addr
	calls []string
	fail  netip.Addr
}

func (f *fakeAddrs) List() ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list")
	return slices.Clone(f.addrs), nil
}

func (f *fakeAddrs) Add(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "add "+a.String())
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
	f.calls = append(f.calls, "del "+a.String())
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

func (f *fakeAddrs) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
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

// many is n services (203.0.x.y:80) of 8 destinations each.
func many(n int) []model.Service {
	var out []model.Service
	for i := range n {
		s := model.Service{Key: model.Key{VIP: netip.AddrFrom4([4]byte{203, 0, byte(i / 250), byte(i%250 + 1)}), Port: 80, Protocol: model.TCP}}
		for j := range 8 {
			s.Destinations = append(s.Destinations, model.Destination{Address: netip.AddrFrom4([4]byte{10, 1, 0, byte(j + 1)}), Weight: 1})
		}
		out = append(out, s)
	}
	return out
}

// clock is a fake time for the verify interval.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                   { return c.t }
func (c *clock) advance(d time.Duration)          { c.t = c.t.Add(d) }
func withClock(d *Dataplane, c *clock) *Dataplane { d.now = c.now; return d }

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
	slices.Sort(want)
	if got := k.dump(); !slices.Equal(got, want) {
		t.Errorf("kernel:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := a.sorted(); !slices.Equal(got, []string{"203.0.113.10", "203.0.113.11"}) {
		t.Errorf("bound %v", got)
	}
	if st.Services != 3 || st.Destinations != 4 || len(st.Ready) != 2 {
		t.Errorf("status %+v", st)
	}
}

// TestNewServiceBuildsTheMaglevTableOnce: a new service with several
// destinations is created without a scheduler, given its destinations and
// switched to mh: one table build instead of one per destination.
func TestNewServiceBuildsTheMaglevTableOnce(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.1=1", "10.0.0.2=1", "10.0.0.3=1"), svc("203.0.113.11", 80, "10.0.0.1=1"))
	writes, _, builds := k.take()
	want := []string{
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.1:80",
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.3:80",
		"new-dest 6/203.0.113.11:80/fw0 10.0.0.1:80",
		"new-service 6/203.0.113.10:80/fw0 none",
		"new-service 6/203.0.113.11:80/fw0 mh",
		"update-service 6/203.0.113.10:80/fw0 mh",
	}
	if !slices.Equal(writes, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
	}
	if builds != 2 {
		t.Errorf("%d Maglev table builds for two new services, want 2 (one each)", builds)
	}
	for _, line := range k.dump() {
		if strings.Contains(line, " none ") {
			t.Errorf("a service was left without a scheduler: %s", line)
		}
	}
}

// TestNewServiceOnAKernelWithoutNoneScheduler: a kernel that refuses a
// service without a scheduler gets the service created as mh, and the
// services created after it too.
func TestNewServiceOnAKernelWithoutNoneScheduler(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	k.noNone = true
	first := svc("203.0.113.10", 80, "10.0.0.1=1", "10.0.0.2=1")
	mustSet(t, d, first)
	writes, _, builds := k.take()
	want := []string{
		// The batch: the creation fails (ENOENT), the writes after it too.
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.1:80",
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
		"new-service 6/203.0.113.10:80/fw0 none",
		"update-service 6/203.0.113.10:80/fw0 mh",
		// Read back (absent) and created as mh.
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.1:80",
		"new-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
		"new-service 6/203.0.113.10:80/fw0 mh",
	}
	slices.Sort(want)
	if !slices.Equal(writes, want) || builds != 2 {
		t.Errorf("writes:\n%s\nwant:\n%s\n%d table builds, want 2", strings.Join(writes, "\n"), strings.Join(want, "\n"), builds)
	}
	mustSet(t, d, first, svc("203.0.113.11", 80, "10.0.0.1=1", "10.0.0.2=1"))
	if writes := k.takeWrites(); len(writes) != 3 || !slices.Contains(writes, "new-service 6/203.0.113.11:80/fw0 mh") {
		t.Errorf("the next creation: %v, want it as mh directly", writes)
	}
}

// TestCreationIsBatched: creating 100 services of 8 destinations takes 1000
// writes (each created without a scheduler, given its destinations, switched
// to mh) in batches of at most maxBatchOps, each service's in one batch.
func TestCreationIsBatched(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	mustSet(t, d, many(100)...)
	batches := k.batches
	if writes, _, builds := k.take(); len(writes) != 1000 || batches != 4 || builds != 100 {
		t.Errorf("%d writes in %d batches, %d Maglev table builds; want 1000 in 4 (25 services of 10 writes each), 100", len(writes), batches, builds)
	}
}

// TestOneBackendChangeIsOneKernelOperation: once the dataplane has read the
// kernel back, changing one backend's weight among 200 services of 8 backends
// issues exactly one kernel operation, and reads nothing.
func TestOneBackendChangeIsOneKernelOperation(t *testing.T) {
	d, k, a := newTest(time.Hour)
	services := many(200)
	mustSet(t, d, services...)
	k.take()
	a.takeCalls()

	services[123].Destinations = slices.Clone(services[123].Destinations)
	services[123].Destinations[5].Weight = 0
	st, err := d.Set(context.Background(), services)
	if err != nil {
		t.Fatal(err)
	}
	batches := k.batches
	writes, reads, builds := k.take()
	if want := []string{"update-dest 6/203.0.0.124:80/fw0 10.1.0.6:80"}; !slices.Equal(writes, want) || batches != 1 {
		t.Errorf("kernel writes %v in %d batches, want %v in one", writes, batches, want)
	}
	if len(reads) != 0 || builds != 1 {
		t.Errorf("kernel reads %v (want none), Maglev table builds %d (want 1)", reads, builds)
	}
	if calls := a.takeCalls(); len(calls) != 0 {
		t.Errorf("address calls %v, want none", calls)
	}
	if st.Services != 200 || st.Destinations != 1600 || len(st.Ready) != 200 {
		t.Errorf("status: %d services, %d destinations, %d ready", st.Services, st.Destinations, len(st.Ready))
	}
}

// TestRestartWithNothingChangedWritesNothing: a new dataplane on a kernel that
// already serves the desired state (an agent restart) reads everything back
// once and writes nothing; its next Set reads nothing either.
func TestRestartWithNothingChangedWritesNothing(t *testing.T) {
	services := many(50)
	d, k, a := newTest(time.Hour)
	mustSet(t, d, services...)
	k.take()
	a.takeCalls()

	restarted := NewWith([]Kernel{k, k}, a, time.Hour)
	st, err := restarted.Set(context.Background(), services)
	if err != nil || len(st.Ready) != 50 {
		t.Fatalf("Set after a restart: %+v %v", st, err)
	}
	writes, reads, _ := k.take()
	if len(writes) != 0 {
		t.Errorf("Set after a restart wrote %v", writes)
	}
	// One service dump and the destinations of each service.
	if len(reads) != 51 || reads[50] != "get-services" {
		t.Errorf("Set after a restart read %d times (%v...), want 51", len(reads), reads[:min(3, len(reads))])
	}
	if calls := a.takeCalls(); !slices.Equal(calls, []string{"list"}) {
		t.Errorf("address calls %v, want [list]", calls)
	}
	mustSet(t, restarted, services...)
	if writes, reads, _ := k.take(); len(writes)+len(reads) != 0 {
		t.Errorf("second Set: writes %v, reads %v", writes, reads)
	}
}

func TestChangesAreMinimal(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1", "10.2.0.2=1"))
	k.take()
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=0", "10.1.0.2=1", "10.3.0.2=1"))
	want := []string{
		"del-dest 6/203.0.113.10:80/fw0 10.2.0.2:80",
		"new-dest 6/203.0.113.10:80/fw0 10.3.0.2:80",
		"update-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
	}
	if w, r, _ := k.take(); !slices.Equal(w, want) || len(r) != 0 {
		t.Errorf("writes %v, want %v; reads %v, want none", w, want, r)
	}
}

func TestRemovalUnbindsAfterServicesAreGone(t *testing.T) {
	d, k, a := newTest(time.Hour)
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"), svc("203.0.113.10", 443), svc("203.0.113.11", 80))
	k.take()
	a.takeCalls()
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"))
	want := []string{"del-service 6/203.0.113.10:443/fw0", "del-service 6/203.0.113.11:80/fw0"}
	if w := k.takeWrites(); !slices.Equal(w, want) {
		t.Errorf("writes %v, want %v", w, want)
	}
	if got := a.sorted(); !slices.Equal(got, []string{"203.0.113.10"}) {
		t.Errorf("bound %v", got)
	}
	if calls := a.takeCalls(); !slices.Equal(calls, []string{"del 203.0.113.11"}) {
		t.Errorf("address calls %v", calls)
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
	k.take()
	mustSet(t, d)
	if w := k.takeWrites(); len(w) != 0 {
		t.Errorf("Set(nothing) touched foreign services: %v", w)
	}
	// The VIP was neither bound nor desired when the kernel was read back: the
	// creation fails (EEXIST), the service is read back and taken over.
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"))
	want := []string{"new-dest 6/203.0.113.10:80/fw0 10.0.0.2:80", "new-service 6/203.0.113.10:80/fw0 mh",
		"update-service 6/203.0.113.10:80/fw0 mh"}
	if w := k.takeWrites(); !slices.Equal(w, want) {
		t.Errorf("writes %v, want %v", w, want)
	}
	mustSet(t, d)
	if got := k.dump(); len(got) != 3 || !strings.HasPrefix(got[0], "0/<nil>:0/fw7") {
		t.Errorf("kernel after release: %v", got)
	}
}

// TestServiceFoundOnANewlyDesiredVIPIsTakenOver: a service someone created on
// a VIP the dataplane did not serve when it read the kernel back is taken over
// when that VIP becomes desired: the creation fails (EEXIST), the service is
// read back and changed.
func TestServiceFoundOnANewlyDesiredVIPIsTakenOver(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"))
	takeover := &libipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: net.ParseIP("203.0.113.11").To4(), Port: 80, SchedName: "rr"}
	k.NewService(takeover)
	k.NewDestination(takeover, &libipvs.Destination{Address: net.ParseIP("10.9.9.9").To4(), Port: 80, Weight: 1})
	k.take()
	mustSet(t, d, svc("203.0.113.10", 80, "10.0.0.2=1"), svc("203.0.113.11", 80, "10.0.0.2=1", "10.0.0.3=1"))
	writes, reads, _ := k.take()
	want := []string{
		"del-dest 6/203.0.113.11:80/fw0 10.9.9.9:80",
		"new-dest 6/203.0.113.11:80/fw0 10.0.0.2:80",
		"new-dest 6/203.0.113.11:80/fw0 10.0.0.3:80",
		"new-service 6/203.0.113.11:80/fw0 none", // EEXIST
		"update-service 6/203.0.113.11:80/fw0 mh",
	}
	if !slices.Equal(writes, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
	}
	if want := []string{"get-dests 6/203.0.113.11:80/fw0", "get-service 6/203.0.113.11:80/fw0"}; !slices.Equal(reads, want) {
		t.Errorf("reads %v, want %v", reads, want)
	}
}

// TestVerifyIntervalRepairsDrift: drift made behind the dataplane's back is
// not seen by Sets within the verify interval (they read nothing), and is
// repaired by the first Set after it, which reads everything back.
func TestVerifyIntervalRepairsDrift(t *testing.T) {
	desired := []model.Service{svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1"), svc("203.0.113.10", 443), svc("203.0.113.11", 80)}
	c := &clock{t: time.Unix(1000, 0)}
	d, k, a := newTest(time.Minute)
	withClock(d, c)
	mustSet(t, d, desired...)
	// Someone changes a weight, adds a destination, deletes a service and
	// unbinds a VIP.
	s80 := toService(desired[0].Key)
	k.UpdateDestination(s80, &libipvs.Destination{Address: net.ParseIP("10.0.0.2").To4(), Port: 80, Weight: 5, ConnectionFlags: libipvs.ConnectionFlagTunnel})
	k.NewDestination(s80, &libipvs.Destination{Address: net.ParseIP("10.9.9.9").To4(), Port: 80, Weight: 5})
	k.DelService(toService(desired[1].Key))
	a.Del(netip.MustParseAddr("203.0.113.11"))
	k.take()
	a.takeCalls()

	c.advance(59 * time.Second)
	mustSet(t, d, desired...)
	if w, r, _ := k.take(); len(w)+len(r) != 0 {
		t.Errorf("Set within the verify interval: writes %v, reads %v; want none", w, r)
	}
	c.advance(time.Second)
	mustSet(t, d, desired...)
	writes, reads, _ := k.take()
	want := []string{
		"del-dest 6/203.0.113.10:80/fw0 10.9.9.9:80",
		"new-service 6/203.0.113.10:443/fw0 mh",
		"update-dest 6/203.0.113.10:80/fw0 10.0.0.2:80",
	}
	if !slices.Equal(writes, want) {
		t.Errorf("repair writes %v, want %v", writes, want)
	}
	if len(reads) != 3 { // the dump, the destinations of the two services left
		t.Errorf("reads %v, want 3", reads)
	}
	if calls := a.takeCalls(); !slices.Equal(calls, []string{"list", "add 203.0.113.11"}) {
		t.Errorf("address calls %v, want the list and the VIP bound again", calls)
	}
	// The next read-back is an interval later.
	c.advance(59 * time.Second)
	mustSet(t, d, desired...)
	if w, r, _ := k.take(); len(w)+len(r) != 0 {
		t.Errorf("Set after the repair: writes %v, reads %v; want none", w, r)
	}
}

// TestZeroVerifyIntervalReadsEverySet: with VerifyInterval 0 every Set reads
// everything back and repairs drift.
func TestZeroVerifyIntervalReadsEverySet(t *testing.T) {
	desired := []model.Service{svc("203.0.113.10", 80, "10.0.0.2=99", "10.1.0.2=1")}
	d, k, _ := newTest(0)
	mustSet(t, d, desired...)
	k.UpdateDestination(toService(desired[0].Key), &libipvs.Destination{Address: net.ParseIP("10.1.0.2").To4(), Port: 80, Weight: 7, ConnectionFlags: libipvs.ConnectionFlagTunnel})
	k.take()
	mustSet(t, d, desired...)
	writes, reads, _ := k.take()
	if want := []string{"update-dest 6/203.0.113.10:80/fw0 10.1.0.2:80"}; !slices.Equal(writes, want) {
		t.Errorf("writes %v, want %v", writes, want)
	}
	if len(reads) != 2 {
		t.Errorf("reads %v, want the dump and one service's destinations", reads)
	}
}

// TestFailedOperationIsReadBackAndRetried: a failed operation makes the
// dataplane read that service back and retry once in the same Set; while it
// keeps failing, every following Set reads the service back first.
func TestFailedOperationIsReadBackAndRetried(t *testing.T) {
	desired := many(10)
	d, k, _ := newTest(time.Hour)
	mustSet(t, d, desired...)
	desired[3].Destinations = slices.Clone(desired[3].Destinations)
	desired[3].Destinations[0].Weight = 5
	k.take()

	k.failOnce = "update-dest"
	mustSet(t, d, desired...)
	writes, reads, _ := k.take()
	want := []string{"update-dest 6/203.0.0.4:80/fw0 10.1.0.1:80", "update-dest 6/203.0.0.4:80/fw0 10.1.0.1:80"}
	if !slices.Equal(writes, want) || !slices.Equal(reads, []string{"get-dests 6/203.0.0.4:80/fw0", "get-service 6/203.0.0.4:80/fw0"}) {
		t.Errorf("a transient failure: writes %v, reads %v; want the write, a read back and the write again", writes, reads)
	}

	desired[3].Destinations[0].Weight = 6
	k.failOn = "update-dest"
	st, err := d.Set(context.Background(), desired)
	if err == nil || len(st.Ready) != 9 || slices.Contains(st.Ready, desired[3].VIP) {
		t.Errorf("a persistent failure: ready %v, error %v; want the 9 others ready and an error", st.Ready, err)
	}
	k.take()
	k.failOn = ""
	st, err = d.Set(context.Background(), desired)
	if err != nil || len(st.Ready) != 10 {
		t.Errorf("after recovery: %+v %v", st, err)
	}
	writes, reads, _ = k.take()
	if !slices.Equal(writes, []string{"update-dest 6/203.0.0.4:80/fw0 10.1.0.1:80"}) ||
		!slices.Equal(reads, []string{"get-dests 6/203.0.0.4:80/fw0", "get-service 6/203.0.0.4:80/fw0"}) {
		t.Errorf("the Set after a failure: writes %v, reads %v; want the service read back, then the write", writes, reads)
	}
	if got := k.dump(); !slices.Contains(got, "6/203.0.0.4:80/fw0 -> 10.1.0.1:80 w=6 fwd=2") {
		t.Errorf("kernel %v", got)
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
	if got := k.dump(); !slices.Contains(got, "6/203.0.113.11:80/fw0 -> 10.6.6.6:80 w=1 fwd=2") {
		t.Errorf("kernel %v", got)
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

// TestUpdateTouchesItsVIPsOnly: among 200 services of 8 backends, an Update
// changing one backend's weight issues that one kernel operation and reads
// nothing; one removing a VIP deletes its service and unbinds it; one adding
// a VIP binds it and creates its service. Each reports the totals of every VIP
// and its own VIPs ready; what the kernel holds after them is what a Set of
// the same services would have made (a restarted dataplane's Set writes
// nothing).
func TestUpdateTouchesItsVIPsOnly(t *testing.T) {
	d, k, a := newTest(time.Hour)
	services := many(200)
	mustSet(t, d, services...)
	k.take()
	a.takeCalls()
	update := func(step string, vips []netip.Addr, svcs []model.Service, wantWrites, wantAddrs []string, wantServices, wantReady int) {
		t.Helper()
		st, err := d.Update(context.Background(), vips, svcs)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		writes, reads, _ := k.take()
		if !slices.Equal(writes, wantWrites) || len(reads) != 0 {
			t.Errorf("%s: kernel writes %v, reads %v; want writes %v and no read", step, writes, reads, wantWrites)
		}
		if calls := a.takeCalls(); !slices.Equal(calls, wantAddrs) {
			t.Errorf("%s: address calls %v, want %v", step, calls, wantAddrs)
		}
		if st.Services != wantServices || st.Destinations != 8*wantServices || len(st.Ready) != wantReady {
			t.Errorf("%s: status %d services, %d destinations, ready %v; want %d services, %d ready",
				step, st.Services, st.Destinations, st.Ready, wantServices, wantReady)
		}
	}

	changed := services[123]
	changed.Destinations = slices.Clone(changed.Destinations)
	changed.Destinations[5].Weight = 0
	services[123] = changed
	update("one weight", []netip.Addr{changed.VIP}, []model.Service{changed},
		[]string{"update-dest 6/203.0.0.124:80/fw0 10.1.0.6:80"}, nil, 200, 1)

	gone := services[7].VIP
	services = slices.Delete(services, 7, 8)
	update("one VIP gone", []netip.Addr{gone}, nil, []string{"del-service 6/203.0.0.8:80/fw0"}, []string{"del 203.0.0.8"}, 199, 0)

	added := many(201)[200]
	services = append(services, added)
	update("one VIP added", []netip.Addr{added.VIP}, []model.Service{added}, []string{
		"new-dest 6/203.0.0.201:80/fw0 10.1.0.1:80", "new-dest 6/203.0.0.201:80/fw0 10.1.0.2:80",
		"new-dest 6/203.0.0.201:80/fw0 10.1.0.3:80", "new-dest 6/203.0.0.201:80/fw0 10.1.0.4:80",
		"new-dest 6/203.0.0.201:80/fw0 10.1.0.5:80", "new-dest 6/203.0.0.201:80/fw0 10.1.0.6:80",
		"new-dest 6/203.0.0.201:80/fw0 10.1.0.7:80", "new-dest 6/203.0.0.201:80/fw0 10.1.0.8:80",
		"new-service 6/203.0.0.201:80/fw0 none", "update-service 6/203.0.0.201:80/fw0 mh",
	}, []string{"add 203.0.0.201"}, 200, 1)

	restarted := NewWith([]Kernel{k}, a, time.Hour)
	mustSet(t, restarted, services...)
	if writes, _, _ := k.take(); len(writes) != 0 {
		t.Errorf("a Set of the services the Updates made wrote %v", writes)
	}
}

// TestUpdateRetriesAFailedService: as in a Set, a failed operation of an
// Update is read back and retried once; while it keeps failing its VIP is not
// ready, and the next Update of the VIP reads it back first.
func TestUpdateRetriesAFailedService(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	services := many(10)
	mustSet(t, d, services...)
	k.take()
	changed := services[3]
	changed.Destinations = slices.Clone(changed.Destinations)
	changed.Destinations[0].Weight = 5
	k.failOn = "update-dest"
	st, err := d.Update(context.Background(), []netip.Addr{changed.VIP}, []model.Service{changed})
	if err == nil || len(st.Ready) != 0 || st.Services != 9 {
		t.Errorf("a persistent failure: %+v, %v; want an error, the VIP not ready and 9 services programmed", st, err)
	}
	k.take()
	k.failOn = ""
	st, err = d.Update(context.Background(), []netip.Addr{changed.VIP}, []model.Service{changed})
	if err != nil || !slices.Equal(st.Ready, []netip.Addr{changed.VIP}) || st.Services != 10 {
		t.Errorf("after recovery: %+v %v", st, err)
	}
	writes, reads, _ := k.take()
	if !slices.Equal(writes, []string{"update-dest 6/203.0.0.4:80/fw0 10.1.0.1:80"}) ||
		!slices.Equal(reads, []string{"get-dests 6/203.0.0.4:80/fw0", "get-service 6/203.0.0.4:80/fw0"}) {
		t.Errorf("the Update after a failure: writes %v, reads %v; want the service read back, then the write", writes, reads)
	}
}

func TestUpdateBeforeSetFails(t *testing.T) {
	d, k, _ := newTest(time.Hour)
	if _, err := d.Update(context.Background(), nil, []model.Service{svc("203.0.113.10", 80)}); err == nil {
		t.Error("an Update before the first Set did not fail")
	}
	if w, r, _ := k.take(); len(w)+len(r) != 0 {
		t.Errorf("an Update before the first Set: writes %v, reads %v", w, r)
	}
}
