// Package accesspoint is the hub controller of FederatedAccessPoints: it places
// each one on member clusters, renders a ClusterAccessPoint per placed cluster,
// keeps host claims from colliding, holds its VIP through the allocator, removes
// everything on deletion, and aggregates one status.
package accesspoint

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
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
	"github.com/portico-dev/portico/federation/apstatus"
	"github.com/portico-dev/portico/federation/certsecret"
	"github.com/portico-dev/portico/federation/vipallocator"
)

// Finalizer keeps an access point until its ClusterAccessPoints are gone and its
// VIP is back in the pool.
const Finalizer = trafficv1alpha1.AccessPointFinalizer

// Informers the controller watches.
type Informers struct {
	AccessPoints        trafficinformers.FederatedAccessPointInformer
	Revisions           trafficinformers.AccessPointRevisionInformer
	ClusterAccessPoints trafficinformers.ClusterAccessPointInformer
	VirtualIPs          trafficinformers.VirtualIPInformer
	MemberClusters      clusterinformers.MemberClusterInformer
	Nodes               clusterinformers.LoadBalancerNodeInformer
	NameServices        trafficinformers.NameServiceInformer
	// Secrets of the hub cluster's portico-system namespace, where the
	// certificate controller keeps issued certificates (optional).
	Secrets coreinformers.SecretInformer
	// Pools and Groups (optional) wake the access points whose VIP they
	// concern: a VIPPool created, changed or being deleted, a
	// LoadBalancerGroup coming, going, being deleted or changing zone or
	// readiness (the allocator reads both when it writes a VirtualIP).
	Pools  trafficinformers.VIPPoolInformer
	Groups clusterinformers.LoadBalancerGroupInformer
	// Follower reads the placement of kubefed objects access points follow
	// (optional: without it, spec.placement.follow keeps the last placement
	// and says why). Its changes reach the controller through
	// EnqueueFollowers.
	Follower Follower
}

// StatusHold is how long the status write of an access point waits, after a
// sync sent its clusters a change, for their agents to report it (see
// holdStatus): then one status write says Applied.
const StatusHold = 250 * time.Millisecond

// Controller reconciles FederatedAccessPoints.
type Controller struct {
	client   versioned.Interface
	faps     trafficlisters.FederatedAccessPointLister
	fapIndex cache.Indexer
	follower Follower
	revs     cache.Indexer
	caps     cache.Indexer
	vips     trafficlisters.VirtualIPLister
	clusters clusterlisters.MemberClusterLister
	nodes    clusterlisters.LoadBalancerNodeLister
	names    trafficlisters.NameServiceLister
	secrets  corelisters.SecretLister
	alloc    *vipallocator.Allocator
	events   record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]
	synced   []cache.InformerSynced
	now      func() time.Time

	// started is when the controller was made: the hub's controllers run
	// on the leader alone and are made when it starts leading.
	started time.Time
	// written holds, by access point key, this controller's last write of
	// the access point (its finalizer, its status): a *writtenVersion, to
	// tell whether the cache holds that write (freshest).
	written sync.Map
	// createdRevisions holds, by access point key, the last
	// AccessPointRevision this controller created (a createdRevision), until
	// the cache shows it (revisions).
	createdRevisions sync.Map
	// capWrites holds this controller's last ClusterAccessPoint writes until
	// the cache shows them (rendered).
	capWrites capWrites
	// statusHold is how long the status write may wait, after a sync sent the
	// clusters a change, for their agents' reports (holdStatus); 0 does not
	// wait. firstSent holds, by access point key, when the change the status
	// waits for was first sent.
	statusHold time.Duration
	firstSent  sync.Map
}

// writtenVersion is this controller's last write of an access point: its
// resourceVersion, and the object the API server returned until the cache
// shows that version or a later one.
type writtenVersion struct {
	rv  string
	fap *trafficv1alpha1.FederatedAccessPoint
}

// NewController wires the controller to its informers.
func NewController(client versioned.Interface, inf Informers, alloc *vipallocator.Allocator, events record.EventRecorder) *Controller {
	apstatus.AddIndex(inf.ClusterAccessPoints.Informer())
	if _, ok := inf.AccessPoints.Informer().GetIndexer().GetIndexers()[followsIndex]; !ok {
		_ = inf.AccessPoints.Informer().AddIndexers(cache.Indexers{followsIndex: followsKeys, hostsIndex: hostKeys})
	}
	if _, ok := inf.Revisions.Informer().GetIndexer().GetIndexers()[revisionsByAccessPoint]; !ok {
		_ = inf.Revisions.Informer().AddIndexers(cache.Indexers{revisionsByAccessPoint: revisionKeys})
	}
	c := &Controller{
		client: client, faps: inf.AccessPoints.Lister(), fapIndex: inf.AccessPoints.Informer().GetIndexer(), follower: inf.Follower, revs: inf.Revisions.Informer().GetIndexer(), caps: inf.ClusterAccessPoints.Informer().GetIndexer(),
		vips: inf.VirtualIPs.Lister(), clusters: inf.MemberClusters.Lister(), nodes: inf.Nodes.Lister(),
		names: inf.NameServices.Lister(),
		alloc: alloc, events: events, now: time.Now, started: time.Now(), statusHold: StatusHold,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "federatedaccesspoints"}),
	}
	for _, i := range []cache.SharedIndexInformer{inf.AccessPoints.Informer(), inf.Revisions.Informer(), inf.ClusterAccessPoints.Informer(),
		inf.VirtualIPs.Informer(), inf.MemberClusters.Informer(), inf.Nodes.Informer(), inf.NameServices.Informer()} {
		c.synced = append(c.synced, i.HasSynced)
	}
	_, _ = inf.AccessPoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.enqueueAccessPoint(obj); c.enqueueSharingHosts(obj) },
		UpdateFunc: func(old, obj any) {
			c.enqueueAccessPoint(obj)
			if claimsChanged(old, obj) {
				c.enqueueSharingHosts(old)
				c.enqueueSharingHosts(obj)
			}
		},
		DeleteFunc: func(obj any) { c.enqueueAccessPoint(obj); c.enqueueSharingHosts(obj) },
	})
	_, _ = inf.ClusterAccessPoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueRendered, UpdateFunc: func(_, obj any) { c.enqueueRendered(obj) },
		DeleteFunc: func(obj any) { c.forgetCAP(obj); c.enqueueRendered(obj) },
	})
	_, _ = inf.Revisions.Informer().AddEventHandler(handler(c.enqueueRevisionOwner))
	_, _ = inf.VirtualIPs.Informer().AddEventHandler(handler(c.enqueueVIPOwner))
	_, _ = inf.MemberClusters.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(old, obj any) {
			if placementInputsChanged(old, obj) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	// An access point reads of the LoadBalancerNodes only which groups have
	// nodes (what they announce reaches it through its VirtualIP): their
	// status writes requeue nothing.
	_, _ = inf.Nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueLoadBalanced() }, DeleteFunc: func(any) { c.enqueueLoadBalanced() },
		UpdateFunc: func(old, obj any) {
			if nodeGroupChanged(old, obj) {
				c.enqueueLoadBalanced()
			}
		},
	})
	_, _ = inf.NameServices.Informer().AddEventHandler(handler(c.enqueueNamed))
	if inf.Pools != nil {
		c.synced = append(c.synced, inf.Pools.Informer().HasSynced)
		_, _ = inf.Pools.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: c.enqueuePoolUsers, DeleteFunc: c.enqueuePoolUsers,
			UpdateFunc: func(old, obj any) {
				if poolChanged(old, obj) {
					c.enqueuePoolUsers(obj)
				}
			},
		})
	}
	if inf.Groups != nil {
		c.synced = append(c.synced, inf.Groups.Informer().HasSynced)
		_, _ = inf.Groups.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { c.enqueueLoadBalanced() }, DeleteFunc: func(any) { c.enqueueLoadBalanced() },
			UpdateFunc: func(old, obj any) {
				if groupChanged(old, obj) {
					c.enqueueLoadBalanced()
				}
			},
		})
	}
	if inf.Secrets != nil {
		c.secrets = inf.Secrets.Lister()
		c.synced = append(c.synced, inf.Secrets.Informer().HasSynced)
		_, _ = inf.Secrets.Informer().AddEventHandler(handler(c.enqueueCertified))
	}
	return c
}

func handler(f func(any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, obj any) { f(obj) }, DeleteFunc: f}
}

func unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

func (c *Controller) enqueueAccessPoint(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueRendered(obj any) {
	if keys, _ := apstatus.AccessPointKeys(unwrap(obj)); len(keys) == 1 {
		c.queue.Add(keys[0])
	}
}

// enqueueRevisionOwner wakes the access point of an AccessPointRevision (one
// deleted by hand is made again).
func (c *Controller) enqueueRevisionOwner(obj any) {
	if rev, ok := unwrap(obj).(*trafficv1alpha1.AccessPointRevision); ok {
		c.queue.Add(rev.Namespace + "/" + rev.Spec.AccessPointRef.Name)
	}
}

// enqueueVIPOwner wakes the owner of a VirtualIP, and, when one goes away, every
// access point of its pool (one of them may be waiting for an address).
func (c *Controller) enqueueVIPOwner(obj any) {
	vip, ok := unwrap(obj).(*trafficv1alpha1.VirtualIP)
	if !ok {
		return
	}
	if vip.Spec.Owner != nil {
		c.queue.Add(vip.Spec.Owner.Namespace + "/" + vip.Spec.Owner.Name)
	}
	if _, deleted := obj.(cache.DeletedFinalStateUnknown); deleted || vip.DeletionTimestamp != nil || c.vipGone(vip) {
		faps, _ := c.faps.List(labels.Everything())
		for _, f := range faps {
			if f.Spec.LoadBalancer != nil && f.Spec.LoadBalancer.Pool == vip.Spec.Pool {
				c.enqueueAccessPoint(f)
			}
		}
	}
}

// enqueuePoolUsers wakes the access points whose spec.loadBalancer names the
// pool.
func (c *Controller) enqueuePoolUsers(obj any) {
	pool, ok := unwrap(obj).(*trafficv1alpha1.VIPPool)
	if !ok {
		return
	}
	faps, _ := c.faps.List(labels.Everything())
	for _, f := range faps {
		if f.Spec.LoadBalancer != nil && f.Spec.LoadBalancer.Pool == pool.Name {
			c.enqueueAccessPoint(f)
		}
	}
}

// poolChanged tells whether a VIPPool update matters to the allocator: its
// spec or the start of its deletion (status writes do not).
func poolChanged(old, obj any) bool {
	a, okA := old.(*trafficv1alpha1.VIPPool)
	b, okB := obj.(*trafficv1alpha1.VIPPool)
	return !okA || !okB || a.Generation != b.Generation || (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil)
}

// enqueueLoadBalanced wakes every access point with spec.loadBalancer.
func (c *Controller) enqueueLoadBalanced() {
	faps, _ := c.faps.List(labels.Everything())
	for _, f := range faps {
		if f.Spec.LoadBalancer != nil {
			c.enqueueAccessPoint(f)
		}
	}
}

// nodeGroupChanged tells whether a LoadBalancerNode update changes its group.
func nodeGroupChanged(old, obj any) bool {
	a, okA := old.(*clusterv1alpha1.LoadBalancerNode)
	b, okB := obj.(*clusterv1alpha1.LoadBalancerNode)
	return !okA || !okB || a.Spec.Group != b.Spec.Group
}

// groupChanged tells whether a LoadBalancerGroup update can change the
// groups of VirtualIPs: its zone, the start of its deletion, or whether it
// has ready nodes.
func groupChanged(old, obj any) bool {
	a, okA := old.(*clusterv1alpha1.LoadBalancerGroup)
	b, okB := obj.(*clusterv1alpha1.LoadBalancerGroup)
	return !okA || !okB || a.Spec.Zone != b.Spec.Zone || (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) ||
		(a.Status.ReadyNodes > 0) != (b.Status.ReadyNodes > 0)
}

func (c *Controller) vipGone(vip *trafficv1alpha1.VirtualIP) bool {
	_, err := c.vips.Get(vip.Name)
	return apierrors.IsNotFound(err)
}

// placementInputsChanged tells whether a MemberCluster update can change what is
// placed or rendered where: labels, zone, deletion or availability (heartbeat
// copies in status do not).
func placementInputsChanged(old, obj any) bool {
	a, okA := old.(*clusterv1alpha1.MemberCluster)
	b, okB := obj.(*clusterv1alpha1.MemberCluster)
	if !okA || !okB {
		return true
	}
	return !apiequality.Semantic.DeepEqual(a.Labels, b.Labels) || !apiequality.Semantic.DeepEqual(a.Spec, b.Spec) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) || Available(a) != Available(b)
}

// claimsChanged tells whether an update may change host conflicts: hosts,
// placement or deletion.
func claimsChanged(old, obj any) bool {
	a, okA := old.(*trafficv1alpha1.FederatedAccessPoint)
	b, okB := obj.(*trafficv1alpha1.FederatedAccessPoint)
	if !okA || !okB {
		return true
	}
	return !apiequality.Semantic.DeepEqual(a.Spec.Hosts, b.Spec.Hosts) ||
		!apiequality.Semantic.DeepEqual(a.Spec.Placement, b.Spec.Placement) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil)
}

// enqueueSharingHosts wakes the access points that claim one of obj's hosts: one
// of them may be waiting for obj to let go of it.
func (c *Controller) enqueueSharingHosts(obj any) {
	fap, ok := unwrap(obj).(*trafficv1alpha1.FederatedAccessPoint)
	if !ok {
		return
	}
	for _, other := range c.sharingHosts(fap) {
		c.enqueueAccessPoint(other)
	}
}

// enqueueCertified wakes the access point of a certificate Secret.
func (c *Controller) enqueueCertified(obj any) {
	if s, ok := unwrap(obj).(*corev1.Secret); ok && s.Annotations[certsecret.AnnotationAccessPoint] != "" {
		c.queue.Add(s.Annotations[certsecret.AnnotationAccessPoint])
	}
}

// enqueueNamed wakes the access point a NameService publishes.
func (c *Controller) enqueueNamed(obj any) {
	ns, ok := unwrap(obj).(*trafficv1alpha1.NameService)
	if ok && ns.Spec.Target.AccessPointRef != nil {
		c.queue.Add(ns.Namespace + "/" + ns.Spec.Target.AccessPointRef.Name)
	}
}

func (c *Controller) enqueueAll() {
	faps, _ := c.faps.List(labels.Everything())
	for _, f := range faps {
		c.enqueueAccessPoint(f)
	}
}

// Run processes the queue until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "accessPoint", c.sync)
}

// sync reconciles one access point; a positive duration asks to look again
// then (a stage soaking).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	fap, err := c.faps.FederatedAccessPoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.written.Delete(key)
		c.createdRevisions.Delete(key)
		c.capWrites.forget(key, "")
		c.firstSent.Delete(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if fap.DeletionTimestamp != nil {
		return 0, c.cleanup(ctx, fap)
	}
	if rolloutInFlight(fap) {
		// The rollout decides from what its last sync recorded (a halt is
		// final): from the cache when it holds this controller's last
		// write, else from the object that write returned, else from the
		// API server.
		if fresh := c.freshest(key, fap); fresh != nil {
			fap = fresh
		} else if fap, err = c.client.TrafficV1alpha1().FederatedAccessPoints(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return 0, nil
			}
			return 0, err
		}
		if fap.DeletionTimestamp != nil {
			// Deleted after the cache's version.
			return 0, c.cleanup(ctx, fap)
		}
	}
	if err := c.ensureFinalizer(ctx, fap); err != nil {
		return 0, err
	}
	return c.reconcile(ctx, fap)
}

// freshest returns the cached access point when it holds every write of this
// controller to it: the cache shows the resourceVersion of the last one or a
// later one (a user's edit since: watch events arrive in order, so the cache
// saw the write before it). resourceVersions of one resource compare as
// numbers (k8s.io/apimachinery's resourceversion); one that does not is
// compared for equality only. When the cache lags behind that write, it
// returns the object the write returned: the same state a cache at that
// version would hold (an edit after it is still to come through the cache,
// and syncs the access point again). nil: neither is known, read the API
// server. An access point this controller never wrote is fresh in the cache
// when it was created after the controller started (no other controller
// writes it: a previous leader stopped before this one started).
func (c *Controller) freshest(key string, cached *trafficv1alpha1.FederatedAccessPoint) *trafficv1alpha1.FederatedAccessPoint {
	v, ok := c.written.Load(key)
	if !ok {
		if cached.CreationTimestamp.Time.After(c.started) {
			return cached
		}
		return nil
	}
	w := v.(*writtenVersion)
	if w.rv == "" {
		return nil
	}
	if atLeast(cached.ResourceVersion, w.rv) {
		if w.fap != nil {
			// The cache caught up: keep the version only.
			c.written.CompareAndSwap(key, w, &writtenVersion{rv: w.rv})
		}
		return cached
	}
	return w.fap
}

// wrote records the access point as this controller wrote it.
func (c *Controller) wrote(fap *trafficv1alpha1.FederatedAccessPoint) {
	key, err := cache.MetaNamespaceKeyFunc(fap)
	if err != nil {
		return
	}
	if fap.ResourceVersion == "" {
		c.written.Store(key, &writtenVersion{})
		return
	}
	kept := fap.DeepCopy()
	kept.ManagedFields = nil
	c.written.Store(key, &writtenVersion{rv: fap.ResourceVersion, fap: kept})
}

// rolloutInFlight tells whether the access point's status may record a
// rollout step newer than the cache shows: a spec not yet observed, or a
// rollout that is not Complete. An access point at rest is read from the
// cache only.
func rolloutInFlight(fap *trafficv1alpha1.FederatedAccessPoint) bool {
	r := fap.Status.Rollout
	return fap.Status.ObservedGeneration != fap.Generation || r == nil || r.Phase != trafficv1alpha1.RolloutComplete
}
