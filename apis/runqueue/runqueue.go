// Package runqueue runs a controller's rate-limited work queue the
// sample-controller way: wait for the caches, then workers that Forget a key on
// success and requeue it rate-limited on error. The hub controllers and both
// agents run their queues with it; each keeps its own queue (and so its rate
// limiter) and its own number of workers.
package runqueue

import (
	"context"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Sync reconciles one key. A positive duration asks to look at it again then.
type Sync func(ctx context.Context, key string) (time.Duration, error)

// Run processes q with workers until ctx is done, then shuts q down and returns
// once every worker has finished its current key, so that the caller may tear
// down what the syncs use. Nothing is processed before the synced caches are;
// Run returns at once, with q shut down, if ctx ends first. Keys added to q
// before Run are processed once the caches synced. what names the objects in
// error logs: "Syncing" what=key.
func Run(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], synced []cache.InformerSynced, workers int, what string, reconcile Sync) {
	defer utilruntime.HandleCrash()
	defer q.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for process(ctx, q, what, reconcile) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

func process(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], what string, reconcile Sync) bool {
	key, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(key)
	after, err := reconcile(ctx, key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing", what, key)
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	if after > 0 {
		q.AddAfter(key, after)
	}
	return true
}

// NoRequeue adapts a sync that never asks to look again.
func NoRequeue(reconcile func(context.Context, string) error) Sync {
	return func(ctx context.Context, key string) (time.Duration, error) { return 0, reconcile(ctx, key) }
}
