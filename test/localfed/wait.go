package localfed

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PollInterval is how often WaitUntil checks.
const PollInterval = 100 * time.Millisecond

// WaitUntil calls check every PollInterval until it returns nil. It fails when
// timeout passes or ctx ends first (the error wraps the last check's error),
// or as soon as one of the watched processes exits. Each check gets a context
// bounded to 2 seconds.
//
// It is the one wait of the harness (tests wait with framework.Eventually).
func WaitUntil(ctx context.Context, timeout time.Duration, check func(context.Context) error, watch ...*Process) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	for {
		attemptCtx, attemptCancel := context.WithTimeout(ctx, 2*time.Second)
		last := check(attemptCtx)
		attemptCancel()
		if last == nil {
			return nil
		}
		if err := exitedProcess(watch); err != nil {
			return errors.Join(err, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %w)", ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

// exitedProcess returns an error naming the first of procs that has exited.
func exitedProcess(procs []*Process) error {
	for _, p := range procs {
		if p == nil {
			continue
		}
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s (pid %d) exited (%v)", p.Name, p.PID, err)
		}
	}
	return nil
}
