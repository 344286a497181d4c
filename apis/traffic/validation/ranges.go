package validation

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"
)

// AddressRange is an inclusive range of IPv4 addresses.
type AddressRange struct {
	First, Last netip.Addr
}

// ParseAddressRange parses an IPv4 CIDR (203.0.113.0/24) or an inclusive range
// (203.0.113.10-203.0.113.20).
func ParseAddressRange(s string) (AddressRange, error) {
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, errA := netip.ParseAddr(strings.TrimSpace(first))
		b, errB := netip.ParseAddr(strings.TrimSpace(last))
		if errA != nil || errB != nil || !a.Is4() || !b.Is4() {
			return AddressRange{}, fmt.Errorf("must be an IPv4 range a.b.c.d-e.f.g.h")
		}
		if b.Less(a) {
			return AddressRange{}, fmt.Errorf("the last address must not be lower than the first")
		}
		return AddressRange{First: a, Last: b}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return AddressRange{}, fmt.Errorf("must be an IPv4 CIDR (a.b.c.d/n) or range (a.b.c.d-e.f.g.h)")
	}
	if p.Masked() != p {
		return AddressRange{}, fmt.Errorf("host bits must be zero (did you mean %s?)", p.Masked())
	}
	return AddressRange{First: p.Addr(), Last: lastAddr(p)}, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for bit := p.Bits(); bit < 32; bit++ {
		a[bit/8] |= 1 << (7 - bit%8)
	}
	return netip.AddrFrom4(a)
}

// Overlaps reports whether two ranges share an address.
func (r AddressRange) Overlaps(o AddressRange) bool {
	return !r.Last.Less(o.First) && !o.Last.Less(r.First)
}

// Contains reports whether the range holds a.
func (r AddressRange) Contains(a netip.Addr) bool {
	return !a.Less(r.First) && !r.Last.Less(a)
}

// Size is the number of addresses in the range.
func (r AddressRange) Size() int64 {
	first, last := new(big.Int).SetBytes(r.First.AsSlice()), new(big.Int).SetBytes(r.Last.AsSlice())
	return new(big.Int).Sub(last, first).Int64() + 1
}

// String prints the range as first-last.
func (r AddressRange) String() string { return r.First.String() + "-" + r.Last.String() }

var errInvalidHostPort = fmt.Errorf("must be host:port")
