package model

import (
	"math/bits"
	"slices"
	"testing"
)

// kernelTurns is how ip_vs_mh (net/netfilter/ipvs/ip_vs_mh.c, table index 12)
// turns weights into slots per round: (weight/gcd) >> shift, at least 1 for a
// non-zero weight, the shift keeping the largest within 6 bits.
func kernelTurns(weights []int) []int {
	g, top := 0, 0
	for _, w := range weights {
		if w > 0 {
			g, top = gcd(g, w), max(top, w)
		}
	}
	out := make([]int, len(weights))
	if g == 0 {
		return out
	}
	shift := max(bits.Len(uint(top/g))-6, 0)
	for i, w := range weights {
		if w > 0 {
			out[i] = max((w/g)>>shift, 1)
		}
	}
	return out
}

func share(turns []int, of func(i int) bool) float64 {
	var part, all int
	for i, t := range turns {
		all += t
		if of(i) {
			part += t
		}
	}
	return float64(part) / float64(all)
}

func TestFitMaglev(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []int
		want []int
	}{
		{"within the table's resolution", []int{10, 0, 3}, []int{10, 0, 3}},
		{"equal weights", []int{200, 200}, []int{200, 200}},
		{"a common divisor", []int{640, 20}, []int{640, 20}},
		{"99/1 with three local backends", []int{99, 99, 99, 1}, []int{63, 63, 63, 1}},
		{"98/2 (49/1 after the divisor)", []int{98, 2}, []int{98, 2}},
		{"99/1 with one of each", []int{99, 1}, []int{63, 1}},
		{"99/1 with two of each", []int{99, 99, 1, 1}, []int{63, 63, 1, 1}},
		{"drained and unhealthy stay at 0", []int{0, 99, 0, 1}, []int{0, 63, 0, 1}},
	} {
		dests := make([]Destination, len(tc.in))
		for i, w := range tc.in {
			dests[i].Weight = w
		}
		fitMaglev(dests)
		var got []int
		for _, d := range dests {
			got = append(got, d.Weight)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v became %v, want %v", tc.name, tc.in, got, tc.want)
		}
		// The kernel keeps the fitted weights' ratios exactly.
		if turns := kernelTurns(got); share(turns, func(i int) bool { return i == 0 }) != share(got, func(i int) bool { return i == 0 }) {
			t.Errorf("%s: the kernel turns %v into %v", tc.name, got, turns)
		}
	}
	// Unfitted, the kernel doubles the remote share of 99/1.
	if s := share(kernelTurns([]int{99, 99, 1, 1}), func(i int) bool { return i >= 2 }); s != 0.02 {
		t.Errorf("remote share of 99,99,1,1 in the kernel: %v, want 0.02", s)
	}
}
