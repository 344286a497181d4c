package accesspoint

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestWildcardHostConflict: a wildcard claims every name below it, so a
// newer access point serving one of them loses the cluster where the older
// wildcard is placed.
func TestWildcardHostConflict(t *testing.T) {
	f := newFixture(t,
		newAccessPoint("wild", "*.example.test", t0, "a"),
		newAccessPoint("shop", "shop.example.test", t0.Add(time.Hour), "a", "b"),
		newAccessPoint("other", "shop.example.org", t0.Add(time.Hour), "a"),
		memberCluster("a", true), memberCluster("b", true))
	f.mustSync("wild")
	f.mustSync("shop")
	f.mustSync("other")
	if f.clusterAccessPoint("shop", "a") != nil || f.clusterAccessPoint("shop", "b") == nil {
		t.Fatal("shop.example.test was rendered where *.example.test is claimed, or not rendered elsewhere")
	}
	c := condition(f.accessPoint("shop"), trafficv1alpha1.AccessPointPlaced)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "a: host shop.example.test is already claimed on this cluster by shop/wild") {
		t.Fatalf("Placed = %+v", c)
	}
	if f.clusterAccessPoint("other", "a") == nil {
		t.Fatal("shop.example.org does not overlap *.example.test but was not rendered")
	}
}
