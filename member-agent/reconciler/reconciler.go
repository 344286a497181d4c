// Package reconciler applies every ClusterAccessPoint of the agent's cluster
// namespace to the member cluster, prunes what was removed, repairs drift, and
// reports status. It only learns of removals from the hub: while the hub is
// unreachable its caches keep the last state, so nothing is deleted or changed.
//
// It touches only what it wrote: an object of the same name that is not the
// ClusterAccessPoint's (see package apply) is left as it is and reported
// Applied=false with a message starting "Conflict:", which makes the
// ClusterAccessPoint Degraded; pruning deletes only objects carrying the
// ClusterAccessPoint's owner UID, and never a Namespace.
package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	trafficclient "github.com/portico-dev/portico/apis/generated/clientset/versioned/typed/traffic/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
)

// Endpoints returns the gateway endpoints serving a Gateway selector.
type Endpoints func(selector map[string]string) ([]trafficv1alpha1.GatewayEndpoint, error)

// Metrics observe the reconciler.
type Metrics interface {
	ObserveApply(kind string, d time.Duration, err error)
	ObserveReconcile(err error)
}

// Reconciler reconciles the ClusterAccessPoints of one cluster namespace.
type Reconciler struct {
	caps      trafficclient.ClusterAccessPointInterface
	lister    trafficlisters.ClusterAccessPointNamespaceLister
	applier   apply.Applier
	endpoints Endpoints
	metrics   Metrics
	queue     workqueue.TypedRateLimitingInterface[string]
	synced    cache.InformerSynced
	// conflictRecheck is when a ClusterAccessPoint with objects in conflict is
	// reconciled again: the objects in its way are not watched, so their removal
	// would otherwise wait for the next resync.
	conflictRecheck time.Duration
	// guard, when set, holds mass removals (see Guard).
	guard *Guard
	// gatewayAPI reads the status and the Services of Gateway API objects.
	gatewayAPI GatewayAPIReaders
}

// conflictRecheck is the default of Reconciler.conflictRecheck.
const conflictRecheck = 30 * time.Second

// New returns a reconciler; caps writes status in the cluster namespace.
func New(caps trafficclient.ClusterAccessPointInterface, lister trafficlisters.ClusterAccessPointNamespaceLister,
	synced cache.InformerSynced, applier apply.Applier, endpoints Endpoints, metrics Metrics) *Reconciler {
	return &Reconciler{
		caps: caps, lister: lister, synced: synced, applier: applier, endpoints: endpoints, metrics: metrics,
		conflictRecheck: conflictRecheck,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "clusteraccesspoints"}),
	}
}

// SetGuard makes the reconciler hold mass removals with g; a confirmed hold
// sweeps again at once.
func (r *Reconciler) SetGuard(g *Guard) {
	r.guard = g
	g.Recheck = func() { r.queue.Add(orphanKey) }
}

// Enqueue asks for one ClusterAccessPoint (by name) to be reconciled.
func (r *Reconciler) Enqueue(name string) { r.queue.Add(name) }

// EnqueueAll asks for every known ClusterAccessPoint to be reconciled.
func (r *Reconciler) EnqueueAll() {
	caps, _ := r.lister.List(labels.Everything())
	for _, c := range caps {
		r.queue.Add(c.Name)
	}
}

// EnqueueLabelled maps an access point label value back to its ClusterAccessPoint.
func (r *Reconciler) EnqueueLabelled(value string) {
	if _, err := r.lister.Get(value); err == nil {
		r.queue.Add(value)
		return
	}
	caps, _ := r.lister.List(labels.Everything())
	for _, c := range caps {
		if apply.LabelValue(c.Name) == value {
			r.queue.Add(c.Name)
			return
		}
	}
	// No such access point (any more): the orphan sweep removes the object.
	r.queue.Add(orphanKey)
}

// orphanKey asks for a sweep of labelled objects whose access point is gone.
const orphanKey = "\x00orphans"

// Run reconciles with workers until ctx is done, and sweeps orphans every
// sweepEvery. Nothing happens before the hub cache synced: the queue's workers
// start only then.
func (r *Reconciler) Run(ctx context.Context, workers int, sweepEvery time.Duration) {
	r.queue.Add(orphanKey)
	go wait.UntilWithContext(ctx, func(context.Context) { r.queue.Add(orphanKey) }, sweepEvery)
	runqueue.Run(ctx, r.queue, []cache.InformerSynced{r.synced}, workers, "clusterAccessPoint", r.sync)
}

// sync reconciles one key for the queue and observes the outcome.
func (r *Reconciler) sync(ctx context.Context, key string) (time.Duration, error) {
	err := r.reconcile(ctx, key)
	r.metrics.ObserveReconcile(err)
	return 0, err
}

func (r *Reconciler) reconcile(ctx context.Context, name string) error {
	if name == orphanKey {
		return r.sweep(ctx, "")
	}
	cap, err := r.lister.Get(name)
	if apierrors.IsNotFound(err) {
		// Deleted on the hub: everything written for it is an orphan now.
		return r.sweep(ctx, name)
	}
	if err != nil {
		return err
	}
	// What an earlier ClusterAccessPoint of the same name left behind goes
	// first: it would stand in the way as a conflict.
	if err := r.sweep(ctx, name); err != nil {
		return err
	}
	results, objects := r.applyAll(ctx, cap)
	if err := r.prune(ctx, cap, objects); err != nil {
		return err
	}
	if slices.ContainsFunc(results, inConflict) {
		r.queue.AddAfter(name, r.conflictRecheck)
	}
	return r.writeStatus(ctx, cap, results, objects)
}

// inConflict tells whether an object was not applied because an object of the
// same name that is not the ClusterAccessPoint's is in its way.
func inConflict(o trafficv1alpha1.ObjectStatus) bool {
	return !o.Applied && strings.HasPrefix(o.Message, apply.ConflictPrefix)
}

// applyAll applies the manifests in order (namespaces, then what Istio objects
// refer to, then Istio objects), the objects of one place in that order at
// once. A refused object (an invalid one, or one whose name an object of
// someone else holds: a conflict) does not stop the others.
func (r *Reconciler) applyAll(ctx context.Context, cap *trafficv1alpha1.ClusterAccessPoint) ([]trafficv1alpha1.ObjectStatus, []apply.Object) {
	statuses := make([]trafficv1alpha1.ObjectStatus, len(cap.Spec.Manifests))
	owner := apply.Owner{Name: cap.Name, UID: cap.UID}
	var objects []apply.Object
	var order []int
	for i, m := range cap.Spec.Manifests {
		obj, err := apply.Parse(m.Raw, owner)
		statuses[i] = trafficv1alpha1.ObjectStatus{Group: obj.GVK.Group, Kind: obj.GVK.Kind, Namespace: obj.Namespace, Name: obj.Name}
		if err != nil {
			statuses[i].Kind, statuses[i].Message = kindOf(m.Raw), err.Error()
			continue
		}
		objects = append(objects, obj)
		order = append(order, i)
	}
	idx := make([]int, len(objects))
	for i := range idx {
		idx[i] = i
	}
	place := func(i int) int { return apply.Order(objects[i].GVK.GroupKind()) }
	slices.SortStableFunc(idx, func(a, b int) int { return place(a) - place(b) })
	for len(idx) > 0 {
		n := 1
		for n < len(idx) && place(idx[n]) == place(idx[0]) {
			n++
		}
		var wg sync.WaitGroup
		for _, i := range idx[:n] {
			wg.Go(func() {
				st := &statuses[order[i]]
				err := r.applyOne(ctx, objects[i])
				st.Applied = err == nil
				if err != nil {
					st.Message = err.Error()
				}
			})
		}
		wg.Wait()
		idx = idx[n:]
	}
	return statuses, objects
}

func (r *Reconciler) applyOne(ctx context.Context, obj apply.Object) error {
	start := time.Now()
	var err error
	if obj.Namespace != "" {
		err = r.applier.EnsureNamespace(ctx, obj.Namespace)
	}
	if err == nil {
		err = r.applier.Apply(ctx, obj)
	}
	r.metrics.ObserveApply(obj.GVK.Kind, time.Since(start), err)
	return err
}

// prune deletes the objects written for the ClusterAccessPoint that it no longer
// lists. An object carrying its label with another owner is not its to delete,
// and namespaces are never pruned.
func (r *Reconciler) prune(ctx context.Context, cap *trafficv1alpha1.ClusterAccessPoint, keep []apply.Object) error {
	existing, err := r.applier.List(ctx, cap.Name)
	if err != nil {
		return err
	}
	owner := apply.Owner{Name: cap.Name, UID: cap.UID}
	wanted := map[string]bool{}
	for _, o := range keep {
		wanted[key(o.Ref)] = true
	}
	for _, e := range existing {
		if wanted[key(e.Ref)] || !owner.Owns(e) || !apply.Prunable(e.GVK.GroupKind()) {
			continue
		}
		if err := r.applier.Delete(ctx, e.Ref); err != nil {
			return fmt.Errorf("pruning %s: %w", e.Ref, err)
		}
		klog.FromContext(ctx).Info("Pruned", "object", e.Ref.String(), "clusterAccessPoint", cap.Name)
	}
	return nil
}

// sweep deletes the objects written for ClusterAccessPoints that no longer
// exist on the hub (deleted, maybe while the agent was down, or replaced by one
// of the same name): their owner UID — on objects of an agent that predates
// owner UIDs, their access point label — is no live ClusterAccessPoint's. With
// a name it looks only at the objects labelled for that ClusterAccessPoint, with
// "" at all. Namespaces are never deleted.
func (r *Reconciler) sweep(ctx context.Context, accessPoint string) error {
	existing, err := r.applier.List(ctx, accessPoint)
	if err != nil {
		return err
	}
	uids, names, err := r.live(accessPoint)
	if err != nil {
		return err
	}
	orphaned := func(e apply.Labelled) bool {
		live := names[e.AccessPoint]
		if e.OwnerUID != "" {
			live = uids[e.OwnerUID]
		}
		return !live && apply.Prunable(e.GVK.GroupKind())
	}
	var orphans []apply.Labelled
	findOrphans := func() {
		orphans = orphans[:0]
		for _, e := range existing {
			if orphaned(e) {
				orphans = append(orphans, e)
			}
		}
	}
	findOrphans()
	if len(orphans) > 0 && accessPoint != "" {
		// An object may belong to another live ClusterAccessPoint by its
		// owner UID: look at all of them before removing anything.
		if uids, names, err = r.live(""); err != nil {
			return err
		}
		findOrphans()
	}
	if len(orphans) == 0 {
		if accessPoint == "" {
			r.guard.Settle(len(accessPoints(existing)))
		}
		return nil
	}
	if r.guard != nil {
		r.guard.Refresh(ctx)
		all := existing
		if accessPoint != "" {
			if all, err = r.applier.List(ctx, ""); err != nil {
				return err
			}
		}
		gone, objects := map[string]bool{}, 0
		for _, e := range all {
			// An access point the hub lists again (a new ClusterAccessPoint
			// of the same name) is replaced, not removed.
			if orphaned(e) && !names[e.AccessPoint] {
				gone[e.AccessPoint] = true
				objects++
			}
		}
		if !r.guard.Allow(slices.Collect(maps.Keys(gone)), len(accessPoints(all)), objects) {
			klog.FromContext(ctx).Info("Holding a mass removal", "message", r.guard.Current().Message())
			return nil
		}
	}
	for _, e := range orphans {
		if err := r.applier.Delete(ctx, e.Ref); err != nil {
			return fmt.Errorf("removing orphan %s: %w", e.Ref, err)
		}
		klog.FromContext(ctx).Info("Removed orphan", "object", e.Ref.String(), "accessPoint", e.AccessPoint, "ownerUID", e.OwnerUID)
	}
	return nil
}

// live returns the UIDs and label values of the ClusterAccessPoints that
// objects labelled for accessPoint ("": any) may belong to: only that one
// when named, so that a ClusterAccessPoint's sync does not read all of them.
func (r *Reconciler) live(accessPoint string) (uids, names map[string]bool, err error) {
	uids, names = map[string]bool{}, map[string]bool{}
	var caps []*trafficv1alpha1.ClusterAccessPoint
	if accessPoint == "" {
		if caps, err = r.lister.List(labels.Everything()); err != nil {
			return nil, nil, err
		}
	} else {
		cap, err := r.lister.Get(accessPoint)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, nil, err
		default:
			caps = append(caps, cap)
		}
	}
	for _, c := range caps {
		uids[string(c.UID)], names[apply.LabelValue(c.Name)] = true, true
	}
	return uids, names, nil
}

// accessPoints are the access points (label values) that objects belong to.
func accessPoints(objects []apply.Labelled) map[string]bool {
	aps := map[string]bool{}
	for _, e := range objects {
		aps[e.AccessPoint] = true
	}
	return aps
}

func key(r apply.Ref) string {
	return r.GVK.Group + "/" + r.GVK.Kind + "/" + r.Namespace + "/" + r.Name
}

func kindOf(raw []byte) string {
	var head struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(raw, &head)
	return head.Kind
}
