package traffic

import "strings"

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
