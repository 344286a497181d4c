package accesspoint

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/resourceversion"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
)

// capWrites remembers, by access point key, the ClusterAccessPoints this
// controller wrote last (created or updated) as the API server returned them,
// until the cache shows those versions or later ones. A sync woken while the
// cache holds some of them and not yet the others (its own write events, a
// revision's) then sees them all: it neither rewrites a cluster from an old
// spec (a conflict, and a cluster reported Failed meanwhile) nor recreates one.
type capWrites struct {
	mu sync.Mutex
	m  map[string]map[string]capWrite // access point key -> cluster -> write
}

type capWrite struct {
	cap *trafficv1alpha1.ClusterAccessPoint
	at  time.Time
}

// capWriteTTL bounds how long a write the cache does not show counts (one
// deleted before the cache saw it, by someone else, is then forgotten).
const capWriteTTL = 30 * time.Second

// wrote remembers cap, as a write returned it (the caller's to keep: its
// managedFields are dropped, as the cache drops them).
func (w *capWrites) wrote(key, cluster string, cap *trafficv1alpha1.ClusterAccessPoint, now time.Time) {
	cap.ManagedFields = nil
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]map[string]capWrite{}
	}
	if w.m[key] == nil {
		w.m[key] = map[string]capWrite{}
	}
	w.m[key][cluster] = capWrite{cap: cap, at: now}
}

// forget drops the writes of a ClusterAccessPoint that is gone, or of every
// ClusterAccessPoint of an access point (cluster "").
func (w *capWrites) forget(key, cluster string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cluster == "" {
		delete(w.m, key)
		return
	}
	delete(w.m[key], cluster)
	if len(w.m[key]) == 0 {
		delete(w.m, key)
	}
}

// overlay puts the remembered writes the cache does not show yet into cached
// (by cluster), and forgets those it shows or that are too old.
func (w *capWrites) overlay(key string, cached map[string]*trafficv1alpha1.ClusterAccessPoint, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for cluster, wr := range w.m[key] {
		c := cached[cluster]
		switch {
		case now.Sub(wr.at) > capWriteTTL || c != nil && c.UID != wr.cap.UID && c.UID != "":
			delete(w.m[key], cluster)
		case c != nil && atLeast(c.ResourceVersion, wr.cap.ResourceVersion):
			delete(w.m[key], cluster)
		default:
			cached[cluster] = wr.cap
		}
	}
	if len(w.m[key]) == 0 {
		delete(w.m, key)
	}
}

// atLeast tells whether resourceVersion a is b or a later one; versions that
// do not compare as numbers are compared for equality.
func atLeast(a, b string) bool {
	if cmp, err := resourceversion.CompareResourceVersion(a, b); err == nil {
		return cmp >= 0
	}
	return a == b
}

// rendered returns the access point's ClusterAccessPoints by cluster: the
// cache's, with this controller's own writes the cache does not show yet.
func (c *Controller) rendered(fap *trafficv1alpha1.FederatedAccessPoint) map[string]*trafficv1alpha1.ClusterAccessPoint {
	out := apstatus.ClusterAccessPoints(c.caps, fap)
	c.capWrites.overlay(fap.Namespace+"/"+fap.Name, out, c.now())
	return out
}

// forgetCAP drops the remembered write of a ClusterAccessPoint that is gone
// (an informer's delete).
func (c *Controller) forgetCAP(obj any) {
	cap, ok := unwrap(obj).(*trafficv1alpha1.ClusterAccessPoint)
	if !ok {
		return
	}
	if cluster, ok := clusterv1alpha1.ClusterOfNamespace(cap.Namespace); ok && cap.Spec.AccessPointRef.Name != "" {
		c.capWrites.forget(cap.Spec.AccessPointRef.Namespace+"/"+cap.Spec.AccessPointRef.Name, cluster)
	}
}
