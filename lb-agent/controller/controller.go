// Package controller is the lb-agent's reconciler. It watches the hub for the
// VirtualIPs of its group and for the LoadBalancerGroup, and on every change (and
// every resync period) it builds the desired state
// (lb-agent/model) with the health checks' verdicts, applies it to the dataplane
// in one declarative call, announces over BGP the VIPs the dataplane serves that
// have a healthy backend, and reports the node's status when it changed.
//
// A change of VirtualIPs on the hub costs what those VirtualIPs cost, however
// many the node serves, so that it reaches the kernel quickly among
// thousands: the informer's handlers note the names of the VirtualIPs that
// changed, and the next synchronization reads those from the cache, rebuilds
// their VIPs alone and hands the dataplane the services of the VIPs that
// changed (dataplane.Update); the probes, the announcements and the status
// follow from the VIPs that changed, and the state file is written
// afterwards, off the synchronization path. Everything is synchronized
// (listed, built and applied with dataplane.Set) at start, on a change of
// the group, after a health verdict changed (which rebuilds every VIP),
// after a synchronization failed, when changes withdraw a VIP (the
// withdrawal guard looks at the whole cache), while a withdrawal is held and
// every resync period.
//
// While the hub is unreachable the informers keep their last contents, so the
// node keeps serving and announcing what it last knew. Every desired state
// that came from the hub is also kept in a state file (lb-agent/statefile): an
// agent that starts before the hub answers serves that file's state, its health
// checks gating the announcements as always, and the hub's state replaces it
// once the caches have synced. Without a state file the agent programs nothing
// before its caches have synced, so a restart never flushes the dataplane.
//
// A mass withdrawal (the hub lost or replaced its data) is held until it is
// confirmed or the situation reverts (withdrawguard.go): the VIPs concerned
// stay programmed and announced, and the node reports WithdrawHeld.
package controller

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/bgp"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/metrics"
	"github.com/portico-dev/portico/lb-agent/model"
)

// Speaker announces VIPs; *bgp.Speaker implements it.
type Speaker interface {
	SetConfig(context.Context, bgp.Config) error
	Set(context.Context, []netip.Addr) error
	Sessions() []bgp.Session
}

// Health runs probes and gives their verdicts; *healthcheck.Checker implements it.
type Health interface {
	Set([]model.Probe)
	Verdict(model.Probe) model.Verdict
}

// Options of the controller.
type Options struct {
	// Node is the LoadBalancerNode's name, Group its LoadBalancerGroup.
	Node, Group string
	// Address of the node: BGP router ID and next hop, IPIP tunnel source.
	Address netip.Addr
	// DataplaneType is reported in the status (ipvs).
	DataplaneType string
	// ResyncPeriod: every period the whole state is applied again (the IPVS
	// dataplane reads the kernel back on its own, slower, interval).
	ResyncPeriod time.Duration
	// SystemNamespace of the hub cluster holds the BGP password Secrets.
	SystemNamespace string
	// LeaseNamespace of the hub cluster holds the node's Lease (lb-agent-<node>).
	LeaseNamespace string
	// LeaseDuration of the node's Lease, renewed every quarter of it.
	LeaseDuration time.Duration
	// StateFile keeps the last desired state from the hub (lb-agent/statefile),
	// served at start until the hub's caches have synced. Empty: none.
	StateFile string
	// A withdrawal of more than WithdrawHoldFraction (0 < f <= 1) of the VIPs
	// served, and of at least WithdrawHoldMin VIPs, is held until confirmed
	// (see withdrawGuard). Zero: the defaults.
	WithdrawHoldFraction float64
	WithdrawHoldMin      int
}

// Controller reconciles one edge node.
type Controller struct {
	opts      Options
	portico   versioned.Interface
	kube      kubernetes.Interface
	vips      trafficlisters.VirtualIPLister
	groups    clusterlisters.LoadBalancerGroupLister
	synced    []cache.InformerSynced
	start     func(stop <-chan struct{})
	dataplane dataplane.Dataplane
	speaker   Speaker
	health    Health
	queue     workqueue.TypedRateLimitingInterface[string]
	now       func() time.Time

	// Owned by the worker.
	draining bool
	// announced is sorted; replaced, never modified (the status writer
	// reads it).
	announced []netip.Addr
	passwords map[clusterv1alpha1.SecretKeyReference]password // last read
	disk      *hubState                                       // loaded from the state file, served until the caches sync
	// served is what the last synchronization served, its VirtualIPs those
	// of byName while that is set.
	served hubState
	// byName holds, while the node serves the hub's VirtualIPs as they are
	// (its group exists, no withdrawal held), those it serves by name, and
	// addrs counts them by address: what the withdrawal guard of a change
	// looks at.
	byName map[string]*trafficv1alpha1.VirtualIP
	addrs  map[string]int
	// model rebuilds only the VirtualIPs whose spec changed; every VirtualIP
	// after lastRebuild+ResyncPeriod and when rebuild is set (a health
	// verdict changed, Enqueue).
	model       model.Index
	lastRebuild time.Time
	rebuild     atomic.Bool
	// relist is set when the group changed: the next synchronization is a
	// full one.
	relist atomic.Bool
	// changed holds the names of the VirtualIPs changed on the hub since the
	// last synchronization; incremental tells whether the next one may apply
	// them alone: the last one served the hub's state (byName is set)
	// without an error.
	changed     changeSet
	incremental bool
	// probes counts the VIPs served that run each probe.
	probes map[model.Probe]int
	// vipStatus is the status of each VIP served, sorted by address;
	// replaced, never modified (the status writer reads it).
	vipStatus []*vipStatus
	// programmed counts what the dataplane serves.
	programmed dataplane.Status

	saver *saver // nil without a state file

	guard *withdrawGuard

	// latest is the newest observation for the status writer, which owns node
	// and the announcements as strings.
	latest       chan observed
	node         *clusterv1alpha1.LoadBalancerNode // as last read or written
	announcedFor []netip.Addr                      // the announcements announcedStr are of
	announcedStr []string

	mu       sync.Mutex
	lastSync time.Time // end of the last sync attempt, for /healthz
}

// New returns a controller for the node of opts. It watches every VirtualIP (no
// field selector can express "spec.groups contains") and only its own group.
func New(opts Options, portico versioned.Interface, kube kubernetes.Interface,
	dp dataplane.Dataplane, speaker Speaker, health Health) *Controller {
	vipFactory := externalversions.NewSharedInformerFactory(portico, 0)
	groupFactory := externalversions.NewSharedInformerFactoryWithOptions(portico, 0,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.Group).String()
		}))
	vips := vipFactory.Traffic().V1alpha1().VirtualIPs()
	groups := groupFactory.Cluster().V1alpha1().LoadBalancerGroups()
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second)
	c := &Controller{
		opts: opts, portico: portico, kube: kube, vips: vips.Lister(), groups: groups.Lister(),
		dataplane: dp, speaker: speaker, health: health, now: time.Now,
		guard: &withdrawGuard{fraction: cmp.Or(opts.WithdrawHoldFraction, DefaultWithdrawHoldFraction),
			min: cmp.Or(opts.WithdrawHoldMin, DefaultWithdrawHoldMin)},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "lb-agent"}),
		synced: []cache.InformerSynced{vips.Informer().HasSynced, groups.Informer().HasSynced},
		latest: make(chan observed, 1),
		start: func(stop <-chan struct{}) {
			vipFactory.Start(stop)
			groupFactory.Start(stop)
		},
	}
	if opts.StateFile != "" {
		c.saver = newSaver(opts.StateFile, opts.Group, func() time.Time { return c.now() })
	}
	// A change of VirtualIPs is synchronized alone; a change of the group,
	// in full.
	vipChanged := func(obj any) {
		if name, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.changed.add(name)
		}
		c.requeue()
	}
	_, _ = vips.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    vipChanged,
		UpdateFunc: func(_, obj any) { vipChanged(obj) },
		DeleteFunc: vipChanged,
	})
	groupChanged := func(any) {
		c.relist.Store(true)
		c.requeue()
	}
	_, _ = groups.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    groupChanged,
		UpdateFunc: func(_, obj any) { groupChanged(obj) },
		DeleteFunc: groupChanged,
	})
	return c
}

// changeSet is a set of VirtualIP names, added to by the informer's handlers.
type changeSet struct {
	mu    sync.Mutex
	names map[string]struct{}
}

func (s *changeSet) add(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[string]struct{}{}
	}
	s.names[name] = struct{}{}
}

// take empties the set and returns what it held.
func (s *changeSet) take() map[string]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := s.names
	s.names = nil
	return names
}

// Enqueue asks for a full synchronization that builds the desired state of
// every VirtualIP anew.
func (c *Controller) Enqueue() {
	c.rebuild.Store(true)
	c.requeue()
}

// requeue asks for a synchronization.
func (c *Controller) requeue() { c.queue.Add(c.opts.Node) }

// HealthChanged is the health checker's callback.
func (c *Controller) HealthChanged(p model.Probe, v model.Verdict) {
	labels := []string{p.Backend.String(), string(p.Type)}
	if v == model.Unknown {
		metrics.BackendHealthy.DeleteLabelValues(labels...)
	} else {
		metrics.BackendHealthy.WithLabelValues(labels...).Set(map[bool]float64{true: 1}[v == model.Healthy])
	}
	metrics.HealthChecks.WithLabelValues(v.String()).Inc()
	klog.V(2).InfoS("Backend health changed", "backend", p.Backend, "type", p.Type, "verdict", v)
	c.Enqueue()
}

// Run synchronizes until ctx is done, then withdraws every announcement,
// reports it, waits drain and returns. The dataplane is left as it is, so
// connections still arriving during the routers' convergence, and established
// ones, are served.
func (c *Controller) Run(ctx context.Context, drain time.Duration) {
	defer utilruntime.HandleCrash()
	c.load()
	go c.renewLease(ctx)
	c.start(ctx.Done())
	if c.disk == nil {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			c.queue.ShutDown()
			return
		}
	} else {
		// Serve the state file now; synchronize again as soon as the
		// hub's state can replace it, however long that takes.
		go func() {
			if cache.WaitForCacheSync(ctx.Done(), c.synced...) {
				c.Enqueue()
			}
		}()
	}
	c.Enqueue()
	written := make(chan struct{})
	go func() {
		defer close(written)
		c.writeStatus(ctx)
	}()
	stopSaving, saved := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(saved)
		c.saver.run(stopSaving)
	}()
	// One worker; the caches have synced already, or the state file stands in
	// for them. Run returns once the worker stopped, so the withdrawal below
	// does not race with a synchronization.
	runqueue.Run(ctx, c.queue, nil, 1, "node", c.syncNode)
	close(stopSaving) // the state file is written a last time if it has to
	<-written
	c.withdraw(drain)
	<-saved
}

// syncNode synchronizes the node (the queue holds one key, the node's name) and
// asks for the next synchronization after the resync period, sooner while a
// withdrawal is held. An error of a synchronization cut short by the agent
// stopping is not retried.
func (c *Controller) syncNode(ctx context.Context, _ string) (time.Duration, error) {
	err := c.sync(ctx)
	c.mu.Lock()
	c.lastSync = c.now()
	c.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		return 0, err
	}
	if c.guard.current() != nil {
		return min(c.opts.ResyncPeriod, holdRecheck), nil
	}
	return c.opts.ResyncPeriod, nil
}

// withdraw announces nothing any more, says so in the status and waits drain.
func (c *Controller) withdraw(drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.draining = true
	if err := c.speaker.Set(ctx, nil); err != nil {
		klog.ErrorS(err, "Withdrawing the announcements")
	}
	klog.InfoS("Withdrew every announcement; draining", "period", drain)
	c.announced = nil
	metrics.Announced.Set(0)
	// The status writer may have had a write in flight when the agent was
	// told to stop (its context is cancelled, the write may still land): on a
	// conflict, read the node again and report once more.
	obs := observed{dataplaneSkipped: true, draining: true, sessions: c.speaker.Sessions()}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return c.report(ctx, obs) }); err != nil {
		klog.ErrorS(err, "Reporting the withdrawal")
	}
	time.Sleep(drain)
}

// Healthy is false when synchronizations stopped happening (the worker is
// stuck); waiting for the hub at start-up is not unhealthy.
func (c *Controller) Healthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSync.IsZero() || c.now().Sub(c.lastSync) < 3*c.opts.ResyncPeriod+time.Minute
}

// observed is what one synchronization found, for the status.
type observed struct {
	groupMissing     bool
	modelErr         error
	dataplane        dataplane.Status
	dataplaneErr     error
	dataplaneSkipped bool // keep the dataplane part of the status as it is
	bgpErr           error
	sessions         []bgp.Session
	announced        []netip.Addr
	draining         bool
	vips             []*vipStatus
	hold             *withdrawHold
}

// vipStatus is the node's view of one VIP, for the hub; never modified.
type vipStatus struct {
	address netip.Addr
	health  clusterv1alpha1.VIPHealth
}

// sync applies the changes of VirtualIPs noted since the last
// synchronization alone when it can (syncChanges), and else the whole desired
// state (syncAll).
func (c *Controller) sync(ctx context.Context) error {
	start := c.now()
	defer func() { metrics.SyncDuration.Observe(time.Since(start).Seconds()) }()
	names := c.changed.take() // before the full synchronization lists them
	if c.incremental && !c.rebuild.Load() && !c.relist.Load() && c.now().Sub(c.lastRebuild) < c.opts.ResyncPeriod {
		if done, err := c.syncChanges(ctx, names); done {
			return err
		}
	}
	return c.syncAll(ctx)
}

// syncAll applies the whole desired state to the dataplane and BGP, then
// hands what it observed to the status writer and, when it came from the hub,
// to the state file's writer. It never waits for the hub: the listers serve
// the last state known, and before they have synced the state file does.
// (Only a withdrawal reads the node from the hub first, see
// guardWithdrawals.)
func (c *Controller) syncAll(ctx context.Context) error {
	start := c.now()
	c.relist.Store(false)
	c.incremental = false
	in, fromHub, err := c.source()
	if err != nil {
		return err
	}
	held := false
	if fromHub {
		in, held = c.guardWithdrawals(ctx, in)
	}
	c.serve(in, fromHub && !held)
	state, obs := c.desired(in.group, in.vips)
	// The dataplane first: what follows does not change what it serves.
	dpStart := time.Now()
	obs.dataplane, obs.dataplaneErr = c.dataplane.Set(ctx, state.Services())
	metrics.DataplaneSyncDuration.Observe(time.Since(dpStart).Seconds())
	c.programmed = dataplane.Status{Services: obs.dataplane.Services, Destinations: obs.dataplane.Destinations}
	c.health.Set(state.Probes())
	c.probes = countProbes(state)
	c.vipStatus = vipHealth(state)
	obs.vips, obs.hold = c.vipStatus, c.guard.current()
	metrics.Services.Set(float64(obs.dataplane.Services))
	metrics.Destinations.Set(float64(obs.dataplane.Destinations))
	obs.bgpErr = c.announce(ctx, in.group, intersect(state.Announced(), obs.dataplane.Ready))
	c.conclude(obs)
	if fromHub {
		c.saver.replace(in, c.groupPasswords(in.group), c.guard.identity())
	}
	c.incremental = c.byName != nil && obs.dataplaneErr == nil && obs.bgpErr == nil
	klog.V(4).InfoS("Synchronized", "vips", len(state.VIPs), "services", obs.dataplane.Services,
		"announced", len(c.announced), "fromHub", fromHub, "duration", time.Since(start))
	return errors.Join(obs.dataplaneErr, obs.bgpErr)
}

// syncChanges applies the changes of the VirtualIPs named (the hub's state
// otherwise served as it is) at the cost of those VirtualIPs: it rebuilds
// their VIPs alone and hands the dataplane, the health checks, BGP, the
// status and the state file only what changed. It returns false, having
// changed nothing, when the changes withdraw a VIP: a full synchronization
// then checks the withdrawal (serveChanges).
func (c *Controller) syncChanges(ctx context.Context, names map[string]struct{}) (bool, error) {
	start := c.now()
	vips := make(map[string]*trafficv1alpha1.VirtualIP, len(names))
	for name := range names {
		v, err := c.vips.Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return false, nil
		}
		if err == nil && c.servedByNode(v) {
			vips[name] = v
		} else {
			vips[name] = nil
		}
	}
	if !c.serveChanges(vips) {
		return false, nil
	}
	before := c.model.Err()
	changes := c.model.Update(vips, c.health.Verdict)
	c.saver.update(vips, c.guard.identity())
	obs := observed{modelErr: c.model.Err()}
	if len(changes) == 0 && obs.modelErr == before {
		return true, nil
	}
	metrics.InvalidVirtualIPs.Set(float64(countJoined(obs.modelErr)))
	if len(changes) == 0 { // only the errors of VirtualIPs not served changed
		obs.dataplane = c.programmed
	} else {
		addrs, services := make([]netip.Addr, len(changes)), []model.Service(nil)
		for i, ch := range changes {
			addrs[i] = ch.Address
			if ch.New != nil {
				services = append(services, ch.New.Services...)
			}
		}
		dpStart := time.Now()
		obs.dataplane, obs.dataplaneErr = c.dataplane.Update(ctx, addrs, services)
		metrics.DataplaneSyncDuration.Observe(time.Since(dpStart).Seconds())
		c.programmed = dataplane.Status{Services: obs.dataplane.Services, Destinations: obs.dataplane.Destinations}
		c.updateProbes(changes)
		c.vipStatus = patch(c.vipStatus, func(v *vipStatus) netip.Addr { return v.address }, changes,
			func(ch model.Change) (*vipStatus, bool) {
				if ch.New == nil {
					return nil, false
				}
				return &vipStatus{address: ch.Address, health: healthOf(*ch.New)}, true
			})
		obs.bgpErr = c.announceChanges(ctx, changes, obs.dataplane.Ready)
	}
	obs.vips, obs.hold = c.vipStatus, c.guard.current()
	metrics.Services.Set(float64(obs.dataplane.Services))
	metrics.Destinations.Set(float64(obs.dataplane.Destinations))
	c.conclude(obs)
	c.incremental = obs.dataplaneErr == nil && obs.bgpErr == nil
	klog.V(4).InfoS("Synchronized changes", "virtualIPs", len(vips), "changedVIPs", len(changes),
		"services", obs.dataplane.Services, "announced", len(c.announced), "duration", time.Since(start))
	return true, errors.Join(obs.dataplaneErr, obs.bgpErr)
}

// conclude completes obs with BGP's sessions and the announcements, records
// them in the metrics and hands obs to the status writer.
func (c *Controller) conclude(obs observed) {
	obs.sessions, obs.announced = c.speaker.Sessions(), c.announced
	recordSessions(obs.sessions)
	countErrors(obs)
	c.publish(obs)
}

// updateProbes has the health checks run the probes of the VIPs served, when
// changes changed them.
func (c *Controller) updateProbes(changes []model.Change) {
	changed := false
	for _, ch := range changes { // the new probes first: a probe kept is not stopped
		if ch.New != nil {
			for _, p := range ch.New.Probes {
				changed = changed || c.probes[p] == 0
				c.probes[p]++
			}
		}
	}
	for _, ch := range changes {
		if ch.Old != nil {
			for _, p := range ch.Old.Probes {
				if c.probes[p]--; c.probes[p] <= 0 {
					delete(c.probes, p)
					changed = true
				}
			}
		}
	}
	if changed {
		c.health.Set(slices.Collect(maps.Keys(c.probes)))
	}
}

// countProbes counts the VIPs of state that run each probe.
func countProbes(state model.State) map[model.Probe]int {
	out := map[model.Probe]int{}
	for _, v := range state.VIPs {
		for _, p := range v.Probes {
			out[p]++
		}
	}
	return out
}

// vipHealth is the node's view of each VIP's backends, for the hub: how many
// are healthy, and the weights it programs for them.
func vipHealth(state model.State) []*vipStatus {
	out := make([]*vipStatus, 0, len(state.VIPs))
	for _, v := range state.VIPs {
		out = append(out, &vipStatus{address: v.Address, health: healthOf(v)})
	}
	return out
}

func healthOf(v model.VIP) clusterv1alpha1.VIPHealth {
	h := clusterv1alpha1.VIPHealth{Address: v.Address.String(), HealthyBackends: int32(v.Healthy)}
	if len(v.Services) > 0 { // every service of a VIP has the same destinations
		h.Weights = backendWeights(v.Services[0].Destinations)
	}
	return h
}

// patch returns a copy of sorted (by address) with the entries of the
// addresses of changes (sorted by address) replaced by their value, or removed
// when they have none. sorted is not modified.
func patch[T any](sorted []T, addr func(T) netip.Addr, changes []model.Change, value func(model.Change) (T, bool)) []T {
	out := make([]T, 0, len(sorted)+len(changes))
	i := 0
	for _, ch := range changes {
		j, found := slices.BinarySearchFunc(sorted[i:], ch.Address, func(e T, a netip.Addr) int { return addr(e).Compare(a) })
		out = append(out, sorted[i:i+j]...)
		if i += j; found {
			i++
		}
		if v, ok := value(ch); ok {
			out = append(out, v)
		}
	}
	return append(out, sorted[i:]...)
}

// backendWeights groups destinations by weight, highest first.
func backendWeights(dests []model.Destination) []clusterv1alpha1.BackendWeight {
	var out []clusterv1alpha1.BackendWeight
	for _, d := range dests { // sorted by address
		i := slices.IndexFunc(out, func(w clusterv1alpha1.BackendWeight) bool { return w.Weight == int32(d.Weight) })
		if i < 0 {
			out = append(out, clusterv1alpha1.BackendWeight{Weight: int32(d.Weight)})
			i = len(out) - 1
		}
		out[i].Backends = append(out[i].Backends, d.Address.String())
	}
	slices.SortFunc(out, func(a, b clusterv1alpha1.BackendWeight) int { return cmp.Compare(b.Weight, a.Weight) })
	return out
}

// hubState is what a synchronization works from: the hub's objects.
type hubState struct {
	group *clusterv1alpha1.LoadBalancerGroup // nil: the group does not exist
	vips  []*trafficv1alpha1.VirtualIP
}

// source returns the hub's objects as the informers have them and true or,
// until their caches have synced, those of the state file and false. The
// objects are the caches': never mutated.
func (c *Controller) source() (hubState, bool, error) {
	if !c.hubSynced() {
		if c.disk == nil { // Run waits for the caches then
			return hubState{}, false, errors.New("the hub's caches have not synced")
		}
		return *c.disk, false, nil
	}
	if c.disk != nil {
		c.disk = nil
		metrics.ServingFromDisk.Set(0)
		klog.InfoS("The hub's caches synced: the hub's state replaces the one from the state file")
	}
	group, err := c.groups.Get(c.opts.Group)
	if apierrors.IsNotFound(err) {
		group, err = nil, nil
	}
	if err != nil {
		return hubState{}, false, err
	}
	vips, err := c.vips.List(labels.Everything())
	if err != nil {
		return hubState{}, false, err
	}
	return hubState{group: group, vips: vips}, true, nil
}

// hubSynced tells whether the informers' caches have synced.
func (c *Controller) hubSynced() bool {
	for _, synced := range c.synced {
		if !synced() {
			return false
		}
	}
	return true
}

// desired builds the desired state; a missing group serves nothing.
func (c *Controller) desired(group *clusterv1alpha1.LoadBalancerGroup, vips []*trafficv1alpha1.VirtualIP) (model.State, observed) {
	if group == nil {
		return model.State{}, observed{groupMissing: true}
	}
	node := model.Node{Group: c.opts.Group, Zone: group.Spec.Zone}
	reuse := true
	if c.rebuild.Swap(false) || c.now().Sub(c.lastRebuild) >= c.opts.ResyncPeriod {
		reuse, c.lastRebuild = false, c.now()
	}
	state, err := c.model.Build(vips, node, c.health.Verdict, reuse)
	metrics.InvalidVirtualIPs.Set(float64(countJoined(err)))
	if err != nil {
		klog.ErrorS(err, "Some VirtualIPs are invalid and not served")
	}
	return state, observed{modelErr: err}
}

// announce configures BGP from the group and announces vips.
func (c *Controller) announce(ctx context.Context, group *clusterv1alpha1.LoadBalancerGroup, vips []netip.Addr) error {
	if c.draining {
		vips = nil
	}
	cfg, cfgErr := c.bgpConfig(ctx, group)
	if err := c.speaker.SetConfig(ctx, cfg); err != nil {
		return errors.Join(cfgErr, err)
	}
	err := c.speaker.Set(ctx, vips)
	if err == nil {
		c.announced = slices.Clone(vips)
		metrics.Announced.Set(float64(len(vips)))
	}
	return errors.Join(cfgErr, err)
}

// announceChanges announces the VIPs that changes made announceable (those
// ready of them, and with a healthy backend) and withdraws those they made
// not, when any did. BGP's configuration did not change.
func (c *Controller) announceChanges(ctx context.Context, changes []model.Change, ready []netip.Addr) error {
	isReady := make(map[netip.Addr]bool, len(ready))
	for _, a := range ready {
		isReady[a] = true
	}
	announce := func(ch model.Change) (netip.Addr, bool) {
		return ch.Address, !c.draining && ch.New != nil && ch.New.Announce && isReady[ch.Address]
	}
	same := true
	for _, ch := range changes {
		_, was := slices.BinarySearchFunc(c.announced, ch.Address, netip.Addr.Compare)
		_, is := announce(ch)
		same = same && was == is
	}
	if same {
		return nil
	}
	vips := patch(c.announced, func(a netip.Addr) netip.Addr { return a }, changes, announce)
	if err := c.speaker.Set(ctx, vips); err != nil {
		return err
	}
	c.announced = vips
	metrics.Announced.Set(float64(len(vips)))
	return nil
}

func recordSessions(sessions []bgp.Session) {
	metrics.BGPSessionUp.Reset()
	for _, s := range sessions {
		up := 0.0
		if s.State == bgp.Established {
			up = 1
		}
		metrics.BGPSessionUp.WithLabelValues(s.Peer.String()).Set(up)
	}
}

func countErrors(obs observed) {
	for stage, err := range map[string]error{"model": obs.modelErr, "dataplane": obs.dataplaneErr, "bgp": obs.bgpErr} {
		if err != nil {
			metrics.SyncErrors.WithLabelValues(stage).Inc()
		}
	}
}

// countJoined counts the errors of an errors.Join.
func countJoined(err error) int {
	if err == nil {
		return 0
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return len(j.Unwrap())
	}
	return 1
}

func intersect(a, b []netip.Addr) []netip.Addr {
	in := make(map[netip.Addr]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []netip.Addr
	for _, x := range a {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}
