package benchfig

import (
	"testing"
)

func TestNewComputesTheStatisticAndTheGoal(t *testing.T) {
	samples := []float64{5, 1, 4, 2, 3}
	f := New("x", "ms", AtMost(4), P99, samples, "one thing")
	if f.Min != 1 || f.Median != 3 || f.Max != 5 || f.Measured != 5 || f.Samples != 5 {
		t.Fatalf("got %+v", f)
	}
	if f.Met == nil || *f.Met {
		t.Fatalf("p99 5 ms against a goal of at most 4 ms is not met: %+v", f)
	}
	f = New("y", "objects/s", AtLeast(3), Median, samples, "")
	if f.Measured != 3 || f.Met == nil || !*f.Met || f.Better != "higher" {
		t.Fatalf("median 3 against at least 3 is met: %+v", f)
	}
	f = New("z", "MiB", None, Max, samples, "")
	if f.Goal != nil || f.Met != nil || f.Measured != 5 {
		t.Fatalf("a figure without a goal has no goal and no verdict: %+v", f)
	}
}

func TestP99OfManySamples(t *testing.T) {
	var s []float64
	for i := 1; i <= 200; i++ {
		s = append(s, float64(i))
	}
	if got := New("x", "ms", None, P99, s, "").Measured; got != 198 {
		t.Fatalf("p99 of 1..200 = %v, want 198", got)
	}
}
