package accesspoint

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestSharingHostsFindsEveryOverlap: the host index finds exactly the access
// points a pass over all of them with traffic.HostsOverlap finds, for random
// exact and wildcard hosts at several depths of a few domains.
func TestSharingHostsFindsEveryOverlap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	labels := []string{"a", "b", "c", "example", "com", "net"}
	host := func() string {
		parts := make([]string, 1+rng.IntN(4))
		for i := range parts {
			parts[i] = labels[rng.IntN(len(labels))]
		}
		if rng.IntN(3) == 0 {
			parts = append([]string{"*"}, parts...)
		}
		return strings.Join(parts, ".")
	}
	for round := range 50 {
		indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{hostsIndex: hostKeys})
		c := &Controller{fapIndex: indexer}
		var all []*trafficv1alpha1.FederatedAccessPoint
		for i := range 200 {
			fap := &trafficv1alpha1.FederatedAccessPoint{ObjectMeta: metav1.ObjectMeta{Namespace: "apps",
				Name: fmt.Sprintf("ap-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i))}}
			for range 1 + rng.IntN(3) {
				fap.Spec.Hosts = append(fap.Spec.Hosts, host())
			}
			all = append(all, fap)
			if err := indexer.Add(fap); err != nil {
				t.Fatal(err)
			}
		}
		for _, fap := range all {
			var want []string
			for _, other := range all {
				if other != fap && slices.ContainsFunc(fap.Spec.Hosts, func(h string) bool {
					return slices.ContainsFunc(other.Spec.Hosts, func(o string) bool { return traffic.HostsOverlap(h, o) })
				}) {
					want = append(want, other.Name)
				}
			}
			var got []string
			for _, other := range c.sharingHosts(fap) {
				got = append(got, other.Name)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: %s %v shares hosts with %v, want %v", round, fap.Name, fap.Spec.Hosts, got, want)
			}
		}
	}
}

// countingLister counts full listings of the access point cache.
type countingLister struct {
	trafficlisters.FederatedAccessPointLister
	lists int
}

func (l *countingLister) List(selector labels.Selector) ([]*trafficv1alpha1.FederatedAccessPoint, error) {
	l.lists++
	return l.FederatedAccessPointLister.List(selector)
}

// countingIndex counts the access points index lookups return.
type countingIndex struct {
	cache.Indexer
	read int
}

func (c *countingIndex) ByIndex(name, value string) ([]any, error) {
	objs, err := c.Indexer.ByIndex(name, value)
	c.read += len(objs)
	return objs, err
}

// TestSyncReadsOnlyTheAccessPointsSharingItsHosts: among 300 access points,
// a sync looks for host conflicts among the two that share its host, not
// among all of them.
func TestSyncReadsOnlyTheAccessPointsSharingItsHosts(t *testing.T) {
	objs := []runtime.Object{memberCluster("a", true),
		newAccessPoint("first", "shop.example.test", t0, "a"),
		newAccessPoint("wildcard", "*.example.test", t0.Add(time.Minute), "a"),
		newAccessPoint("second", "shop.example.test", t0.Add(time.Hour), "a")}
	for i := range 300 {
		objs = append(objs, newAccessPoint(fmt.Sprintf("other-%d", i), fmt.Sprintf("app-%d.example.org", i), t0, "a"))
	}
	f := newFixture(t, objs...)
	f.refresh()
	lister := &countingLister{FederatedAccessPointLister: f.c.faps}
	index := &countingIndex{Indexer: f.c.fapIndex}
	f.c.faps, f.c.fapIndex = lister, index
	f.mustSync("second")
	if lister.lists != 0 {
		t.Errorf("%d listings of every access point in one sync", lister.lists)
	}
	if index.read > 4 {
		t.Errorf("%d access points read by index in one sync, want the 2 sharing its host (and itself)", index.read)
	}
	c := condition(f.accessPoint("second"), trafficv1alpha1.AccessPointPlaced)
	if c.Reason != ReasonHostConflict || !strings.Contains(c.Message, "by shop/first") {
		t.Fatalf("Placed = %+v, want the conflict with the oldest, shop/first", c)
	}
}
