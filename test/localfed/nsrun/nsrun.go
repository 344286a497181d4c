// Package nsrun runs code inside a named network namespace (/run/netns/NAME).
// It depends only on github.com/vishvananda/netns, so the VM tier's test
// binaries can use it without the rest of package localfed.
package nsrun

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on an OS thread switched into the namespace ns. Sockets fn
// creates belong to ns and keep working after Do returns; so do processes it
// starts.
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("network namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // otherwise the thread dies with the goroutine
		}
		errc <- err
	}()
	return <-errc
}
