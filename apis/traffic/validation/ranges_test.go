package validation

import (
	"net/netip"
	"testing"
)

func mustRange(t *testing.T, s string) AddressRange {
	t.Helper()
	r, err := ParseAddressRange(s)
	if err != nil {
		t.Fatalf("ParseAddressRange(%q): %v", s, err)
	}
	return r
}

func TestParseAddressRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last string // empty when in is invalid
	}{
		{in: "203.0.113.0/24", first: "203.0.113.0", last: "203.0.113.255"},
		{in: "203.0.113.10/32", first: "203.0.113.10", last: "203.0.113.10"},
		{in: "203.0.113.8/29", first: "203.0.113.8", last: "203.0.113.15"},
		{in: "10.0.0.0/8", first: "10.0.0.0", last: "10.255.255.255"},
		{in: "0.0.0.0/0", first: "0.0.0.0", last: "255.255.255.255"},
		{in: "203.0.113.10-203.0.113.20", first: "203.0.113.10", last: "203.0.113.20"},
		{in: "203.0.113.10 - 203.0.113.20", first: "203.0.113.10", last: "203.0.113.20"},
		{in: "203.0.113.10-203.0.113.10", first: "203.0.113.10", last: "203.0.113.10"},
		{in: "198.51.100.250-198.51.101.5", first: "198.51.100.250", last: "198.51.101.5"},
		// Invalid.
		{in: ""},
		{in: "203.0.113.10"},
		{in: "203.0.113.0/33"},
		{in: "203.0.113.1/24"},
		{in: "203.0.113.0/"},
		{in: "203.0.113/24"},
		{in: "2001:db8::/64"},
		{in: "::ffff:203.0.113.0/120"},
		{in: "203.0.113.20-203.0.113.10"},
		{in: "203.0.113.10-"},
		{in: "-203.0.113.10"},
		{in: "203.0.113.10-2001:db8::1"},
		{in: "2001:db8::1-2001:db8::9"},
		{in: "203.0.113.10-203.0.113.20-203.0.113.30"},
		{in: "203.0.113.0/24-203.0.113.255"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseAddressRange(tt.in)
			if tt.first == "" {
				if err == nil {
					t.Fatalf("accepted as %v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := AddressRange{First: netip.MustParseAddr(tt.first), Last: netip.MustParseAddr(tt.last)}
			if r != want {
				t.Errorf("got %v, want %v", r, want)
			}
		})
	}
}

func TestParseAddressRangeHostBitsHint(t *testing.T) {
	_, err := ParseAddressRange("203.0.113.77/24")
	if err == nil || err.Error() != "host bits must be zero (did you mean 203.0.113.0/24?)" {
		t.Errorf("error = %v", err)
	}
}

func TestAddressRangeOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"203.0.113.0/24", "203.0.113.0/24", true},
		{"203.0.113.0/24", "203.0.113.128/25", true},
		{"203.0.113.0/25", "203.0.113.128/25", false},
		{"203.0.113.0/24", "203.0.113.255-203.0.114.10", true},
		{"203.0.113.0/24", "203.0.114.0-203.0.114.10", false},
		{"203.0.113.10-203.0.113.20", "203.0.113.20-203.0.113.30", true},
		{"203.0.113.10-203.0.113.20", "203.0.113.21-203.0.113.30", false},
		{"203.0.113.10-203.0.113.20", "203.0.113.12-203.0.113.13", true},
		{"203.0.113.5/32", "203.0.113.0/24", true},
		{"0.0.0.0/0", "198.51.100.1/32", true},
	}
	for _, tt := range tests {
		a, b := mustRange(t, tt.a), mustRange(t, tt.b)
		if got := a.Overlaps(b); got != tt.want {
			t.Errorf("%s overlaps %s = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := b.Overlaps(a); got != tt.want {
			t.Errorf("%s overlaps %s = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestAddressRangeSize(t *testing.T) {
	for in, want := range map[string]int64{
		"203.0.113.10/32":             1,
		"203.0.113.0/31":              2,
		"203.0.113.0/24":              256,
		"10.0.0.0/8":                  1 << 24,
		"0.0.0.0/0":                   1 << 32,
		"203.0.113.10-203.0.113.20":   11,
		"203.0.113.10-203.0.113.10":   1,
		"198.51.100.250-198.51.101.5": 12,
	} {
		if got := mustRange(t, in).Size(); got != want {
			t.Errorf("Size(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestAddressRangeContains(t *testing.T) {
	r := mustRange(t, "203.0.113.10-203.0.113.20")
	for addr, want := range map[string]bool{
		"203.0.113.9":  false,
		"203.0.113.10": true,
		"203.0.113.15": true,
		"203.0.113.20": true,
		"203.0.113.21": false,
		"0.0.0.0":      false,
		"2001:db8::a":  false,
	} {
		if got := r.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%v contains %s = %v, want %v", r, addr, got, want)
		}
	}
	cidr := mustRange(t, "198.51.100.0/30")
	if !cidr.Contains(netip.MustParseAddr("198.51.100.3")) || cidr.Contains(netip.MustParseAddr("198.51.100.4")) {
		t.Errorf("%v: wrong bounds", cidr)
	}
}

func TestAddressRangeString(t *testing.T) {
	if got := mustRange(t, "203.0.113.0/30").String(); got != "203.0.113.0-203.0.113.3" {
		t.Errorf("String() = %s", got)
	}
}
