package traffic

import "testing"

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
