// Package vipallocator gives FederatedAccessPoints their VirtualIPs. A VirtualIP is
// named by its address, so the API server itself refuses a second holder of an
// address: the allocator picks the lowest address its cache shows free and, when
// creation reports AlreadyExists, moves on to the next. The access point controller
// calls it synchronously and alone writes the access point's status.
package vipallocator

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	clusterlisters "github.com/portico-dev/portico/apis/generated/listers/cluster/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Reasons of a Failure, usable as condition reasons.
const (
	ReasonPoolNotFound     = "PoolNotFound"
	ReasonExhausted        = "Exhausted"
	ReasonAddressTaken     = "AddressTaken"
	ReasonAddressNotInPool = "AddressNotInPool"
	// ReasonPoolTerminating: the pool is being deleted; it gives no new
	// address (the VirtualIPs it already gave are kept).
	ReasonPoolTerminating = "PoolTerminating"
)

// maxAttempts bounds the addresses one Ensure tries when creation keeps reporting
// AlreadyExists (addresses taken behind the cache's back). Every such address is
// remembered, so the next call starts past them.
const maxAttempts = 32

// Failure says why an access point has no VIP; Reason is a condition reason.
type Failure struct {
	Reason, Message string
}

// Allocator allocates, updates and releases the VirtualIPs of access points. It is
// safe for concurrent use by several workers.
type Allocator struct {
	client versioned.Interface
	pools  trafficlisters.VIPPoolLister
	vips   trafficlisters.VirtualIPLister
	// index is the cache vips reads, with Indexers.
	index  cache.Indexer
	groups clusterlisters.LoadBalancerGroupLister
	now    func() time.Time
	// started is when the allocator was made. The hub's controllers run on
	// the leader alone and make their allocator when they start, so the
	// VirtualIPs of an access point created after started can only be this
	// allocator's: those its cache does not show yet are among its claims.
	started time.Time

	// mu guards claims: addresses handed out by this allocator that the cache may
	// not show yet, so that concurrent workers pick distinct addresses.
	mu     sync.Mutex
	claims map[uint32]claim
}

// New returns an Allocator that reads pools and LoadBalancerGroups from the
// listers and VirtualIPs from the cache vips (an informer's indexer, to which it
// adds its Indexers), and writes VirtualIPs with client.
func New(client versioned.Interface, pools trafficlisters.VIPPoolLister, vips cache.Indexer,
	groups clusterlisters.LoadBalancerGroupLister) (*Allocator, error) {
	if _, ok := vips.GetIndexers()[byOwner]; !ok {
		if err := vips.AddIndexers(Indexers()); err != nil {
			return nil, fmt.Errorf("indexing VirtualIPs: %w", err)
		}
	}
	return &Allocator{client: client, pools: pools, vips: trafficlisters.NewVirtualIPLister(vips), index: vips, groups: groups,
		now: time.Now, started: time.Now(),
		claims: map[uint32]claim{}}, nil
}

// Ensure returns the access point's VirtualIP, allocating one from
// spec.loadBalancer.pool when it has none, and keeps the VirtualIP's spec equal to
// what the access point and backends ask for, writing it only when it differs. A
// VirtualIP of another pool or address than the access point now asks for is
// released first.
//
// With no VIP available it returns (nil, failure, nil). A pool being deleted
// keeps serving the VirtualIPs it gave but gives no new one (failure
// PoolTerminating). When the pool does not exist, a VirtualIP the access point
// already holds is left as it is and returned with the failure PoolNotFound,
// so that the access point keeps reporting the address it is still reached at.
// An access point without spec.loadBalancer gets (nil, nil, nil) and loses the
// VirtualIPs the cache shows it owning (Release, for deletion, asks the API
// server).
//
// Calls for one access point must not overlap (a workqueue never hands out one
// key twice at once); calls for different ones may. The returned object may come
// from the cache: do not modify it.
func (a *Allocator) Ensure(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint,
	backends []trafficv1alpha1.Backend) (*trafficv1alpha1.VirtualIP, *Failure, error) {
	lb := fap.Spec.LoadBalancer
	if lb == nil {
		return nil, nil, a.releaseCached(ctx, fap)
	}
	pool, err := a.pools.Get(lb.Pool)
	if apierrors.IsNotFound(err) {
		return a.poolNotFound(fap)
	}
	if err != nil {
		return nil, nil, err
	}
	spec := a.desiredSpec(fap, pool, backends)
	vip, err := a.current(ctx, fap)
	if err != nil {
		return nil, nil, err
	}
	if vip != nil {
		vip, err = a.update(ctx, vip, spec)
		return vip, nil, err
	}
	if pool.DeletionTimestamp != nil {
		return nil, &Failure{Reason: ReasonPoolTerminating,
			Message: fmt.Sprintf("VIPPool %s is being deleted and gives no new address: choose another pool", pool.Name)}, nil
	}
	if lb.Address != "" {
		return a.allocateAddress(ctx, fap, pool, spec)
	}
	return a.allocateLowest(ctx, fap, pool, spec)
}

// poolNotFound is Ensure's answer when spec.loadBalancer.pool does not exist:
// the failure, with the VirtualIP the access point still holds (from the
// cache), if any.
func (a *Allocator) poolNotFound(fap *trafficv1alpha1.FederatedAccessPoint) (*trafficv1alpha1.VirtualIP, *Failure, error) {
	failure := &Failure{Reason: ReasonPoolNotFound, Message: fmt.Sprintf("VIPPool %q does not exist", fap.Spec.LoadBalancer.Pool)}
	vip := a.Owned(fap)
	if vip != nil {
		failure.Message += fmt.Sprintf("; the access point keeps %s from pool %s", vip.Spec.Address, vip.Spec.Pool)
	}
	return vip, failure, nil
}

// Release deletes every VirtualIP owned by the access point, returning its address
// to the pool. It lists the API server, not the cache, so that a VirtualIP created
// a moment ago is not left behind.
func (a *Allocator) Release(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) error {
	owned, err := a.listOwned(ctx, fap)
	if err != nil {
		return err
	}
	for _, vip := range owned {
		if err := a.delete(ctx, vip); err != nil {
			return err
		}
	}
	return nil
}

// releaseCached deletes the VirtualIPs the cache shows owned by the access point,
// so that syncing an access point without a load balancer costs no API call.
func (a *Allocator) releaseCached(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) error {
	for _, vip := range a.cachedOwned(fap) {
		if err := a.delete(ctx, vip); err != nil {
			return err
		}
	}
	return nil
}

// Owned returns the VirtualIP owned by the access point, from the cache (nil when
// none). When it owns several, the one matching spec.loadBalancer comes first.
// Do not modify the result.
func (a *Allocator) Owned(fap *trafficv1alpha1.FederatedAccessPoint) *trafficv1alpha1.VirtualIP {
	if vip := a.cachedKeeper(fap); vip != nil {
		return vip
	}
	owned := a.cachedOwned(fap)
	if len(owned) == 0 {
		return nil
	}
	if keep, _ := choose(owned, fap.Spec.LoadBalancer); keep != nil {
		return keep
	}
	return owned[0]
}

// current finds the VirtualIP the access point owns that still fits its
// spec.loadBalancer, and deletes the ones that no longer do. When the cache shows
// none that fits, it asks the API server (uncached), so that a lagging cache
// never makes the access point a second VirtualIP.
func (a *Allocator) current(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) (*trafficv1alpha1.VirtualIP, error) {
	if keep := a.cachedKeeper(fap); keep != nil {
		return keep, nil
	}
	keep, stale := choose(a.cachedOwned(fap), fap.Spec.LoadBalancer)
	if keep == nil {
		live, err := a.uncached(ctx, fap)
		if err != nil {
			return nil, err
		}
		keep, stale = choose(live, fap.Spec.LoadBalancer)
	}
	for _, vip := range stale {
		if err := a.delete(ctx, vip); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// cachedKeeper looks up, without listing the cache, the VirtualIP the access point
// reports in status.vip or requests in spec.loadBalancer.address, if it owns it and
// it still fits: the common case of an access point whose VIP is allocated.
func (a *Allocator) cachedKeeper(fap *trafficv1alpha1.FederatedAccessPoint) *trafficv1alpha1.VirtualIP {
	lb := fap.Spec.LoadBalancer
	if lb == nil {
		return nil
	}
	names := []string{lb.Address}
	if fap.Status.VIP != nil {
		names = append(names, fap.Status.VIP.Address)
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		if vip, err := a.vips.Get(name); err == nil && ownedBy(vip, fap) {
			if keep, _ := choose([]*trafficv1alpha1.VirtualIP{vip}, lb); keep != nil {
				return keep
			}
		}
	}
	return nil
}

// choose splits owned VirtualIPs into the one to keep (of the requested pool and,
// if one is requested, address) and the rest.
func choose(owned []*trafficv1alpha1.VirtualIP, lb *trafficv1alpha1.LoadBalancerSpec) (keep *trafficv1alpha1.VirtualIP, stale []*trafficv1alpha1.VirtualIP) {
	for _, vip := range owned {
		fits := lb != nil && vip.Spec.Pool == lb.Pool && (lb.Address == "" || vip.Spec.Address == lb.Address)
		if keep == nil && fits && vip.DeletionTimestamp == nil {
			keep = vip
			continue
		}
		stale = append(stale, vip)
	}
	return keep, stale
}

// cachedOwned returns the cache's VirtualIPs owned by the access point, by name.
func (a *Allocator) cachedOwned(fap *trafficv1alpha1.FederatedAccessPoint) []*trafficv1alpha1.VirtualIP {
	objs, _ := a.index.ByIndex(byOwner, string(fap.UID)) // New added the index
	owned := make([]*trafficv1alpha1.VirtualIP, 0, len(objs))
	for _, obj := range objs {
		if vip := obj.(*trafficv1alpha1.VirtualIP); ownedBy(vip, fap) {
			owned = append(owned, vip)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned
}

// uncached returns the access point's VirtualIPs as the API server holds them,
// for when the cache shows none that fits. For an access point created after
// the allocator started, only this allocator can have given it one, and one its
// cache does not show yet is among its claims: each claimed address is read by
// name (none, usually: a new access point costs no request here). For an older
// access point, another allocator (a previous leader) may have: the API server
// is listed (a request whose cost grows with all VirtualIPs).
//
// A claim of the access point whose VirtualIP the API server does not hold
// (its creation failed) is forgotten, so that the address can be given again.
func (a *Allocator) uncached(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) ([]*trafficv1alpha1.VirtualIP, error) {
	if !fap.CreationTimestamp.Time.After(a.started) {
		owned, err := a.listOwned(ctx, fap)
		if err != nil {
			return nil, err
		}
		for _, x := range a.claimedBy(fap.UID) {
			if !slices.ContainsFunc(owned, func(v *trafficv1alpha1.VirtualIP) bool { return v.Name == fromUint32(x).String() }) {
				a.unclaim(x)
			}
		}
		return owned, nil
	}
	var owned []*trafficv1alpha1.VirtualIP
	for _, x := range a.claimedBy(fap.UID) {
		vip, err := a.client.TrafficV1alpha1().VirtualIPs().Get(ctx, fromUint32(x).String(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			a.unclaim(x) // its creation failed after all
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading VirtualIP %s of %s/%s: %w", fromUint32(x), fap.Namespace, fap.Name, err)
		}
		if ownedBy(vip, fap) {
			owned = append(owned, vip)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned, nil
}

// listOwned lists the API server's VirtualIPs owned by the access point, by name.
// The field selector narrows the list; ownership is decided by uid.
func (a *Allocator) listOwned(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) ([]*trafficv1alpha1.VirtualIP, error) {
	selector := fields.Set{"spec.owner.name": fap.Name, "spec.owner.namespace": fap.Namespace}.AsSelector().String()
	list, err := a.client.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing the VirtualIPs of %s/%s: %w", fap.Namespace, fap.Name, err)
	}
	var owned []*trafficv1alpha1.VirtualIP
	for i := range list.Items {
		if ownedBy(&list.Items[i], fap) {
			owned = append(owned, &list.Items[i])
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned, nil
}

func ownedBy(vip *trafficv1alpha1.VirtualIP, fap *trafficv1alpha1.FederatedAccessPoint) bool {
	return vip.Spec.Owner != nil && vip.Spec.Owner.UID == fap.UID
}

// holderOf names the access point holding a VirtualIP.
func holderOf(vip *trafficv1alpha1.VirtualIP) string {
	if vip.Spec.Owner == nil {
		return "VirtualIP " + vip.Name + " (no owner)"
	}
	return vip.Spec.Owner.Namespace + "/" + vip.Spec.Owner.Name
}

// delete removes a VirtualIP, only if it is still the object that was read.
func (a *Allocator) delete(ctx context.Context, vip *trafficv1alpha1.VirtualIP) error {
	opts := metav1.DeleteOptions{}
	if vip.UID != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &vip.UID}
	}
	err := a.client.TrafficV1alpha1().VirtualIPs().Delete(ctx, vip.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing VirtualIP %s: %w", vip.Name, err)
	}
	if x, ok := parseIPv4(vip.Name); ok {
		a.unclaim(x)
	}
	if err == nil {
		klog.FromContext(ctx).V(2).Info("Released VirtualIP", "address", vip.Name, "pool", vip.Spec.Pool, "owner", holderOf(vip))
	}
	return nil
}
