package vipallocator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func TestAllocatesDistinctLowestAddresses(t *testing.T) {
	// Ranges are used in the order of spec.cidrs, not in address order.
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "198.51.100.10-198.51.100.11", "192.0.2.0/30")})
	want := []string{"198.51.100.10", "198.51.100.11", "192.0.2.0", "192.0.2.1"}
	for i, address := range want {
		fap := newFAP(fmt.Sprintf("app-%d", i), "edge", "")
		vip := f.mustAllocate(fap)
		if vip.Name != address || vip.Spec.Address != address {
			t.Fatalf("%s got %s (spec.address %s), want %s", fap.Name, vip.Name, vip.Spec.Address, address)
		}
		owner := vip.Spec.Owner
		if vip.Spec.Pool != "edge" || owner == nil || owner.UID != fap.UID || owner.Namespace != "apps" || owner.Name != fap.Name {
			t.Fatalf("VirtualIP %s: pool %q owner %+v", vip.Name, vip.Spec.Pool, owner)
		}
		if vip.Spec.Scheduler != trafficv1alpha1.SchedulerMaglev || vip.Spec.Forwarding != trafficv1alpha1.ForwardingTunnel {
			t.Fatalf("VirtualIP %s: scheduler %q forwarding %q", vip.Name, vip.Spec.Scheduler, vip.Spec.Forwarding)
		}
	}
	if got := f.count("create"); got != len(want) {
		t.Fatalf("%d creates, want %d", got, len(want))
	}
}

func TestCacheLagDoesNotDuplicate(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fap := newFAP("web", "edge", "")
	first := f.mustAllocate(fap)
	// The cache has not seen the VirtualIP yet: the live list finds it.
	again := f.mustAllocate(fap)
	if again.Name != first.Name || f.count("create") != 1 {
		t.Fatalf("second Ensure got %s after %s with %d creates; want the same VirtualIP, one create", again.Name, first.Name, f.count("create"))
	}
	if f.alloc.Owned(fap) != nil {
		t.Fatalf("Owned reads the cache, which has not seen the VirtualIP yet")
	}
	f.syncCache()
	if owned := f.alloc.Owned(fap); owned == nil || owned.Name != first.Name {
		t.Fatalf("Owned = %v, want %s", owned, first.Name)
	}
	lists := f.count("list")
	f.mustAllocate(fap)
	if f.count("list") != lists {
		t.Fatalf("with the VirtualIP in the cache, Ensure should not list the API server")
	}
}

func TestRecreatedAccessPointIsNotTheOwner(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	old := newFAP("web", "edge", "")
	f.mustAllocate(old)
	f.syncCache()
	recreated := newFAP("web", "edge", "")
	recreated.UID = types.UID("uid-web-2")
	if vip := f.mustAllocate(recreated); vip.Name != "192.0.2.1" {
		t.Fatalf("recreated access point got %s, want 192.0.2.1 (192.0.2.0 is still the old one's)", vip.Name)
	}
	if f.alloc.Owned(recreated) != nil {
		t.Fatalf("the cache has not seen the new VirtualIP")
	}
}

func TestExplicitAddress(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", true, "192.0.2.0/24"), newPool("other", false, "198.51.100.0/24")})
	holder := f.mustAllocate(newFAP("holder", "edge", "192.0.2.20"))
	if holder.Name != "192.0.2.20" {
		t.Fatalf("explicit request got %s", holder.Name)
	}
	f.syncCache()

	failure := f.mustFail(newFAP("thief", "edge", "192.0.2.20"), ReasonAddressTaken)
	if !strings.Contains(failure.Message, "apps/holder") {
		t.Fatalf("AddressTaken message %q does not name apps/holder", failure.Message)
	}
	f.mustFail(newFAP("outside", "edge", "198.51.100.7"), ReasonAddressNotInPool)
	f.mustFail(newFAP("garbage", "edge", "not-an-address"), ReasonAddressNotInPool)
	if failure := f.mustFail(newFAP("buggy", "edge", "192.0.2.255"), ReasonAddressNotInPool); !strings.Contains(failure.Message, "avoidBuggyIPs") {
		t.Fatalf("message %q should explain avoidBuggyIPs", failure.Message)
	}

	// Taken behind the cache's back: the API server's AlreadyExists names the holder.
	f.createBehindCache("192.0.2.30", "edge", newFAP("sneaky", "edge", ""))
	if failure := f.mustFail(newFAP("late", "edge", "192.0.2.30"), ReasonAddressTaken); !strings.Contains(failure.Message, "apps/sneaky") {
		t.Fatalf("AddressTaken message %q does not name apps/sneaky", failure.Message)
	}
	// Automatic allocation skips explicit holdings.
	if vip := f.mustAllocate(newFAP("auto", "edge", "")); vip.Name != "192.0.2.1" {
		t.Fatalf("automatic allocation got %s, want 192.0.2.1", vip.Name)
	}
}

func TestAvoidBuggyIPs(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", true, "10.0.0.254-10.0.1.1")})
	for i, want := range []string{"10.0.0.254", "10.0.1.1"} {
		if vip := f.mustAllocate(newFAP(fmt.Sprintf("app-%d", i), "edge", "")); vip.Name != want {
			t.Fatalf("got %s, want %s", vip.Name, want)
		}
	}
	f.mustFail(newFAP("app-2", "edge", ""), ReasonExhausted)
}

func TestCapacity(t *testing.T) {
	for _, tc := range []struct {
		cidrs      []string
		avoidBuggy bool
		want       int64
	}{
		{[]string{"192.0.2.0/24"}, false, 256},
		{[]string{"192.0.2.0/24"}, true, 254},
		{[]string{"10.0.0.0/16"}, true, 65536 - 512},
		{[]string{"10.0.0.255-10.0.1.0"}, true, 0},
		{[]string{"10.0.0.250-10.0.1.5"}, true, 5 + 5},
		{[]string{"10.0.0.0/32", "10.0.0.7/32"}, true, 1},
		{[]string{"255.255.255.0/24"}, false, 256},
		{[]string{"0.0.0.0/0"}, false, 1 << 32},
	} {
		pool := newPool("p", tc.avoidBuggy, tc.cidrs...)
		if got := Capacity(pool); got != tc.want {
			t.Errorf("Capacity(%v, avoidBuggyIPs=%v) = %d, want %d", tc.cidrs, tc.avoidBuggy, got, tc.want)
		}
	}
	pool := newPool("p", true, "10.0.0.0/24")
	for address, want := range map[string]bool{"10.0.0.1": true, "10.0.0.0": false, "10.0.0.255": false, "10.0.1.1": false, "::1": false} {
		if got := InPool(pool, address); got != want {
			t.Errorf("InPool(%s) = %v, want %v", address, got, want)
		}
	}
}

func TestExhaustionThenRelease(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("small", false, "192.0.2.0/30")})
	faps := make([]*trafficv1alpha1.FederatedAccessPoint, 4)
	for i := range faps {
		faps[i] = newFAP(fmt.Sprintf("app-%d", i), "small", "")
		f.mustAllocate(faps[i])
	}
	waiting := newFAP("waiting", "small", "")
	f.mustFail(waiting, ReasonExhausted)
	f.syncCache()
	f.mustFail(waiting, ReasonExhausted)

	if err := f.alloc.Release(f.ctx, faps[2]); err != nil {
		t.Fatal(err)
	}
	if _, held := f.liveAddresses()["192.0.2.2"]; held {
		t.Fatalf("Release left 192.0.2.2 in the API server")
	}
	// Until the cache sees the deletion the address is still counted as taken.
	f.mustFail(waiting, ReasonExhausted)
	f.syncCache()
	if vip := f.mustAllocate(waiting); vip.Name != "192.0.2.2" {
		t.Fatalf("after the release got %s, want 192.0.2.2", vip.Name)
	}
	// Releasing an access point without a VirtualIP is fine.
	if err := f.alloc.Release(f.ctx, faps[2]); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseOnlyOwnVirtualIPs(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	a, b := newFAP("a", "edge", ""), newFAP("b", "edge", "")
	f.mustAllocate(a)
	f.mustAllocate(b)
	// A second VirtualIP of a, created a moment ago, that the cache does not show.
	f.createBehindCache("192.0.2.5", "edge", a)
	if err := f.alloc.Release(f.ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := f.liveAddresses(); len(got) != 1 || got["192.0.2.1"] != "b" {
		t.Fatalf("after releasing a the API server holds %v, want only b's 192.0.2.1", got)
	}
}

func TestAlreadyExistsMovesToNextAddress(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	f.createBehindCache("192.0.2.0", "edge", newFAP("elsewhere", "edge", ""))
	f.createBehindCache("192.0.2.1", "edge", newFAP("elsewhere-2", "edge", ""))
	creates := f.count("create")
	if vip := f.mustAllocate(newFAP("web", "edge", "")); vip.Name != "192.0.2.2" {
		t.Fatalf("got %s, want 192.0.2.2", vip.Name)
	}
	if got := f.count("create") - creates; got != 3 {
		t.Fatalf("%d creates, want 3 (two AlreadyExists)", got)
	}
	// The addresses refused are remembered: the next allocation does not retry them.
	creates = f.count("create")
	if vip := f.mustAllocate(newFAP("api", "edge", "")); vip.Name != "192.0.2.3" {
		t.Fatalf("got %s, want 192.0.2.3", vip.Name)
	}
	if got := f.count("create") - creates; got != 1 {
		t.Fatalf("%d creates, want 1", got)
	}
}

func TestAlreadyExistsAttemptsAreBounded(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "10.0.0.0/16")})
	f.client.PrependReactor("create", "virtualips", func(action k8stesting.Action) (bool, runtime.Object, error) {
		name := action.(k8stesting.CreateAction).GetObject().(*trafficv1alpha1.VirtualIP).Name
		return true, nil, apierrors.NewAlreadyExists(trafficv1alpha1.Resource("virtualips"), name)
	})
	vip, failure, err := f.alloc.Ensure(f.ctx, newFAP("web", "edge", ""), nil)
	if err == nil || vip != nil || failure != nil {
		t.Fatalf("Ensure = %v, %v, %v; want an error after bounded attempts", vip, failure, err)
	}
	if got := f.count("create"); got != maxAttempts {
		t.Fatalf("%d creates, want %d", got, maxAttempts)
	}
}

func TestCreateErrorReleasesClaim(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fail := true
	f.client.PrependReactor("create", "virtualips", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fail {
			return true, nil, apierrors.NewServiceUnavailable("etcd is away")
		}
		return false, nil, nil
	})
	if _, _, err := f.alloc.Ensure(f.ctx, newFAP("web", "edge", ""), nil); err == nil {
		t.Fatalf("Ensure should report the create error")
	}
	fail = false
	if vip := f.mustAllocate(newFAP("web", "edge", "")); vip.Name != "192.0.2.0" {
		t.Fatalf("after a failed create got %s, want 192.0.2.0 again", vip.Name)
	}
}

func TestPoolNotFound(t *testing.T) {
	f := newFixture(t, nil)
	failure := f.mustFail(newFAP("web", "missing", ""), ReasonPoolNotFound)
	if !strings.Contains(failure.Message, "missing") {
		t.Fatalf("message %q does not name the pool", failure.Message)
	}
}

func TestPoolOrAddressChangeReallocates(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("a", false, "192.0.2.0/29"), newPool("b", false, "198.51.100.0/29")})
	fap := newFAP("web", "a", "")
	f.mustAllocate(fap)
	f.syncCache()

	moved := fap.DeepCopy()
	moved.Spec.LoadBalancer.Pool = "b"
	if vip := f.mustAllocate(moved); vip.Name != "198.51.100.0" || vip.Spec.Pool != "b" {
		t.Fatalf("after the pool change got %s of %s", vip.Name, vip.Spec.Pool)
	}
	if got := f.liveAddresses(); len(got) != 1 {
		t.Fatalf("the old VirtualIP was not released: %v", got)
	}
	f.syncCache()

	pinned := moved.DeepCopy()
	pinned.Spec.LoadBalancer.Address = "198.51.100.5"
	if vip := f.mustAllocate(pinned); vip.Name != "198.51.100.5" {
		t.Fatalf("after the address request got %s", vip.Name)
	}
	if got := f.liveAddresses(); len(got) != 1 || got["198.51.100.5"] != "web" {
		t.Fatalf("the API server holds %v, want only 198.51.100.5", got)
	}
	f.syncCache()

	// Dropping the explicit request keeps the address.
	if vip := f.mustAllocate(moved); vip.Name != "198.51.100.5" {
		t.Fatalf("dropping the request moved the VIP to %s", vip.Name)
	}

	// No load balancer any more: its VirtualIP goes.
	none := moved.DeepCopy()
	none.Spec.LoadBalancer = nil
	if vip, failure, err := f.alloc.Ensure(f.ctx, none, nil); vip != nil || failure != nil || err != nil {
		t.Fatalf("Ensure without loadBalancer = %v, %v, %v", vip, failure, err)
	}
	if got := f.liveAddresses(); len(got) != 0 {
		t.Fatalf("the API server still holds %v", got)
	}
}

func TestSpecKeptInSync(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fap := newFAP("web", "edge", "")
	fap.Spec.LoadBalancer.HealthCheck.Type = trafficv1alpha1.HealthCheckHTTP
	fap.Spec.LoadBalancer.HealthCheck.Path = "/healthz"
	fap.Spec.LoadBalancer.CrossZone.RemoteZones = []string{"zone-b"}
	backends := []trafficv1alpha1.Backend{
		{Address: "10.1.0.9", Cluster: "b", Zone: "zone-b"},
		{Address: "10.1.0.10", Cluster: "a", Zone: "zone-a"},
	}
	vip := f.mustAllocate(fap, backends...)
	if got := vip.Spec.Backends; len(got) != 2 || got[0].Address != "10.1.0.10" || got[1].Address != "10.1.0.9" || got[1].Cluster != "b" {
		t.Fatalf("backends %+v, want sorted by address with cluster and zone", got)
	}
	if backends[0].Address != "10.1.0.9" {
		t.Fatalf("Ensure reordered the caller's backends")
	}
	hc, cz := vip.Spec.HealthCheck, vip.Spec.CrossZone
	if hc == nil || hc.Type != "http" || hc.Path != "/healthz" || cz == nil || *cz.LocalWeight != 99 || *cz.RemoteWeight != 1 || len(cz.RemoteZones) != 1 {
		t.Fatalf("health check %+v, cross zone %+v", hc, cz)
	}
	if len(vip.Spec.Ports) != 1 || vip.Spec.Ports[0].Port != 443 || vip.Spec.Ports[0].Protocol != trafficv1alpha1.ProtocolTCP {
		t.Fatalf("ports %+v", vip.Spec.Ports)
	}
	f.syncCache()

	// Unchanged (backends in another order): no write.
	f.mustAllocate(fap, backends[1], backends[0])
	if got := f.count("update"); got != 0 {
		t.Fatalf("%d updates of an unchanged VirtualIP", got)
	}

	changed := fap.DeepCopy()
	changed.Spec.LoadBalancer.Ports = append(changed.Spec.LoadBalancer.Ports, trafficv1alpha1.Port{Name: "dns", Port: 53, Protocol: "UDP"})
	vip = f.mustAllocate(changed, backends...)
	if len(vip.Spec.Ports) != 2 || f.count("update") != 1 {
		t.Fatalf("ports %+v after %d updates", vip.Spec.Ports, f.count("update"))
	}
	f.syncCache()

	vip = f.mustAllocate(changed, backends[0])
	if len(vip.Spec.Backends) != 1 || f.count("update") != 2 {
		t.Fatalf("backends %+v after %d updates", vip.Spec.Backends, f.count("update"))
	}
	f.syncCache()

	vip = f.mustAllocate(changed)
	if len(vip.Spec.Backends) != 0 || f.count("update") != 3 {
		t.Fatalf("backends %+v after %d updates", vip.Spec.Backends, f.count("update"))
	}
	f.syncCache()
	f.mustAllocate(changed)
	if f.count("update") != 3 {
		t.Fatalf("an unchanged VirtualIP without backends was rewritten")
	}
	live, err := f.client.TrafficV1alpha1().VirtualIPs().Get(f.ctx, vip.Name, metav1.GetOptions{})
	if err != nil || len(live.Spec.Ports) != 2 || live.Spec.Address != vip.Name {
		t.Fatalf("live VirtualIP %+v, %v", live, err)
	}
}

func TestGroupsFromZones(t *testing.T) {
	pool := newPool("edge", false, "192.0.2.0/29")
	pool.Spec.Zones = []string{"zone-b", "zone-a"}
	f := newFixture(t, []*trafficv1alpha1.VIPPool{pool},
		newGroup("lbg-z", "zone-a"), newGroup("lbg-a", "zone-b"), newGroup("lbg-c", "zone-c"), newGroup("lbg-m", "zone-a"))
	vip := f.mustAllocate(newFAP("web", "edge", ""))
	if got := strings.Join(vip.Spec.Groups, ","); got != "lbg-a,lbg-m,lbg-z" {
		t.Fatalf("groups %s, want lbg-a,lbg-m,lbg-z", got)
	}
}

func TestConcurrentEnsure(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", true, "10.1.0.1-10.1.0.200")})
	const n = 200
	addresses := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vip, failure, err := f.alloc.Ensure(f.ctx, newFAP(fmt.Sprintf("app-%d", i), "edge", ""), nil)
			switch {
			case err != nil:
				errs[i] = err
			case failure != nil:
				errs[i] = fmt.Errorf("failure %+v", *failure)
			default:
				addresses[i] = vip.Name
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, address := range addresses {
		if errs[i] != nil {
			t.Fatalf("app-%d: %v", i, errs[i])
		}
		if seen[address] {
			t.Fatalf("%s allocated twice", address)
		}
		if !InPool(newPool("edge", true, "10.1.0.1-10.1.0.200"), address) {
			t.Fatalf("%s is not in the pool", address)
		}
		seen[address] = true
	}
	if got := len(f.liveAddresses()); got != n {
		t.Fatalf("the API server holds %d VirtualIPs, want %d", got, n)
	}
	if got := f.count("create"); got != n {
		t.Fatalf("%d creates for %d allocations: concurrent workers collided", got, n)
	}
	// With the cache behind and after it caught up, the 201st finds the pool exhausted.
	f.mustFail(newFAP("app-200", "edge", ""), ReasonExhausted)
	f.syncCache()
	f.mustFail(newFAP("app-200", "edge", ""), ReasonExhausted)
}

func TestConcurrentEnsureWithConflictingAllocators(t *testing.T) {
	// Two allocators (as two hub processes) over one API server and caches that
	// never catch up: AlreadyExists alone keeps the addresses distinct.
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "10.1.0.0/27")})
	other, err := New(f.client, f.alloc.pools, f.vips, f.alloc.groups)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alloc := f.alloc
			if i%2 == 1 {
				alloc = other
			}
			var err error
			for range 3 { // a worker retries an error from the queue
				var failure *Failure
				if _, failure, err = alloc.Ensure(f.ctx, newFAP(fmt.Sprintf("app-%d", i), "edge", ""), nil); failure != nil {
					err = fmt.Errorf("app-%d: %+v", i, *failure)
				}
				if err == nil {
					return
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	owners := f.liveAddresses()
	if len(owners) != 32 {
		t.Fatalf("%d VirtualIPs for 32 access points", len(owners))
	}
	byOwner := map[string]bool{}
	for _, owner := range owners {
		if byOwner[owner] {
			t.Fatalf("%s holds two addresses", owner)
		}
		byOwner[owner] = true
	}
}

func TestRefusedAddressesAreForgottenAfterTTL(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.alloc.now = func() time.Time { return now }
	f.createBehindCache("192.0.2.0", "edge", newFAP("elsewhere", "edge", ""))
	if vip := f.mustAllocate(newFAP("web", "edge", "")); vip.Name != "192.0.2.1" {
		t.Fatalf("got %s, want 192.0.2.1", vip.Name)
	}
	// 192.0.2.0 is deleted before the cache ever saw it.
	if err := f.client.TrafficV1alpha1().VirtualIPs().Delete(f.ctx, "192.0.2.0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.syncCache()
	if vip := f.mustAllocate(newFAP("api", "edge", "")); vip.Name != "192.0.2.2" {
		t.Fatalf("got %s, want 192.0.2.2 while 192.0.2.0 is remembered as taken", vip.Name)
	}
	now = now.Add(claimTTL + time.Second)
	if vip := f.mustAllocate(newFAP("db", "edge", "")); vip.Name != "192.0.2.0" {
		t.Fatalf("got %s, want 192.0.2.0 once the refusal is forgotten", vip.Name)
	}
}

// countingIndexer counts the reads of the VirtualIP cache that return many
// objects: listings and index lookups.
type countingIndexer struct {
	cache.Indexer
	lists atomic.Int64 // all of the below
	full  atomic.Int64 // List alone
}

// countReads makes the allocator read its VirtualIP cache through a
// countingIndexer, which it returns.
func (f *fixture) countReads() *countingIndexer {
	counting := &countingIndexer{Indexer: f.alloc.index}
	f.alloc.vips, f.alloc.index = trafficlisters.NewVirtualIPLister(counting), counting
	return counting
}

func (c *countingIndexer) List() []any {
	c.lists.Add(1)
	c.full.Add(1)
	return c.Indexer.List()
}

func (c *countingIndexer) ByIndex(name, value string) ([]any, error) {
	c.lists.Add(1)
	return c.Indexer.ByIndex(name, value)
}

func (c *countingIndexer) IndexKeys(name, value string) ([]string, error) {
	c.lists.Add(1)
	return c.Indexer.IndexKeys(name, value)
}

func TestAllocatedAccessPointIsFoundWithoutListing(t *testing.T) {
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fap := newFAP("web", "edge", "")
	vip := f.mustAllocate(fap)
	f.syncCache()
	counting := f.countReads()
	fap.Status.VIP = &trafficv1alpha1.VIPStatus{Address: vip.Name, Pool: "edge"}
	if got := f.mustAllocate(fap); got.Name != vip.Name {
		t.Fatalf("got %s, want %s", got.Name, vip.Name)
	}
	if owned := f.alloc.Owned(fap); owned == nil || owned.Name != vip.Name {
		t.Fatalf("Owned = %v", owned)
	}
	if n := counting.lists.Load(); n != 0 {
		t.Fatalf("%d listings of the cache for an access point whose status names its VIP", n)
	}
	// A status naming someone else's address is not trusted.
	other := newFAP("other", "edge", "")
	other.Status.VIP = &trafficv1alpha1.VIPStatus{Address: vip.Name}
	if got := f.mustAllocate(other); got.Name == vip.Name {
		t.Fatalf("other took %s from its status", got.Name)
	}
}

func TestNewAccessPointAllocatesWithoutListing(t *testing.T) {
	// An access point created after the allocator started can only hold a
	// VirtualIP this allocator created: none is listed from the API server,
	// and one the cache does not show yet is read back by name.
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fap := newFAP("web", "edge", "")
	fap.CreationTimestamp = metav1.NewTime(f.alloc.started.Add(time.Second))
	first := f.mustAllocate(fap)
	// The cache still lags: the same VirtualIP, read by name.
	again := f.mustAllocate(fap)
	if again.Name != first.Name {
		t.Fatalf("second Ensure with a lagging cache got %s, want %s", again.Name, first.Name)
	}
	if creates, lists, gets := f.count("create"), f.count("list"), f.count("get"); creates != 1 || lists != 0 || gets != 1 {
		t.Fatalf("%d creates, %d lists, %d gets: want 1, 0 and 1", creates, lists, gets)
	}
	// Once the cache shows it, no request at all.
	f.syncCache()
	before := len(f.client.Actions())
	if vip := f.mustAllocate(fap); vip.Name != first.Name {
		t.Fatalf("got %s, want %s", vip.Name, first.Name)
	}
	for _, a := range f.client.Actions()[before:] {
		if a.GetVerb() != "update" { // the spec is written only when it differs
			t.Errorf("unexpected %s of %s once the cache caught up", a.GetVerb(), a.GetResource().Resource)
		}
	}
	// An older access point (a previous leader may have given it one) is
	// still looked up with a list.
	old, lists := newFAP("old", "edge", ""), f.count("list") // syncCache listed
	f.mustAllocate(old)
	if lists := f.count("list") - lists; lists != 1 {
		t.Fatalf("%d lists for an access point older than the allocator, want 1", lists)
	}
}

func TestCreateTimeoutKeepsTheAddressForItsAccessPoint(t *testing.T) {
	// A create that failed but landed (a timeout) is read back, not
	// allocated twice.
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("edge", false, "192.0.2.0/29")})
	fap := newFAP("web", "edge", "")
	fap.CreationTimestamp = metav1.NewTime(f.alloc.started.Add(time.Second))
	f.client.PrependReactor("create", "virtualips", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		if err := f.client.Tracker().Create(a.GetResource(), obj, ""); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewTimeoutError("the request timed out", 1)
	})
	if _, _, err := f.alloc.Ensure(f.ctx, fap, nil); err == nil {
		t.Fatal("Ensure should report the timeout")
	}
	vip := f.mustAllocate(fap)
	if vip.Name != "192.0.2.0" || len(f.liveAddresses()) != 1 {
		t.Fatalf("got %s with %v held: want 192.0.2.0 alone", vip.Name, f.liveAddresses())
	}
}

// naiveLowestFree is the allocator's rule written plainly: the lowest
// allocatable address, in the order of the ranges, held by neither a cached
// VirtualIP nor a claim.
func naiveLowestFree(as addresses, held map[uint32]bool) (uint32, bool) {
	for _, s := range as.spans {
		for x := uint64(s.first); x <= uint64(s.last); x++ {
			if !(as.avoidBuggy && buggy(uint32(x))) && !held[uint32(x)] {
				return uint32(x), true
			}
		}
	}
	return 0, false
}

func TestLowestFreeMatchesTheRuleAcrossBlocks(t *testing.T) {
	// Ranges that start and end inside /24s and span whole ones, with
	// VirtualIPs at .0 and .255, outside the pool in the same /24s, and claims.
	pools := []*trafficv1alpha1.VIPPool{
		newPool("a", true, "10.0.0.0/22"),
		newPool("b", false, "10.0.0.0/22"),
		newPool("c", true, "10.0.0.250-10.0.2.5", "10.0.5.0/24"),
		newPool("d", false, "10.0.1.128/25", "10.0.0.0-10.0.1.3"),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 400 {
		pool := pools[round%len(pools)]
		f := newFixture(t, []*trafficv1alpha1.VIPPool{pool})
		as := poolAddresses(pool)
		held, claimed := map[uint32]bool{}, map[uint32]bool{}
		// Each /24 of 10.0.0.0-10.0.5.255 is full of VirtualIPs but for
		// 0-2 gaps (and maybe .0 or .255), dense with claims among its
		// VirtualIPs, or sparse: the first free address is sometimes deep
		// in, sometimes a single hole in a /24 that looks full.
		for block := range uint32(6) {
			base := 0x0a000000 + block<<8
			switch mode := rng.IntN(10); {
			case mode < 6:
				for i := range uint32(256) {
					held[base+i] = true
				}
				for range rng.IntN(3) {
					delete(held, base+uint32(rng.IntN(256)))
				}
				if rng.IntN(2) == 0 {
					delete(held, base)
				}
				if rng.IntN(2) == 0 {
					delete(held, base+255)
				}
			case mode < 9:
				for i := range uint32(256) {
					if rng.IntN(100) < 99 {
						held[base+i] = true
						claimed[base+i] = rng.IntN(10) == 0
					}
				}
			default:
				for range rng.IntN(50) {
					held[base+uint32(rng.IntN(256))] = true
				}
			}
		}
		for x := range held {
			if claimed[x] {
				f.alloc.claims[x] = claim{at: f.alloc.now()}
				continue
			}
			address := fromUint32(x).String()
			mustAdd(t, f.vips, &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address},
				Spec: trafficv1alpha1.VirtualIPSpec{Address: address, Pool: pool.Name}})
		}
		want, wantOK := naiveLowestFree(as, held)
		got, ok, err := f.alloc.lowestFreeLocked(as)
		if err != nil || ok != wantOK || got != want {
			t.Fatalf("round %d, pool %s %v, %d held: lowestFree = %s, %v, %v; want %s, %v",
				round, pool.Name, pool.Spec.CIDRs, len(held), fromUint32(got), ok, err, fromUint32(want), wantOK)
		}
	}
}

func TestAllocationDoesNotListTheCache(t *testing.T) {
	// 2000 addresses held: a new access point's allocation reads its own
	// VirtualIPs and the /24s below its address by index, never all of them.
	f := newFixture(t, []*trafficv1alpha1.VIPPool{newPool("big", true, "10.0.0.0/16")})
	for i := range 2000 {
		address := fromUint32(0x0a000001 + uint32(i)).String()
		mustAdd(t, f.vips, &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address},
			Spec: trafficv1alpha1.VirtualIPSpec{Address: address, Pool: "big"}})
	}
	counting := f.countReads()
	vip := f.mustAllocate(newFAP("web", "big", ""))
	// 10.0.0.1-10.0.7.208 are held.
	if vip.Name != "10.0.7.209" {
		t.Errorf("allocated %s, want 10.0.7.209", vip.Name)
	}
	if n := counting.full.Load(); n != 0 {
		t.Errorf("%d full listings of the cache", n)
	}
	// One lookup of the owner's VirtualIPs, one per /24 up to the address.
	if n := counting.lists.Load(); n > 1+8 {
		t.Errorf("%d index reads for an address in the 8th /24", n)
	}
}
