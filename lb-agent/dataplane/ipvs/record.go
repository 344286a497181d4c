package ipvs

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/portico-dev/portico/lb-agent/model"
)

// record is what the kernel holds for the dataplane, as last read back or
// programmed. Its maps are keyed by numbers (IPv4 addresses, and service keys
// packed in 64 bits), which hash several times faster than netip.Addr or
// model.Key: a Set looks every desired service up.
type record struct {
	bound map[uint32]bool
	// services on VIPs bound or desired.
	services map[recKey]*service
	// stale services are read back before they are changed again: an
	// operation on them failed, what the kernel holds is not known.
	stale map[recKey]bool
	// byVIP lists, for each VIP, the keys of its services and stale ones:
	// an Update looks at the VIPs it changes only.
	byVIP map[uint32][]recKey
}

func newRecord() *record {
	return &record{bound: map[uint32]bool{}, services: map[recKey]*service{}, stale: map[recKey]bool{},
		byVIP: map[uint32][]recKey{}}
}

// v4 is an IPv4 address as a number. The model serves IPv4 only, and the
// dataplane reads IPv4 services and /32 addresses only: another address is
// never looked up (it would be 0).
func v4(a netip.Addr) uint32 {
	if a = a.Unmap(); !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// recKey is a service key: VIP, port and protocol in 64 bits.
type recKey uint64

func keyFor(k model.Key) recKey {
	proto := uint64(0)
	if k.Protocol == model.UDP {
		proto = 1
	}
	return recKey(uint64(v4(k.VIP))<<32 | uint64(k.Port)<<1 | proto)
}

func (k recKey) key() model.Key {
	proto := model.TCP
	if k&1 == 1 {
		proto = model.UDP
	}
	return model.Key{VIP: addr4(uint32(k >> 32)), Port: uint16(k >> 1), Protocol: proto}
}

func (r *record) isBound(vip netip.Addr) bool { return r.bound[v4(vip)] }
func (r *record) setBound(vip netip.Addr)     { r.bound[v4(vip)] = true }
func (r *record) setUnbound(vip netip.Addr)   { delete(r.bound, v4(vip)) }

func (r *record) boundVIPs() []netip.Addr {
	out := make([]netip.Addr, 0, len(r.bound))
	for v := range r.bound {
		out = append(out, addr4(v))
	}
	return out
}

func (r *record) service(k model.Key) (*service, bool) {
	s, ok := r.services[keyFor(k)]
	return s, ok
}

// vipKeys lists the keys of the services recorded, and of the stale ones,
// on vip.
func (r *record) vipKeys(vip netip.Addr) []model.Key {
	rks := r.byVIP[v4(vip)]
	out := make([]model.Key, len(rks))
	for i, rk := range rks {
		out[i] = rk.key()
	}
	return out
}

// inUse tells whether a service of vip is recorded or stale.
func (r *record) inUse(vip netip.Addr) bool { return len(r.byVIP[v4(vip)]) > 0 }

func (r *record) isStale(k model.Key) bool {
	return len(r.stale) > 0 && r.stale[keyFor(k)]
}

// set records what the kernel holds for k: s, or nothing when s is nil.
func (r *record) set(k model.Key, s *service) {
	rk := keyFor(k)
	delete(r.stale, rk)
	if s == nil {
		delete(r.services, rk)
		r.forget(rk)
	} else {
		r.services[rk] = s
		r.index(rk)
	}
}

// setStale records that what the kernel holds for k is not known.
func (r *record) setStale(k model.Key) {
	rk := keyFor(k)
	delete(r.services, rk)
	r.stale[rk] = true
	r.index(rk)
}

// index adds rk to byVIP.
func (r *record) index(rk recKey) {
	vip := uint32(rk >> 32)
	if keys := r.byVIP[vip]; !slices.Contains(keys, rk) {
		r.byVIP[vip] = append(keys, rk)
	}
}

// forget removes rk from byVIP.
func (r *record) forget(rk recKey) {
	vip := uint32(rk >> 32)
	keys := slices.DeleteFunc(r.byVIP[vip], func(k recKey) bool { return k == rk })
	if len(keys) == 0 {
		delete(r.byVIP, vip)
	} else {
		r.byVIP[vip] = keys
	}
}

// keys lists the keys of the services recorded and of the stale ones.
func (r *record) keys() (services, stale []model.Key) {
	for k := range r.services {
		services = append(services, k.key())
	}
	for k := range r.stale {
		stale = append(stale, k.key())
	}
	return services, stale
}
