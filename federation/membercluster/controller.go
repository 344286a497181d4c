// Package membercluster is the hub controller of member clusters. For each
// MemberCluster it keeps, in the hub cluster, the namespace portico-cluster-<name>,
// the agent's ServiceAccount and the RBAC that confines the agent to its own
// namespace and MemberCluster; it removes them when the MemberCluster is deleted.
// It turns the agent's Lease into the Joined and Available conditions, and the
// hub credential's lifetime the agent reports into CredentialExpiring.
package membercluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	clusterinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/cluster/v1alpha1"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
)

// fieldManager owns what this controller writes.
const fieldManager = "portico-hub"

// Controller reconciles MemberClusters.
type Controller struct {
	portico  versioned.Interface
	kube     kubernetes.Interface
	clusters clusterlisters.MemberClusterLister
	leases   coordinationlisters.LeaseLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	grace    time.Duration
	// heartbeatCopy is how often a Lease renewal is copied into
	// status.agent.lastHeartbeatTime when nothing else in the status changes.
	heartbeatCopy time.Duration
	now           func() time.Time
	// ensured records when each cluster's access was last applied, so Lease
	// renewals do not re-apply it.
	ensured sync.Map // name -> ensuredAccess
}

type ensuredAccess struct {
	uid string
	at  time.Time
}

// accessRefresh is how often a cluster's namespace and RBAC are re-applied, which
// repairs hand edits.
const accessRefresh = 10 * time.Minute

// NewController watches MemberClusters and the agents' Leases (an informer limited
// to Leases named member-agent). grace is how long a Lease may go unrenewed before
// the cluster is no longer Available; heartbeatCopy how often a renewal is
// copied into the status when nothing else there changes.
func NewController(portico versioned.Interface, kube kubernetes.Interface,
	clusters clusterinformers.MemberClusterInformer, leases coordinationinformers.LeaseInformer, grace, heartbeatCopy time.Duration) *Controller {
	c := newController(portico, kube, clusters.Lister(), leases.Lister(), grace, heartbeatCopy, time.Now)
	c.synced = []cache.InformerSynced{clusters.Informer().HasSynced, leases.Informer().HasSynced}
	_, _ = clusters.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueCluster,
		UpdateFunc: func(_, obj any) { c.enqueueCluster(obj) },
		DeleteFunc: c.enqueueCluster,
	})
	_, _ = leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueLease,
		UpdateFunc: func(_, obj any) { c.enqueueLease(obj) },
		DeleteFunc: c.enqueueLease,
	})
	return c
}

func newController(portico versioned.Interface, kube kubernetes.Interface, clusters clusterlisters.MemberClusterLister,
	leases coordinationlisters.LeaseLister, grace, heartbeatCopy time.Duration, now func() time.Time) *Controller {
	return &Controller{
		portico: portico, kube: kube, clusters: clusters, leases: leases, grace: grace, heartbeatCopy: heartbeatCopy, now: now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "memberclusters"}),
	}
}

func (c *Controller) enqueueCluster(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueLease(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	if name, ok := clusterv1alpha1.ClusterOfNamespace(lease.Namespace); ok {
		c.queue.Add(name)
	}
}

// Run processes the queue with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "cluster", c.sync)
}

// sync reconciles one MemberCluster and returns when to look again (for the
// Lease's expiry).
func (c *Controller) sync(ctx context.Context, name string) (time.Duration, error) {
	mc, err := c.clusters.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if mc.DeletionTimestamp != nil {
		c.ensured.Delete(mc.Name)
		return 0, c.cleanup(ctx, mc)
	}
	if err := c.ensureFinalizer(ctx, mc); err != nil {
		return 0, err
	}
	if e, ok := c.ensured.Load(mc.Name); !ok || e.(ensuredAccess).uid != string(mc.UID) || c.now().Sub(e.(ensuredAccess).at) > accessRefresh {
		if err := c.ensureAccess(ctx, mc.Name); err != nil {
			c.ensured.Delete(mc.Name)
			return 0, fmt.Errorf("hub namespace and RBAC of %s: %w", mc.Name, err)
		}
		c.ensured.Store(mc.Name, ensuredAccess{uid: string(mc.UID), at: c.now()})
	}
	return c.updateStatus(ctx, mc)
}

func logger(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }
