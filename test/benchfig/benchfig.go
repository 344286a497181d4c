// Package benchfig records the figures of Portico's benchmarks for the table
// `make bench` prints (hack/bench-report): each benchmark reports its figures
// with Report, which logs them and prints one machine-readable line per figure
// on standard output, so figures also travel out of the qemu VM's console.
//
// A figure is a statistic (median, p99, ...) of at least MinSamples samples,
// with the samples' min, median and max beside it, the goal it is held to (if
// any) and a sentence saying what one sample includes.
package benchfig

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// TB is what Report needs of a testing.TB (this package does not import
// testing: hack/bench-report reads its figures).
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Marker starts the line a figure is printed on.
const Marker = "PORTICO-BENCH "

// MinSamples is the fewest samples a figure is reported from; fewer fail the
// benchmark.
const MinSamples = 5

// Stat is the statistic of the samples a figure is.
type Stat string

// Statistics.
const (
	Median Stat = "median"
	P99    Stat = "p99"
	Max    Stat = "max"
	Min    Stat = "min"
)

// Goal is what a figure is held to: at most or at least Value. The zero Goal
// means the figure is reported only.
type Goal struct {
	Value float64
	// AtLeast is true when higher is better.
	AtLeast bool
}

// AtMost is a goal for figures where lower is better.
func AtMost(v float64) Goal { return Goal{Value: v} }

// AtLeast is a goal for figures where higher is better.
func AtLeast(v float64) Goal { return Goal{Value: v, AtLeast: true} }

// None is a figure without a goal: reported for context.
var None = Goal{}

// Figure is one line of the table.
type Figure struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Goal is nil for figures reported without one.
	Goal *float64 `json:"goal"`
	// Better is "lower" or "higher".
	Better   string  `json:"better"`
	Stat     Stat    `json:"stat"`
	Measured float64 `json:"measured"`
	// Met is nil without a goal.
	Met      *bool   `json:"met"`
	Samples  int     `json:"samples"`
	Min      float64 `json:"min"`
	Median   float64 `json:"median"`
	Max      float64 `json:"max"`
	Includes string  `json:"includes"`
}

// New computes a figure from samples (in unit).
func New(name, unit string, goal Goal, stat Stat, samples []float64, includes string) Figure {
	s := slices.Clone(samples)
	slices.Sort(s)
	f := Figure{Name: name, Unit: unit, Stat: stat, Samples: len(s), Includes: includes, Better: "lower"}
	if goal.AtLeast {
		f.Better = "higher"
	}
	if len(s) == 0 {
		return f
	}
	f.Min, f.Median, f.Max = s[0], quantile(s, 0.5), s[len(s)-1]
	switch stat {
	case P99:
		f.Measured = quantile(s, 0.99)
	case Max:
		f.Measured = f.Max
	case Min:
		f.Measured = f.Min
	default:
		f.Measured = f.Median
	}
	if goal != None {
		g := goal.Value
		met := f.Measured <= g
		if goal.AtLeast {
			met = f.Measured >= g
		}
		f.Goal, f.Met = &g, &met
	}
	return f
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Report logs f and prints it for hack/bench-report. A figure from fewer than
// MinSamples samples fails tb.
func Report(tb TB, f Figure) {
	tb.Helper()
	if f.Samples < MinSamples {
		tb.Errorf("figure %s: %d samples, want at least %d", f.Name, f.Samples, MinSamples)
	}
	data, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("%s: %s %s %s (min %s, median %s, max %s, %d samples)%s", f.Name, f.Stat, Format(f.Measured), f.Unit,
		Format(f.Min), Format(f.Median), Format(f.Max), f.Samples, goalText(f))
	// One write, so that lines of concurrent writers do not interleave.
	fmt.Fprint(os.Stdout, "\n"+Marker+string(data)+"\n")
}

func goalText(f Figure) string {
	if f.Goal == nil {
		return ""
	}
	op := "<="
	if f.Better == "higher" {
		op = ">="
	}
	state := "met"
	if !*f.Met {
		state = "NOT met"
	}
	return fmt.Sprintf(", goal %s %s %s: %s", op, Format(*f.Goal), f.Unit, state)
}

// Durations reports samples as durations in unit: "s", "ms" or "µs".
func Durations(tb TB, name, unit string, goal Goal, stat Stat, d []time.Duration, includes string) Figure {
	tb.Helper()
	per := map[string]time.Duration{"s": time.Second, "ms": time.Millisecond, "µs": time.Microsecond}[unit]
	if per == 0 {
		tb.Fatalf("figure %s: unit %q is not a duration unit (s, ms, µs)", name, unit)
	}
	samples := make([]float64, len(d))
	for i, v := range d {
		samples[i] = float64(v) / float64(per)
	}
	f := New(name, unit, goal, stat, samples, includes)
	Report(tb, f)
	return f
}

// Values reports samples in unit.
func Values(tb TB, name, unit string, goal Goal, stat Stat, samples []float64, includes string) Figure {
	tb.Helper()
	f := New(name, unit, goal, stat, samples, includes)
	Report(tb, f)
	return f
}

// Format prints a figure's value with 3 significant digits.
func Format(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
