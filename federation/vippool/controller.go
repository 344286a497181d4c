// Package vippool is the hub controller of VIPPools. It keeps each pool's status:
// how many addresses it has, how many VirtualIPs hold one, how many are left, and
// the Exhausted condition. It writes the status only when it changes.
package vippool

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/traffic/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/vipallocator"
)

// Reasons of the Exhausted condition.
const (
	ReasonNoAddressesLeft    = "NoAddressesLeft"
	ReasonAddressesAvailable = "AddressesAvailable"
)

// Controller keeps the status of VIPPools.
type Controller struct {
	client versioned.Interface
	pools  trafficlisters.VIPPoolLister
	vips   trafficlisters.VirtualIPLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// NewController watches VIPPools and VirtualIPs; a VirtualIP's change requeues
// its pool.
func NewController(client versioned.Interface, pools trafficinformers.VIPPoolInformer, vips trafficinformers.VirtualIPInformer) *Controller {
	c := newController(client, pools.Lister(), vips.Lister())
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
		c.queue.Add(vip.Spec.Pool)
	}
}

// Run processes the queue with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "pool", runqueue.NoRequeue(c.sync))
}

// sync computes one pool's status and writes it when it changed.
func (c *Controller) sync(ctx context.Context, name string) error {
	pool, err := c.pools.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	status, err := c.status(pool)
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(status, &pool.Status) {
		return nil
	}
	updated := pool.DeepCopy()
	updated.Status = *status
	if _, err := c.client.TrafficV1alpha1().VIPPools().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of VIPPool %s: %w", name, err)
	}
	return nil
}

// status counts the pool's addresses on a copy of its status. allocated counts
// every VirtualIP of the pool; available leaves out only those whose address is
// allocatable in the pool (after an edit of spec.cidrs, a VirtualIP may lie
// outside it).
func (c *Controller) status(pool *trafficv1alpha1.VIPPool) (*trafficv1alpha1.VIPPoolStatus, error) {
	vips, err := c.vips.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	status := pool.Status.DeepCopy()
	status.ObservedGeneration = pool.Generation
	status.Total = vipallocator.Capacity(pool)
	status.Allocated = 0
	var inPool int64
	for _, vip := range vips {
		if vip.Spec.Pool != pool.Name {
			continue
		}
		status.Allocated++
		if vipallocator.InPool(pool, vip.Spec.Address) {
			inPool++
		}
	}
	status.Available = max(status.Total-inPool, 0)
	setExhausted(status)
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
