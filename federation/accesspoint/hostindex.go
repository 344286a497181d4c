package accesspoint

import (
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/portico-dev/portico/apis/traffic"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// hostsIndex indexes access points by their hosts (traffic.HostIndexKeys), so
// that finding the access points that may share a host with one costs what its
// hosts cost, not a pass over every access point.
const hostsIndex = "hosts"

func hostKeys(obj any) ([]string, error) {
	fap, ok := obj.(*trafficv1alpha1.FederatedAccessPoint)
	if !ok {
		return nil, nil
	}
	return traffic.HostIndexKeys(fap.Spec.Hosts), nil
}

// sharingHosts returns the other access points in the cache that have a host
// overlapping one of fap's (sharedHost), in no particular order.
func (c *Controller) sharingHosts(fap *trafficv1alpha1.FederatedAccessPoint) []*trafficv1alpha1.FederatedAccessPoint {
	seen := sets.New[string]()
	var out []*trafficv1alpha1.FederatedAccessPoint
	for _, h := range fap.Spec.Hosts {
		for _, key := range traffic.HostOverlapKeys(h) {
			objs, _ := c.fapIndex.ByIndex(hostsIndex, key) // NewController added the index
			for _, obj := range objs {
				other := obj.(*trafficv1alpha1.FederatedAccessPoint)
				id := other.Namespace + "/" + other.Name
				if other.UID == fap.UID || seen.Has(id) {
					continue
				}
				seen.Insert(id)
				if sharedHost(fap.Spec.Hosts, other.Spec.Hosts) != "" {
					out = append(out, other)
				}
			}
		}
	}
	return out
}
