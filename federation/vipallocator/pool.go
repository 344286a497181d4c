package vipallocator

import (
	"encoding/binary"
	"net/netip"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
)

// span is an inclusive range of IPv4 addresses held as integers, so that a pool
// is walked without building a slice of its addresses.
type span struct{ first, last uint32 }

// addresses is the allocatable address space of one VIPPool.
type addresses struct {
	spans      []span
	avoidBuggy bool
	capacity   int64
}

// poolAddresses reads a pool's ranges in the order of spec.cidrs. Entries that do
// not parse are skipped: the API server rejects them, so there are none.
func poolAddresses(pool *trafficv1alpha1.VIPPool) addresses {
	as := addresses{avoidBuggy: pool.Spec.AvoidBuggyIPs}
	for _, c := range pool.Spec.CIDRs {
		r, err := validation.ParseAddressRange(c)
		if err != nil {
			continue
		}
		s := span{first: toUint32(r.First), last: toUint32(r.Last)}
		as.spans = append(as.spans, s)
		as.capacity += s.count(as.avoidBuggy)
	}
	return as
}

// Capacity is the number of addresses of the pool that can be allocated: the
// addresses of its ranges, less those ending in .0 and .255 when avoidBuggyIPs.
func Capacity(pool *trafficv1alpha1.VIPPool) int64 { return poolAddresses(pool).capacity }

// InPool reports whether address can be allocated from the pool.
func InPool(pool *trafficv1alpha1.VIPPool, address string) bool {
	x, ok := parseIPv4(address)
	return ok && poolAddresses(pool).allocatable(x)
}

// allocatable reports whether x is one of the pool's allocatable addresses.
func (as addresses) allocatable(x uint32) bool {
	if as.avoidBuggy && buggy(x) {
		return false
	}
	for _, s := range as.spans {
		if s.first <= x && x <= s.last {
			return true
		}
	}
	return false
}

// count is the number of addresses in the span, less .0 and .255 if avoidBuggy.
func (s span) count(avoidBuggy bool) int64 {
	n := int64(s.last) - int64(s.first) + 1
	if avoidBuggy {
		n -= s.endingIn(0) + s.endingIn(255)
	}
	return n
}

// endingIn counts the addresses of the span whose last octet is b.
func (s span) endingIn(b int64) int64 {
	return floorDiv(int64(s.last)-b, 256) - floorDiv(int64(s.first)-1-b, 256)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// buggy reports addresses ending in .0 or .255, which some clients refuse.
func buggy(x uint32) bool { return x&0xff == 0 || x&0xff == 0xff }

func toUint32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func fromUint32(x uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], x)
	return netip.AddrFrom4(b)
}

// parseIPv4 returns the integer form of an IPv4 address.
func parseIPv4(s string) (uint32, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	return toUint32(a), true
}
