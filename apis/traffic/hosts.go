package traffic

import (
	"slices"
	"strings"
)

// HostCovers tells whether pattern covers host. An exact name covers itself; a
// wildcard *.example.com covers every name below example.com, wildcards below
// it and itself, but not example.com.
func HostCovers(pattern, host string) bool {
	if pattern == host {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	return ok && strings.HasPrefix(suffix, ".") && strings.HasSuffix(host, suffix)
}

// HostsOverlap tells whether some name is matched by both a and b: an exact
// name and a wildcard covering it overlap, as do two wildcards one below the
// other.
func HostsOverlap(a, b string) bool {
	return HostCovers(a, b) || HostCovers(b, a)
}

// HostWithin tells whether one of hosts covers host.
func HostWithin(host string, hosts []string) bool {
	for _, h := range hosts {
		if HostCovers(h, host) {
			return true
		}
	}
	return false
}

// HostIndexKeys are the keys under which an object with these hosts is
// indexed, so that the objects whose hosts overlap one are found without a
// pass over all of them (HostOverlapKeys): "=h" for each host h, and "<d" for
// every domain d above it (a.b.example.com and *.b.example.com are both below
// b.example.com and example.com). Sorted, without duplicates.
func HostIndexKeys(hosts []string) []string {
	var keys []string
	for _, h := range hosts {
		keys = append(keys, "="+h)
		for _, d := range domainsAbove(h) {
			keys = append(keys, "<"+d)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// HostOverlapKeys are the HostIndexKeys under which every object with a host
// overlapping h (HostsOverlap) is found: the same host, a wildcard over a
// domain above h, and, for a wildcard *.d, every host below d. The objects
// found there are candidates: HostsOverlap decides.
func HostOverlapKeys(h string) []string {
	keys := []string{"=" + h}
	for _, d := range domainsAbove(h) {
		keys = append(keys, "=*."+d)
	}
	if d, ok := strings.CutPrefix(h, "*."); ok {
		keys = append(keys, "<"+d)
	}
	return keys
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
