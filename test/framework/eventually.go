package framework

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 50 * time.Millisecond

// Eventually checks cond every PollInterval until it reports true, and fails
// the test when timeout passes first, naming what it waited for and the last
// state cond described. It returns how long the wait took.
//
// It is the one way tests wait: a test never sleeps to wait for something (a
// sleep may only prove that nothing changes during a stated window).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		}
		time.Sleep(PollInterval)
	}
}
