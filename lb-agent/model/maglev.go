package model

import "math"

// MaglevMaxTurns is the finest weight the kernel's Maglev scheduler keeps.
// ip_vs_mh fills its lookup table in rounds where each destination takes
// (weight/gcd) >> shift slots, the shift chosen so that no destination takes
// more than 2^(CONFIG_IP_VS_MH_TAB_INDEX/2)-1 slots per round, and a weight
// shifted down to 0 takes 1 slot. With the default (and Debian's) index 12,
// a 4093-slot table, that is 63: weights 99 and 1 become 49 and 1 turns, a
// remote share of 2% where 1% was asked for.
const MaglevMaxTurns = 63

// fitMaglev rewrites the weights of dests, when the kernel could not keep
// their ratios, to the weights of at most MaglevMaxTurns whose shares of the
// table are closest to those asked for (zero stays zero, non-zero stays
// non-zero), so that the weights programmed are the ones the kernel applies.
func fitMaglev(dests []Destination) {
	var top, g, sum int
	for _, d := range dests {
		if d.Weight > 0 {
			top, g, sum = max(top, d.Weight), gcd(g, d.Weight), sum+d.Weight
		}
	}
	if top == 0 || top/g <= MaglevMaxTurns {
		return
	}
	var best []int
	bestErr := math.Inf(1)
	for scale := MaglevMaxTurns; scale >= 1; scale-- {
		turns := make([]int, len(dests))
		total := 0
		for i, d := range dests {
			if d.Weight > 0 {
				turns[i] = max(1, int(math.Round(float64(d.Weight)*float64(scale)/float64(top))))
				total += turns[i]
			}
		}
		var err float64
		for i, d := range dests {
			err += math.Abs(float64(turns[i])/float64(total) - float64(d.Weight)/float64(sum))
		}
		if err < bestErr-1e-12 {
			best, bestErr = turns, err
		}
	}
	for i := range dests {
		dests[i].Weight = best[i]
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
