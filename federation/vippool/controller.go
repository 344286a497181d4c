// Package vippool is the hub controller of VIPPools. It keeps each pool's status:
// how many addresses it has, how many VirtualIPs hold one, how many are left, and
// the Exhausted condition. It writes the status only when it changes.
//
// It also protects pools in use (package inuse): every pool carries the
// finalizer traffic.portico.dev/in-use, which the controller removes from a
// pool being deleted only once no VirtualIP of the pool is left. Until then
// the pool's Terminating condition names the VirtualIPs and the access points
// holding them; their addresses stay allocated and announced, and the
// allocator gives no new address from the pool.
package vippool

import (
	"context"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/traffic/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
	"github.com/portico-dev/portico/federation/vipallocator"
)

// Reasons of the Exhausted condition.
const (
	ReasonNoAddressesLeft    = "NoAddressesLeft"
	ReasonAddressesAvailable = "AddressesAvailable"
)

// Controller keeps the status and the in-use finalizer of VIPPools.
type Controller struct {
	client versioned.Interface
	pools  trafficlisters.VIPPoolLister
	vips   trafficlisters.VirtualIPLister
	events record.EventRecorder
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// NewController watches VIPPools and VirtualIPs; a VirtualIP's change requeues
// its pool. events may be nil.
func NewController(client versioned.Interface, pools trafficinformers.VIPPoolInformer, vips trafficinformers.VirtualIPInformer,
	events record.EventRecorder) *Controller {
	c := newController(client, pools.Lister(), vips.Lister())
	c.events = events
	c.synced = []cache.InformerSynced{pools.Informer().HasSynced, vips.Informer().HasSynced}
	_, _ = pools.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePool,
		UpdateFunc: func(_, obj any) { c.enqueuePool(obj) },
		DeleteFunc: c.enqueuePool,
	})
	_, _ = vips.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueVIP,
		UpdateFunc: func(old, obj any) {
			c.enqueueVIP(old)
			c.enqueueVIP(obj)
		},
		DeleteFunc: c.enqueueVIP,
	})
	return c
}

func newController(client versioned.Interface, pools trafficlisters.VIPPoolLister, vips trafficlisters.VirtualIPLister) *Controller {
	return &Controller{
		client: client, pools: pools, vips: vips,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "vippools"}),
	}
}

func (c *Controller) enqueuePool(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueVIP(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if vip, ok := obj.(*trafficv1alpha1.VirtualIP); ok && vip.Spec.Pool != "" {
		c.queue.AddAfter(vip.Spec.Pool, vipCoalesce)
	}
}

// vipCoalesce delays a pool's sync after a change of one of its VirtualIPs, so
// that the changes of a burst (1000 access points allocating at once) write the
// pool's status a few times a second instead of once per VirtualIP: the
// queue keeps one pending sync per pool.
const vipCoalesce = 500 * time.Millisecond

// Run processes the queue with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "pool", runqueue.NoRequeue(c.sync))
}

// sync keeps the pool's finalizer, removes it from a pool being deleted that
// no VirtualIP holds any more, and otherwise computes the pool's status and
// writes it when it changed.
func (c *Controller) sync(ctx context.Context, name string) error {
	pool, err := c.pools.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	vips, err := c.poolVIPs(name)
	if err != nil {
		return err
	}
	switch {
	case pool.DeletionTimestamp == nil:
		if pool, err = c.setFinalizer(ctx, pool, true); err != nil {
			return err
		}
	case !inuse.Has(pool, inuse.TrafficFinalizer):
		return nil // not protected (removed by hand): nothing to wait for
	case len(vips) == 0:
		return c.release(ctx, pool)
	}
	status, waiting := c.status(pool, vips)
	if apiequality.Semantic.DeepEqual(status, &pool.Status) {
		return nil
	}
	updated := pool.DeepCopy()
	updated.Status = *status
	if _, err := c.client.TrafficV1alpha1().VIPPools().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of VIPPool %s: %w", name, err)
	}
	if waiting != nil {
		inuse.Event(c.events, updated, *waiting)
	}
	return nil
}

// poolVIPs lists the cache's VirtualIPs of the pool.
func (c *Controller) poolVIPs(pool string) ([]*trafficv1alpha1.VirtualIP, error) {
	all, err := c.vips.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*trafficv1alpha1.VirtualIP
	for _, vip := range all {
		if vip.Spec.Pool == pool {
			out = append(out, vip)
		}
	}
	return out, nil
}

// release removes the finalizer of a pool being deleted that the cache shows
// unused, once the API server confirms it: the cache may not show yet a
// VirtualIP allocated a moment ago.
func (c *Controller) release(ctx context.Context, pool *trafficv1alpha1.VIPPool) error {
	list, err := c.client.TrafficV1alpha1().VirtualIPs().List(ctx,
		metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.pool", pool.Name).String()})
	if err != nil {
		return fmt.Errorf("listing the VirtualIPs of VIPPool %s: %w", pool.Name, err)
	}
	for i := range list.Items {
		if list.Items[i].Spec.Pool == pool.Name {
			return fmt.Errorf("VIPPool %s: VirtualIP %s is not in the cache yet; will look again", pool.Name, list.Items[i].Name)
		}
	}
	_, err = c.setFinalizer(ctx, pool, false)
	return err
}

// setFinalizer adds or removes the in-use finalizer when it is not already so,
// and returns the pool as written.
func (c *Controller) setFinalizer(ctx context.Context, pool *trafficv1alpha1.VIPPool, present bool) (*trafficv1alpha1.VIPPool, error) {
	if inuse.Has(pool, inuse.TrafficFinalizer) == present {
		return pool, nil
	}
	updated := pool.DeepCopy()
	updated.Finalizers = inuse.With(updated.Finalizers, inuse.TrafficFinalizer, present)
	written, err := c.client.TrafficV1alpha1().VIPPools().Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) && !present {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finalizer of VIPPool %s: %w", pool.Name, err)
	}
	return written, nil
}

// status counts the pool's addresses on a copy of its status. allocated counts
// every VirtualIP of the pool; available leaves out only those whose address is
// allocatable in the pool (after an edit of spec.cidrs, a VirtualIP may lie
// outside it). A pool being deleted names its VirtualIPs in its Terminating
// condition, which status also returns when it is new (the deletion just
// started waiting).
func (c *Controller) status(pool *trafficv1alpha1.VIPPool, vips []*trafficv1alpha1.VirtualIP) (*trafficv1alpha1.VIPPoolStatus, *metav1.Condition) {
	status := pool.Status.DeepCopy()
	status.ObservedGeneration = pool.Generation
	status.Total = vipallocator.Capacity(pool)
	status.Allocated = int64(len(vips))
	var inPool int64
	users := make([]string, 0, len(vips))
	for _, vip := range vips {
		if vipallocator.InPool(pool, vip.Spec.Address) {
			inPool++
		}
		users = append(users, inuse.VirtualIP(vip))
	}
	status.Available = max(status.Total-inPool, 0)
	setExhausted(status)
	if pool.DeletionTimestamp == nil {
		return status, nil
	}
	cond := inuse.Condition(users,
		"their addresses stay allocated and announced; delete their access points or move them to another pool (spec.loadBalancer.pool)",
		pool.Generation)
	if inuse.Set(&status.Conditions, cond) {
		return status, &cond
	}
	return status, nil
}

func setExhausted(status *trafficv1alpha1.VIPPoolStatus) {
	cond := metav1.Condition{Type: trafficv1alpha1.VIPPoolExhausted, ObservedGeneration: status.ObservedGeneration,
		Status: metav1.ConditionFalse, Reason: ReasonAddressesAvailable,
		Message: fmt.Sprintf("%d of %d addresses available", status.Available, status.Total)}
	if status.Available == 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonNoAddressesLeft
		cond.Message = fmt.Sprintf("all %d addresses are allocated", status.Total)
		if status.Total == 0 {
			cond.Message = "the pool has no allocatable address"
		}
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}
