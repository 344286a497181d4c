package vipallocator

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// allocateLowest creates the VirtualIP at the lowest free address of the pool,
// moving on to the next address when the API server already holds one.
func (a *Allocator) allocateLowest(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, pool *trafficv1alpha1.VIPPool,
	spec *trafficv1alpha1.VirtualIPSpec) (*trafficv1alpha1.VirtualIP, *Failure, error) {
	as := poolAddresses(pool)
	for range maxAttempts {
		x, ok, err := a.reserveLowest(as, fap)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, &Failure{Reason: ReasonExhausted,
				Message: fmt.Sprintf("VIPPool %s has no free address (%d in all)", pool.Name, as.capacity)}, nil
		}
		vip, err := a.create(ctx, x, spec)
		switch {
		case err == nil:
			return vip, nil, nil
		case apierrors.IsAlreadyExists(err):
			a.markTaken(x)
		default:
			// The create may have landed all the same (a timeout): the
			// claim stays, so that the next call reads the address back
			// (uncached) instead of giving the access point another.
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("VIPPool %s: %d addresses in a row were taken meanwhile; will retry", pool.Name, maxAttempts)
}

// allocateAddress creates the VirtualIP at the address the access point asks for.
func (a *Allocator) allocateAddress(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, pool *trafficv1alpha1.VIPPool,
	spec *trafficv1alpha1.VirtualIPSpec) (*trafficv1alpha1.VirtualIP, *Failure, error) {
	address := fap.Spec.LoadBalancer.Address
	x, ok := parseIPv4(address)
	if !ok || !poolAddresses(pool).allocatable(x) {
		return nil, notInPool(address, pool), nil
	}
	if holder, taken := a.reserveAddress(x, fap); taken {
		return nil, addressTaken(address, holder), nil
	}
	vip, err := a.create(ctx, x, spec)
	switch {
	case err == nil:
		return vip, nil, nil
	case apierrors.IsAlreadyExists(err):
		a.markTaken(x)
		return a.existing(ctx, fap, pool, spec)
	default:
		return nil, nil, err // the claim stays, as in allocateLowest
	}
}

// existing handles an explicitly requested address that the API server already
// holds: it names the holder, or adopts the VirtualIP if it is the access point's
// own (created a moment ago, missed by both the cache and the live list).
func (a *Allocator) existing(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, pool *trafficv1alpha1.VIPPool,
	spec *trafficv1alpha1.VirtualIPSpec) (*trafficv1alpha1.VirtualIP, *Failure, error) {
	address := fap.Spec.LoadBalancer.Address
	live, err := a.client.TrafficV1alpha1().VirtualIPs().Get(ctx, address, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the holder of %s: %w", address, err)
	}
	if !ownedBy(live, fap) {
		return nil, addressTaken(address, holderOf(live)), nil
	}
	if live.Spec.Pool != pool.Name || live.DeletionTimestamp != nil {
		return nil, nil, fmt.Errorf("VirtualIP %s of %s/%s is being released; will retry", address, fap.Namespace, fap.Name)
	}
	vip, err := a.update(ctx, live, spec)
	return vip, nil, err
}

func notInPool(address string, pool *trafficv1alpha1.VIPPool) *Failure {
	msg := fmt.Sprintf("address %s is not in VIPPool %s %v", address, pool.Name, pool.Spec.CIDRs)
	if x, ok := parseIPv4(address); ok && pool.Spec.AvoidBuggyIPs && buggy(x) {
		msg = fmt.Sprintf("address %s ends in .0 or .255, which VIPPool %s avoids (avoidBuggyIPs)", address, pool.Name)
	}
	return &Failure{Reason: ReasonAddressNotInPool, Message: msg}
}

func addressTaken(address, holder string) *Failure {
	return &Failure{Reason: ReasonAddressTaken, Message: fmt.Sprintf("address %s is held by %s", address, holder)}
}

// reserveLowest claims the lowest address of the pool that neither the cache nor
// a claim shows taken.
func (a *Allocator) reserveLowest(as addresses, fap *trafficv1alpha1.FederatedAccessPoint) (uint32, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked()
	x, ok, err := a.lowestFreeLocked(as)
	if ok {
		a.claimLocked(x, fap.UID, fap.Namespace+"/"+fap.Name)
	}
	return x, ok, err
}

// reserveAddress claims x for the access point unless the cache or a claim shows
// another holder, whom it names.
func (a *Allocator) reserveAddress(x uint32, fap *trafficv1alpha1.FederatedAccessPoint) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked()
	if vip, err := a.vips.Get(fromUint32(x).String()); err == nil && !ownedBy(vip, fap) {
		return holderOf(vip), true
	}
	if c, ok := a.claims[x]; ok && c.uid != "" && c.uid != fap.UID {
		return c.holder, true
	}
	a.claimLocked(x, fap.UID, fap.Namespace+"/"+fap.Name)
	return "", false
}

// create creates the VirtualIP of address x with spec.
func (a *Allocator) create(ctx context.Context, x uint32, spec *trafficv1alpha1.VirtualIPSpec) (*trafficv1alpha1.VirtualIP, error) {
	address := fromUint32(x).String()
	vip := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address}, Spec: *spec.DeepCopy()}
	vip.Spec.Address = address
	created, err := a.client.TrafficV1alpha1().VirtualIPs().Create(ctx, vip, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(2).Info("Allocated VirtualIP", "address", address, "pool", spec.Pool, "owner", spec.Owner.Namespace+"/"+spec.Owner.Name)
	return created, nil
}
