package runqueue

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/portico-dev/portico/test/framework"
)

func newQueue() workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
}

var alwaysSynced = []cache.InformerSynced{func() bool { return true }}

// start runs Run in the background; the returned channel closes when it returns.
func start(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], synced []cache.InformerSynced, workers int, sync Sync) <-chan struct{} {
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		Run(ctx, q, synced, workers, "thing", sync)
	}()
	return returned
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestRunRetriesErrorsAndRequeues(t *testing.T) {
	q := newQueue()
	var calls atomic.Int32
	sync := func(_ context.Context, key string) (time.Duration, error) {
		switch calls.Add(1) {
		case 1:
			return 0, errors.New("transient")
		case 2:
			return 5 * time.Millisecond, nil // look again
		}
		return 0, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.Add("a")
	returned := start(ctx, q, alwaysSynced, 1, sync)
	defer func() { cancel(); <-returned }()
	framework.Eventually(t, 5*time.Second, "a retry after the error and a requeue after the delay", func() (bool, string) {
		n := calls.Load()
		return n >= 3, fmt.Sprintf("sync called %d times", n)
	})
	if q.NumRequeues("a") != 0 {
		t.Fatalf("a successful sync must Forget the key")
	}
}

func TestRunWaitsForCachesBeforeProcessing(t *testing.T) {
	q := newQueue()
	var ready, called atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	q.Add("queued before Run")
	returned := start(ctx, q, []cache.InformerSynced{ready.Load}, 1, func(context.Context, string) (time.Duration, error) {
		called.Store(true)
		return 0, nil
	})
	defer func() { cancel(); <-returned }()
	// Nothing may happen during this window: the cache has not synced.
	time.Sleep(300 * time.Millisecond)
	if called.Load() {
		t.Fatal("a key was processed before the caches synced")
	}
	ready.Store(true)
	framework.Eventually(t, 5*time.Second, "the key queued before Run to be processed", func() (bool, string) {
		return called.Load(), "not processed"
	})
}

func TestRunStopsWhenCachesNeverSync(t *testing.T) {
	q := newQueue()
	ctx, cancel := context.WithCancel(context.Background())
	returned := start(ctx, q, []cache.InformerSynced{func() bool { return false }}, 1, NoRequeue(func(context.Context, string) error { return nil }))
	cancel()
	framework.Eventually(t, 5*time.Second, "Run to return", func() (bool, string) { return closed(returned), "running" })
	if !q.ShuttingDown() {
		t.Fatal("Run must shut its queue down")
	}
}

func TestRunUsesEveryWorker(t *testing.T) {
	q := newQueue()
	const workers = 3
	var running atomic.Int32
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	returned := start(ctx, q, alwaysSynced, workers, func(context.Context, string) (time.Duration, error) {
		running.Add(1)
		<-release
		return 0, nil
	})
	defer func() { cancel(); close(release); <-returned }()
	for i := range workers + 1 {
		q.Add(fmt.Sprint(i))
	}
	framework.Eventually(t, 5*time.Second, fmt.Sprintf("%d syncs at once", workers), func() (bool, string) {
		n := running.Load()
		return n == workers, fmt.Sprintf("%d running", n)
	})
	// The extra key waits for a free worker during this window.
	time.Sleep(200 * time.Millisecond)
	if n := running.Load(); n != workers {
		t.Fatalf("%d syncs ran at once with %d workers", n, workers)
	}
}

func TestRunReturnsAfterItsWorkers(t *testing.T) {
	q := newQueue()
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	returned := start(ctx, q, alwaysSynced, 1, func(context.Context, string) (time.Duration, error) {
		close(started)
		<-release
		finished.Store(true)
		return 0, nil
	})
	q.Add("a")
	framework.Eventually(t, 5*time.Second, "the sync to start", func() (bool, string) { return closed(started), "not started" })
	cancel()
	// Run may not return during this window: its worker is still busy.
	time.Sleep(200 * time.Millisecond)
	if closed(returned) {
		close(release)
		t.Fatal("Run returned while a sync was still running")
	}
	close(release)
	framework.Eventually(t, 5*time.Second, "Run to return once the sync finished", func() (bool, string) { return closed(returned), "running" })
	if !finished.Load() || !q.ShuttingDown() {
		t.Fatalf("after Run: sync finished=%t, queue shut down=%t", finished.Load(), q.ShuttingDown())
	}
}
