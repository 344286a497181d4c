package accesspoint

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// hostsIndex indexes access points by their hosts, so that finding the access
// points that may share a host with one costs what its hosts cost, not a pass
// over every access point. Each host h gives the key "=h", and "<d" for every
// domain d above it (a.b.example.com and *.b.example.com are both below
// b.example.com and example.com).
const hostsIndex = "hosts"

func hostKeys(obj any) ([]string, error) {
	fap, ok := obj.(*trafficv1alpha1.FederatedAccessPoint)
	if !ok {
		return nil, nil
	}
	keys := sets.New[string]()
	for _, h := range fap.Spec.Hosts {
		keys.Insert("=" + h)
		for _, d := range domainsAbove(h) {
			keys.Insert("<" + d)
		}
	}
	return sets.List(keys), nil
}

// domainsAbove lists the domains a host is below, nearest first: for
// a.b.example.com and *.b.example.com, b.example.com then example.com then com.
func domainsAbove(host string) []string {
	var out []string
	for _, rest, ok := strings.Cut(host, "."); ok && rest != ""; _, rest, ok = strings.Cut(rest, ".") {
		out = append(out, rest)
	}
	return out
}

// overlapKeys are the index keys under which every access point with a host
// overlapping h is found (traffic.HostsOverlap): the same host, a wildcard
// over a domain above h, and, for a wildcard *.d, every host below d.
func overlapKeys(h string) []string {
	keys := []string{"=" + h}
	for _, d := range domainsAbove(h) {
		keys = append(keys, "=*."+d)
	}
	if d, ok := strings.CutPrefix(h, "*."); ok {
		keys = append(keys, "<"+d)
	}
	return keys
}

// sharingHosts returns the other access points in the cache that have a host
// overlapping one of fap's (sharedHost), in no particular order.
func (c *Controller) sharingHosts(fap *trafficv1alpha1.FederatedAccessPoint) []*trafficv1alpha1.FederatedAccessPoint {
	seen := sets.New[string]()
	var out []*trafficv1alpha1.FederatedAccessPoint
	for _, h := range fap.Spec.Hosts {
		for _, key := range overlapKeys(h) {
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
