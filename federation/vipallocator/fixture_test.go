package vipallocator

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// fixture is an Allocator over a fake clientset and listers fed from indexers.
// The VirtualIP indexer only changes when the test calls syncCache or addCached,
// so tests control how far the cache lags behind the API server.
type fixture struct {
	t      testing.TB
	ctx    context.Context
	client *fake.Clientset
	vips   cache.Indexer
	pools  cache.Indexer
	alloc  *Allocator
}

func newFixture(t testing.TB, pools []*trafficv1alpha1.VIPPool, groups ...*clusterv1alpha1.LoadBalancerGroup) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), client: fake.NewSimpleClientset()}
	f.pools = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	f.vips = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	groupIndexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, p := range pools {
		mustAdd(t, f.pools, p)
	}
	for _, g := range groups {
		mustAdd(t, groupIndexer, g)
	}
	alloc, err := New(f.client, trafficlisters.NewVIPPoolLister(f.pools), f.vips,
		clusterlisters.NewLoadBalancerGroupLister(groupIndexer))
	if err != nil {
		t.Fatal(err)
	}
	f.alloc = alloc
	return f
}

func mustAdd(t testing.TB, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatal(err)
	}
}

// syncCache makes the VirtualIP cache show what the API server holds, as an
// informer would once it caught up.
func (f *fixture) syncCache() {
	f.t.Helper()
	list, err := f.client.TrafficV1alpha1().VirtualIPs().List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	items := make([]any, 0, len(list.Items))
	for i := range list.Items {
		items = append(items, &list.Items[i])
	}
	if err := f.vips.Replace(items, ""); err != nil {
		f.t.Fatal(err)
	}
}

// createBehindCache creates a VirtualIP in the API server that the cache does not show.
func (f *fixture) createBehindCache(address, pool string, owner *trafficv1alpha1.FederatedAccessPoint) {
	f.t.Helper()
	vip := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address}, Spec: trafficv1alpha1.VirtualIPSpec{
		Address: address, Pool: pool,
		Owner: &trafficv1alpha1.AccessPointReference{Namespace: owner.Namespace, Name: owner.Name, UID: owner.UID},
	}}
	if _, err := f.client.TrafficV1alpha1().VirtualIPs().Create(f.ctx, vip, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// ensure calls Ensure and fails the test on an error.
func (f *fixture) ensure(fap *trafficv1alpha1.FederatedAccessPoint, backends ...trafficv1alpha1.Backend) (*trafficv1alpha1.VirtualIP, *Failure) {
	f.t.Helper()
	vip, failure, err := f.alloc.Ensure(f.ctx, fap, backends)
	if err != nil {
		f.t.Fatalf("Ensure(%s): %v", fap.Name, err)
	}
	if (vip == nil) == (failure == nil) {
		f.t.Fatalf("Ensure(%s) = %v, %v: want exactly one of a VirtualIP and a failure", fap.Name, vip, failure)
	}
	return vip, failure
}

// mustAllocate calls Ensure and returns the address, failing on a Failure.
func (f *fixture) mustAllocate(fap *trafficv1alpha1.FederatedAccessPoint, backends ...trafficv1alpha1.Backend) *trafficv1alpha1.VirtualIP {
	f.t.Helper()
	vip, failure := f.ensure(fap, backends...)
	if failure != nil {
		f.t.Fatalf("Ensure(%s): failure %+v", fap.Name, *failure)
	}
	return vip
}

// mustFail calls Ensure and checks the failure's reason.
func (f *fixture) mustFail(fap *trafficv1alpha1.FederatedAccessPoint, reason string) *Failure {
	f.t.Helper()
	vip, failure := f.ensure(fap)
	if failure == nil {
		f.t.Fatalf("Ensure(%s) allocated %s, want failure %s", fap.Name, vip.Name, reason)
	}
	if failure.Reason != reason {
		f.t.Fatalf("Ensure(%s) failed with %+v, want reason %s", fap.Name, *failure, reason)
	}
	return failure
}

// count counts the client's actions of a verb on virtualips.
func (f *fixture) count(verb string) int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == "virtualips" {
			n++
		}
	}
	return n
}

// liveAddresses lists the addresses the API server holds, by owner name.
func (f *fixture) liveAddresses() map[string]string {
	f.t.Helper()
	list, err := f.client.TrafficV1alpha1().VirtualIPs().List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, vip := range list.Items {
		out[vip.Name] = vip.Spec.Owner.Name
	}
	return out
}

func newPool(name string, avoidBuggy bool, cidrs ...string) *trafficv1alpha1.VIPPool {
	return &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: cidrs, AvoidBuggyIPs: avoidBuggy}}
}

// newFAP returns an access point as the API server returns it: defaulted, with a uid.
func newFAP(name, pool, address string) *trafficv1alpha1.FederatedAccessPoint {
	fap := &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, UID: types.UID("uid-" + name)},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts: []string{name + ".example.com"},
			LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: pool, Address: address,
				Ports: []trafficv1alpha1.Port{{Name: "https", Port: 443}}},
		},
	}
	trafficv1alpha1.SetObjectDefaults_FederatedAccessPoint(fap)
	return fap
}

func newGroup(name, zone string) *clusterv1alpha1.LoadBalancerGroup {
	return &clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: zone}}
}
