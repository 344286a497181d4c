package vipallocator

import (
	"strconv"

	"k8s.io/client-go/tools/cache"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// The allocator reads the VirtualIP cache through two indexes, so that what an
// allocation costs grows with the access point and the taken addresses below
// the one it gets, not with all VirtualIPs. Indexes are updated with the cache
// itself: they never lag behind it.
const (
	// byOwner indexes VirtualIPs by spec.owner.uid.
	byOwner = "vipallocator.owner"
	// byBlock indexes VirtualIPs by the /24 their address (their name) is in.
	byBlock = "vipallocator.block"
)

// Indexers are the indexes the allocator needs on its VirtualIP cache.
func Indexers() cache.Indexers {
	return cache.Indexers{byOwner: ownerKeys, byBlock: blockKeys}
}

func ownerKeys(obj any) ([]string, error) {
	vip, ok := obj.(*trafficv1alpha1.VirtualIP)
	if !ok || vip.Spec.Owner == nil || vip.Spec.Owner.UID == "" {
		return nil, nil
	}
	return []string{string(vip.Spec.Owner.UID)}, nil
}

func blockKeys(obj any) ([]string, error) {
	vip, ok := obj.(*trafficv1alpha1.VirtualIP)
	if !ok {
		return nil, nil
	}
	x, ok := parseIPv4(vip.Name)
	if !ok {
		return nil, nil
	}
	return []string{blockKey(x)}, nil
}

// blockKey names the /24 of x.
func blockKey(x uint32) string { return strconv.FormatUint(uint64(x>>8), 16) }

// lowestFreeLocked returns the lowest allocatable address of as, in the order
// of its ranges, that neither the cache nor a claim holds. It reads the cache
// one /24 at a time and passes over a whole /24 the cache shows full by
// counting its VirtualIPs (and, in a pool that avoids .0 and .255, looking for
// those two names among them), without parsing their addresses. a.mu must be
// held.
func (a *Allocator) lowestFreeLocked(as addresses) (uint32, bool, error) {
	for _, s := range as.spans {
		for lo := uint64(s.first); lo <= uint64(s.last); {
			hi := min(lo|0xff, uint64(s.last))
			x, ok, err := a.freeInLocked(as.avoidBuggy, uint32(lo), uint32(hi))
			if err != nil || ok {
				return x, ok, err
			}
			lo = hi + 1
		}
	}
	return 0, false, nil
}

// freeInLocked returns the lowest allocatable address of lo..hi, which lie in
// one /24 and in one range of the pool, that neither the cache nor a claim
// holds. a.mu must be held.
func (a *Allocator) freeInLocked(avoidBuggy bool, lo, hi uint32) (uint32, bool, error) {
	// ByIndex, unlike IndexKeys, does not sort.
	vips, err := a.index.ByIndex(byBlock, blockKey(lo))
	if err != nil {
		return 0, false, err
	}
	if lo&0xff == 0 && hi&0xff == 0xff {
		// A whole /24: full when its VirtualIPs at allocatable addresses
		// are as many as its allocatable addresses. (Counted from this
		// one read: the cache may change meanwhile.)
		allocatable, held := 256, len(vips)
		if avoidBuggy {
			allocatable -= 2
			first, last := fromUint32(lo).String(), fromUint32(hi).String()
			for _, obj := range vips {
				if name := obj.(*trafficv1alpha1.VirtualIP).Name; name == first || name == last {
					held--
				}
			}
		}
		if held >= allocatable {
			return 0, false, nil
		}
	}
	var taken [256]bool
	for _, obj := range vips {
		if x, ok := parseIPv4(obj.(*trafficv1alpha1.VirtualIP).Name); ok {
			taken[x&0xff] = true
		}
	}
	for x := lo; ; x++ {
		if _, claimed := a.claims[x]; !claimed && !taken[x&0xff] && !(avoidBuggy && buggy(x)) {
			return x, true, nil
		}
		if x == hi {
			return 0, false, nil
		}
	}
}
