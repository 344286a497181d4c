package agent

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestTuneGC: --gc-percent and --memory-limit set the Go runtime's GOGC and
// soft memory limit, unless the GOGC and GOMEMLIMIT environment variables
// do; the default sets no memory limit.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")

	noLimit := debug.SetMemoryLimit(-1)
	NewOptions().tuneGC()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("default GOGC %d, want 50", got)
	}
	if got := debug.SetMemoryLimit(-1); got != noLimit {
		t.Errorf("default memory limit %d, want none (%d)", got, noLimit)
	}

	o := NewOptions()
	o.GCPercent = 80
	if err := o.MemoryLimit.Set("64Mi"); err != nil {
		t.Fatal(err)
	}
	o.tuneGC()
	if got := debug.SetGCPercent(100); got != 80 {
		t.Errorf("--gc-percent 80: GOGC %d", got)
	}
	if got := debug.SetMemoryLimit(noLimit); got != 64<<20 {
		t.Errorf("--memory-limit 64Mi: limit %d", got)
	}

	t.Setenv("GOGC", "200")
	t.Setenv("GOMEMLIMIT", "1GiB")
	o.tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GOGC %d, want it left alone (100)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != noLimit {
		t.Errorf("with GOMEMLIMIT set: limit %d, want it left alone", got)
	}

	o.GCPercent = 0
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--gc-percent 0 must be positive") {
		t.Errorf("--gc-percent 0: %v, want refused", err)
	}
}
