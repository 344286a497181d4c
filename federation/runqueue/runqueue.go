// Package runqueue runs a controller's rate-limited work queue the
// sample-controller way: wait for the caches, then workers that Forget a key on
// success and requeue it rate-limited on error.
package runqueue

import (
	"context"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Sync reconciles one key. A positive duration asks to look at it again then.
type Sync func(ctx context.Context, key string) (time.Duration, error)

// Run processes q with workers until ctx is done, then shuts q down. what names
// the objects in error logs.
func Run(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], synced []cache.InformerSynced, workers int, what string, sync Sync) {
	defer utilruntime.HandleCrash()
	defer q.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for process(ctx, q, what, sync) {
			}
		}, time.Second)
	}
	<-ctx.Done()
}

func process(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], what string, sync Sync) bool {
	key, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(key)
	after, err := sync(ctx, key)
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
func NoRequeue(sync func(context.Context, string) error) Sync {
	return func(ctx context.Context, key string) (time.Duration, error) { return 0, sync(ctx, key) }
}
