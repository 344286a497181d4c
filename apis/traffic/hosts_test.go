package traffic

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestHostCoversAndOverlaps(t *testing.T) {
	for _, tc := range []struct {
		pattern, host    string
		covers, overlaps bool
	}{
		{"a.example.com", "a.example.com", true, true},
		{"a.example.com", "b.example.com", false, false},
		{"*.example.com", "a.example.com", true, true},
		{"*.example.com", "a.b.example.com", true, true},
		{"*.example.com", "*.b.example.com", true, true},
		{"*.example.com", "*.example.com", true, true},
		{"*.example.com", "example.com", false, false},
		{"*.example.com", "a.example.com.evil.test", false, false},
		{"*.example.com", "aexample.com", false, false},
		{"a.example.com", "*.example.com", false, true},
		{"*.b.example.com", "*.example.com", false, true},
		{"*.a.example.com", "*.b.example.com", false, false},
	} {
		if got := HostCovers(tc.pattern, tc.host); got != tc.covers {
			t.Errorf("HostCovers(%q, %q) = %t, want %t", tc.pattern, tc.host, got, tc.covers)
		}
		if got := HostsOverlap(tc.pattern, tc.host); got != tc.overlaps {
			t.Errorf("HostsOverlap(%q, %q) = %t, want %t", tc.pattern, tc.host, got, tc.overlaps)
		}
	}
}
func TestDomainsAbove(t *testing.T) {
	for host, want := range map[string][]string{
		"a.b.example.com":  {"b.example.com", "example.com", "com"},
		"*.b.example.com":  {"b.example.com", "example.com", "com"},
		"localhost":        nil,
		"trailing.":        nil,
		"*.example.com":    {"example.com", "com"},
		"shop.example.com": {"example.com", "com"},
	} {
		if got := domainsAbove(host); !slices.Equal(got, want) {
			t.Errorf("domainsAbove(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestOverlapKeysFindEveryOverlap: whenever two hosts overlap, one of the
// first's HostOverlapKeys is among the second's HostIndexKeys, so an index
// by HostIndexKeys finds every overlapping object.
func TestOverlapKeysFindEveryOverlap(t *testing.T) {
	labels := []string{"a", "b", "c"}
	random := func(r *rand.Rand) string {
		parts := make([]string, 1+r.IntN(3))
		for i := range parts {
			parts[i] = labels[r.IntN(len(labels))]
		}
		h := strings.Join(parts, ".")
		if r.IntN(3) == 0 {
			h = "*." + h
		}
		return h
	}
	r := rand.New(rand.NewPCG(1, 2))
	overlaps := 0
	for range 20000 {
		a, b := random(r), random(r)
		if !HostsOverlap(a, b) {
			continue
		}
		overlaps++
		indexed := HostIndexKeys([]string{"x.other", b})
		if !slices.ContainsFunc(HostOverlapKeys(a), func(k string) bool { return slices.Contains(indexed, k) }) {
			t.Errorf("%q overlaps %q, but none of its keys %v is among %v", a, b, HostOverlapKeys(a), indexed)
		}
	}
	if overlaps < 1000 {
		t.Fatalf("only %d overlapping pairs drawn", overlaps)
	}
}
