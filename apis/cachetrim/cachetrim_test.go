package cachetrim

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func TestStripManagedFields(t *testing.T) {
	fap := &trafficv1alpha1.FederatedAccessPoint{ObjectMeta: metav1.ObjectMeta{Name: "a",
		Labels:        map[string]string{"k": "v"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	got, err := StripManagedFields(fap)
	if err != nil {
		t.Fatal(err)
	}
	out := got.(*trafficv1alpha1.FederatedAccessPoint)
	if out.ManagedFields != nil || out.Labels["k"] != "v" {
		t.Errorf("got managedFields %v, labels %v: want none, and the labels kept", out.ManagedFields, out.Labels)
	}
	// A tombstone, or anything without metadata, passes unchanged.
	tomb := cache.DeletedFinalStateUnknown{Key: "a"}
	if got, err := StripManagedFields(tomb); err != nil || got != tomb {
		t.Errorf("tombstone: got %v, %v", got, err)
	}
}
