// Package loadbalancergroup is the hub controller of LoadBalancerGroup status.
// It counts the group's LoadBalancerNodes (those whose spec.group names it),
// how many of them are ready — their Ready condition is True and their
// lb-agent's Lease still holds (package lblease) — and sets the Ready
// condition. It works on a copy of the status and writes it only when it
// changed. A node or Lease change requeues only the node's group, and a group
// is looked at again when the first Lease that makes one of its nodes count
// would expire, so an agent that stopped is noticed without any event.
//
// It also protects groups in use (package inuse): every group carries the
// finalizer cluster.portico.dev/in-use, which the controller removes from a
// group being deleted only once no VirtualIP lists the group in spec.groups.
// A group serves the VirtualIPs that list it (its nodes' lb-agents announce
// exactly those), so they are its users; its LoadBalancerNodes are its
// members, not its users: a node whose group is gone serves nothing, which
// the protection is there to prevent while VirtualIPs still count on the
// group. Until the VirtualIPs are gone, the group keeps serving them and its
// Terminating condition names them with their access points. The allocator
// moves a VirtualIP off a group being deleted when another group of the
// zone, not being deleted, has ready nodes.
package loadbalancergroup

import (
	"context"
	"fmt"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	clusterinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/cluster/v1alpha1"
	trafficinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/traffic/v1alpha1"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
	"github.com/portico-dev/portico/federation/lblease"
)

// Controller keeps the status and the in-use finalizer of LoadBalancerGroups.
type Controller struct {
	client versioned.Interface
	groups clusterlisters.LoadBalancerGroupLister
	nodes  clusterlisters.LoadBalancerNodeLister
	leases coordinationlisters.LeaseLister
	vips   trafficlisters.VirtualIPLister
	events record.EventRecorder
	now    func() time.Time
	queue  workqueue.TypedRateLimitingInterface[string]
	synced []cache.InformerSynced
}

// NewController watches LoadBalancerGroups, LoadBalancerNodes, the lb-agents'
// Leases (an informer of lblease.Namespace in the hub cluster) and the
// VirtualIPs the groups serve. events may be nil.
func NewController(client versioned.Interface, groups clusterinformers.LoadBalancerGroupInformer,
	nodes clusterinformers.LoadBalancerNodeInformer, leases coordinationinformers.LeaseInformer,
	vips trafficinformers.VirtualIPInformer, events record.EventRecorder) *Controller {
	c := newController(client, groups.Lister(), nodes.Lister(), leases.Lister(), vips.Lister())
	c.events = events
	c.synced = []cache.InformerSynced{
		register(vips.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueVIP,
			UpdateFunc: c.vipChanged,
			DeleteFunc: c.enqueueVIP,
		}),
		register(groups.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueGroup,
			UpdateFunc: func(_, obj any) { c.enqueueGroup(obj) },
		}),
		register(nodes.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueNode,
			UpdateFunc: c.nodeChanged,
			DeleteFunc: c.enqueueNode,
		}),
		register(leases.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueLease,
			UpdateFunc: c.leaseChanged,
			DeleteFunc: c.enqueueLease,
		}),
	}
	return c
}

// register adds h to informer and returns what tells that h has seen the
// informer's initial list (an informer already stopped never does).
func register(informer cache.SharedIndexInformer, h cache.ResourceEventHandler) cache.InformerSynced {
	reg, err := informer.AddEventHandler(h)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("watching for LoadBalancerGroup status: %w", err))
		return func() bool { return false }
	}
	return reg.HasSynced
}

func newController(client versioned.Interface, groups clusterlisters.LoadBalancerGroupLister,
	nodes clusterlisters.LoadBalancerNodeLister, leases coordinationlisters.LeaseLister, vips trafficlisters.VirtualIPLister) *Controller {
	return &Controller{client: client, groups: groups, nodes: nodes, leases: leases, vips: vips, now: time.Now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "loadbalancergroups"})}
}

func (c *Controller) enqueueGroup(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// enqueueNode requeues the group of a node that came or went.
func (c *Controller) enqueueNode(obj any) {
	if n := asNode(obj); n != nil && n.Spec.Group != "" {
		c.queue.Add(n.Spec.Group)
	}
}

// nodeChanged requeues the node's groups only when its group or its Ready
// condition changed: the lb-agents' other status writes change nothing here.
func (c *Controller) nodeChanged(old, obj any) {
	a, b := asNode(old), asNode(obj)
	if a == nil || b == nil || a.Spec.Group != b.Spec.Group || !sameReadiness(a, b) {
		c.enqueueNode(old)
		c.enqueueNode(obj)
	}
}

// enqueueLease requeues the group of the node whose Lease came or went.
func (c *Controller) enqueueLease(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	node, ok := lblease.NodeOf(l)
	if !ok {
		return
	}
	if n, err := c.nodes.Get(node); err == nil && n.Spec.Group != "" {
		c.queue.Add(n.Spec.Group)
	}
}

// leaseChanged requeues only when the Lease starts or stops holding (an agent
// coming back); renewals of a live Lease change nothing, and its expiry is
// caught by the requeue that sync asks for.
func (c *Controller) leaseChanged(old, obj any) {
	a, okA := old.(*coordinationv1.Lease)
	b, okB := obj.(*coordinationv1.Lease)
	if now := c.now(); !okA || !okB || lblease.Alive(a, now) != lblease.Alive(b, now) {
		c.enqueueLease(obj)
	}
}

// enqueueVIP requeues the groups of a VirtualIP that came or went, when they
// are being deleted: only their deletion waits for VirtualIPs.
func (c *Controller) enqueueVIP(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	vip, ok := obj.(*trafficv1alpha1.VirtualIP)
	if !ok {
		return
	}
	for _, name := range vip.Spec.Groups {
		if g, err := c.groups.Get(name); err == nil && g.DeletionTimestamp != nil {
			c.queue.Add(name)
		}
	}
}

// vipChanged requeues the groups being deleted that a VirtualIP joined or
// left (its status writes change nothing here).
func (c *Controller) vipChanged(old, obj any) {
	a, okA := old.(*trafficv1alpha1.VirtualIP)
	b, okB := obj.(*trafficv1alpha1.VirtualIP)
	if okA && okB && apiequality.Semantic.DeepEqual(a.Spec.Groups, b.Spec.Groups) && (a.DeletionTimestamp == nil) == (b.DeletionTimestamp == nil) {
		return
	}
	c.enqueueVIP(old)
	c.enqueueVIP(obj)
}

func asNode(obj any) *clusterv1alpha1.LoadBalancerNode {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	n, _ := obj.(*clusterv1alpha1.LoadBalancerNode)
	return n
}

// Run processes the queue with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "loadBalancerGroup", c.sync)
}

// sync keeps the group's finalizer, removes it from a group being deleted that
// no VirtualIP lists any more, and otherwise computes the group's status and
// writes it when it changed. It asks to look again when the first live Lease
// of the group's nodes would expire.
func (c *Controller) sync(ctx context.Context, name string) (time.Duration, error) {
	group, err := c.groups.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var users []string
	switch {
	case group.DeletionTimestamp == nil:
		if group, err = c.setFinalizer(ctx, group, true); err != nil {
			return 0, err
		}
	case !inuse.Has(group, inuse.ClusterFinalizer):
		return 0, nil // not protected (removed by hand): nothing to wait for
	default:
		if users, err = c.users(name); err != nil {
			return 0, err
		}
		if len(users) == 0 {
			return 0, c.release(ctx, group)
		}
	}
	members, next, err := c.members(name)
	if err != nil {
		return 0, err
	}
	status := Status(group, members, c.now())
	var waiting *metav1.Condition
	if group.DeletionTimestamp != nil {
		cond := inuse.Condition(users, fmt.Sprintf("its nodes keep announcing them; they leave it once another group of zone %s has ready nodes, "+
			"or when their access points go or their pools leave the zone", group.Spec.Zone), group.Generation)
		cond.LastTransitionTime = metav1.NewTime(c.now())
		if inuse.Set(&status.Conditions, cond) {
			waiting = &cond
		}
	}
	if apiequality.Semantic.DeepEqual(status, &group.Status) {
		return next, nil
	}
	updated := group.DeepCopy()
	updated.Status = *status
	if _, err := c.client.ClusterV1alpha1().LoadBalancerGroups().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return 0, fmt.Errorf("status of LoadBalancerGroup %s: %w", name, err)
	}
	if waiting != nil {
		inuse.Event(c.events, updated, *waiting)
	}
	return next, nil
}

// users names the cache's VirtualIPs whose spec.groups list the group.
func (c *Controller) users(group string) ([]string, error) {
	vips, err := c.vips.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var users []string
	for _, vip := range vips {
		if slices.Contains(vip.Spec.Groups, group) {
			users = append(users, inuse.VirtualIP(vip))
		}
	}
	return users, nil
}

// release removes the finalizer of a group being deleted that the cache shows
// unused, once the API server confirms it: the cache may lag a VirtualIP
// written a moment ago.
func (c *Controller) release(ctx context.Context, group *clusterv1alpha1.LoadBalancerGroup) error {
	list, err := c.client.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing VirtualIPs for LoadBalancerGroup %s: %w", group.Name, err)
	}
	for i := range list.Items {
		if slices.Contains(list.Items[i].Spec.Groups, group.Name) {
			return fmt.Errorf("LoadBalancerGroup %s: VirtualIP %s lists it but is not in the cache yet; will look again", group.Name, list.Items[i].Name)
		}
	}
	_, err = c.setFinalizer(ctx, group, false)
	return err
}

// setFinalizer adds or removes the in-use finalizer when it is not already so,
// and returns the group as written.
func (c *Controller) setFinalizer(ctx context.Context, group *clusterv1alpha1.LoadBalancerGroup, present bool) (*clusterv1alpha1.LoadBalancerGroup, error) {
	if inuse.Has(group, inuse.ClusterFinalizer) == present {
		return group, nil
	}
	updated := group.DeepCopy()
	updated.Finalizers = inuse.With(updated.Finalizers, inuse.ClusterFinalizer, present)
	written, err := c.client.ClusterV1alpha1().LoadBalancerGroups().Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) && !present {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finalizer of LoadBalancerGroup %s: %w", group.Name, err)
	}
	return written, nil
}

// members lists the group's nodes with whether their lb-agent's Lease holds,
// and how long until the first of the live Leases expires (0: none is live).
func (c *Controller) members(group string) ([]Member, time.Duration, error) {
	all, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, 0, err
	}
	now := c.now()
	var members []Member
	var next time.Duration
	for _, n := range all {
		if n.Spec.Group != group {
			continue
		}
		left := lblease.Left(c.leases, n.Name, now)
		members = append(members, Member{Node: n, LeaseHeld: left > 0})
		if left > 0 && (next == 0 || left < next) {
			next = left
		}
	}
	return members, next, nil
}
