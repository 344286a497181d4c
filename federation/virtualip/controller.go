// Package virtualip is the hub controller of VirtualIP status: it gathers, from
// the LoadBalancerNodes of the VIP's groups, which nodes announce it and how many
// of its backends pass their health checks. A node whose lb-agent stopped
// renewing its Lease (lb-agent-<node> in portico-edge, judged by package
// lblease) no longer counts: its last status is stale, and its routes leave the
// routers when BGP times out.
package virtualip

import (
	"context"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	clusterinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/cluster/v1alpha1"
	trafficinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/traffic/v1alpha1"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	"github.com/portico-dev/portico/apis/traffic"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/lblease"
)

// Condition reasons of VirtualIP.
const (
	ReasonAnnounced    = traffic.VirtualIPReasonAnnounced
	ReasonNotAnnounced = traffic.VirtualIPReasonNotAnnounced
)

// Controller keeps VirtualIP status.
type Controller struct {
	client versioned.Interface
	vips   trafficlisters.VirtualIPLister
	nodes  clusterlisters.LoadBalancerNodeLister
	leases coordinationlisters.LeaseLister // nil: every node counts as alive
	now    func() time.Time
	queue  workqueue.TypedRateLimitingInterface[string]
	synced []cache.InformerSynced
}

// NewController watches VirtualIPs, LoadBalancerNodes and the lb-agents' Leases
// (an informer of lblease.Namespace).
func NewController(client versioned.Interface, vips trafficinformers.VirtualIPInformer, nodes clusterinformers.LoadBalancerNodeInformer,
	leases coordinationinformers.LeaseInformer) *Controller {
	c := newController(client, vips.Lister(), nodes.Lister())
	c.leases = leases.Lister()
	c.synced = []cache.InformerSynced{vips.Informer().HasSynced, nodes.Informer().HasSynced, leases.Informer().HasSynced}
	_, _ = leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: func(old, obj any) { c.leaseRenewed(old, obj) },
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	_, _ = vips.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	all := func(any) { c.enqueueAll() }
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, UpdateFunc: func(_, obj any) { all(obj) }, DeleteFunc: all,
	})
	return c
}

func newController(client versioned.Interface, vips trafficlisters.VirtualIPLister, nodes clusterlisters.LoadBalancerNodeLister) *Controller {
	return &Controller{client: client, vips: vips, nodes: nodes, now: time.Now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "virtualips"})}
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAll() {
	vips, _ := c.vips.List(labels.Everything())
	for _, v := range vips {
		c.queue.Add(v.Name)
	}
}

// leaseRenewed wakes every VIP only when a Lease starts or stops counting (a
// node coming back); renewals of a live Lease change nothing.
func (c *Controller) leaseRenewed(old, obj any) {
	a, okA := old.(*coordinationv1.Lease)
	b, okB := obj.(*coordinationv1.Lease)
	if now := c.now(); !okA || !okB || lblease.Alive(a, now) != lblease.Alive(b, now) {
		c.enqueueAll()
	}
}

// Run processes the queue until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "virtualIP", c.sync)
}

func (c *Controller) sync(ctx context.Context, name string) (time.Duration, error) {
	vip, err := c.vips.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	all, err := c.nodes.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	// Live nodes count; look again when the first of their Leases expires.
	var nodes []*clusterv1alpha1.LoadBalancerNode
	var next time.Duration
	for _, n := range all {
		left := c.leaseLeft(n.Name)
		if left <= 0 {
			continue
		}
		nodes = append(nodes, n)
		if c.leases != nil && (next == 0 || left < next) {
			next = left
		}
	}
	status := Status(vip, nodes)
	if apiequality.Semantic.DeepEqual(status, &vip.Status) {
		return next, nil
	}
	updated := vip.DeepCopy()
	updated.Status = *status
	_, err = c.client.TrafficV1alpha1().VirtualIPs().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	return next, err
}

// leaseLeft is how long the node's lb-agent Lease still holds (a day when
// Leases are not watched; zero or less when missing or expired).
func (c *Controller) leaseLeft(node string) time.Duration {
	if c.leases == nil {
		return 24 * time.Hour
	}
	return lblease.Left(c.leases, node, c.now())
}

// Status computes a VirtualIP's status from the nodes of its groups: the nodes
// announcing it, and the most healthy backends any of them sees.
func Status(vip *trafficv1alpha1.VirtualIP, nodes []*clusterv1alpha1.LoadBalancerNode) *trafficv1alpha1.VirtualIPStatus {
	status := vip.Status.DeepCopy()
	status.ObservedGeneration = vip.Generation
	status.AnnouncedBy, status.HealthyBackends = nil, 0
	for _, n := range nodes {
		if !slices.Contains(vip.Spec.Groups, n.Spec.Group) {
			continue
		}
		if slices.Contains(n.Status.Announced, vip.Spec.Address) {
			status.AnnouncedBy = append(status.AnnouncedBy, n.Name)
		}
		for _, h := range n.Status.VIPs {
			if h.Address == vip.Spec.Address && h.HealthyBackends > status.HealthyBackends {
				status.HealthyBackends = h.HealthyBackends
			}
		}
	}
	slices.Sort(status.AnnouncedBy)
	cond := traffic.VirtualIPNotAnnounced(vip.Spec.Address, vip.Spec.Groups, vip.Generation)
	if len(status.AnnouncedBy) > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonAnnounced
		cond.Message = "announced by " + strings.Join(status.AnnouncedBy, ", ")
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	return status
}
