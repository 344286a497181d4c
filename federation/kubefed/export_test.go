package kubefed

import "time"

// SetUnreadableAfter shortens how long a cache may take to fill, for a test;
// it returns the function that restores it.
func SetUnreadableAfter(d time.Duration) func() {
	old := unreadableAfter
	unreadableAfter = d
	return func() { unreadableAfter = old }
}
