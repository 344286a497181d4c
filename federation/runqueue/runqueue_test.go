package runqueue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func TestRunRetriesErrorsAndRequeues(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
	var calls atomic.Int32
	done := make(chan struct{})
	sync := func(_ context.Context, key string) (time.Duration, error) {
		switch n := calls.Add(1); {
		case n == 1:
			return 0, errors.New("transient")
		case n == 2:
			return 5 * time.Millisecond, nil // look again
		case n == 3:
			close(done)
		}
		return 0, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.Add("a")
	go Run(ctx, q, []cache.InformerSynced{func() bool { return true }}, 1, "thing", sync)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("sync called %d times; want a retry after the error and a requeue after the delay", calls.Load())
	}
	if q.NumRequeues("a") != 0 {
		t.Fatalf("a successful sync must Forget the key")
	}
}
