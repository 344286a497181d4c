package vipallocator

import (
	"context"
	"fmt"
	"slices"
	"sort"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// desiredSpec is the VirtualIP spec the access point and its backends ask for,
// less the address. The API server's defaults are applied, so that a VirtualIP
// read back compares equal and is not rewritten.
func (a *Allocator) desiredSpec(fap *trafficv1alpha1.FederatedAccessPoint, pool *trafficv1alpha1.VIPPool,
	backends []trafficv1alpha1.Backend) *trafficv1alpha1.VirtualIPSpec {
	lb := fap.Spec.LoadBalancer
	vip := &trafficv1alpha1.VirtualIP{Spec: trafficv1alpha1.VirtualIPSpec{
		Pool:        pool.Name,
		Owner:       &trafficv1alpha1.AccessPointReference{Namespace: fap.Namespace, Name: fap.Name, UID: fap.UID},
		Ports:       slices.Clone(lb.Ports),
		Scheduler:   trafficv1alpha1.SchedulerMaglev,
		Forwarding:  trafficv1alpha1.ForwardingTunnel,
		Backends:    sortedBackends(backends),
		CrossZone:   lb.CrossZone.DeepCopy(),
		HealthCheck: lb.HealthCheck.DeepCopy(),
		Groups:      a.groupsOf(pool),
	}}
	trafficv1alpha1.SetObjectDefaults_VirtualIP(vip)
	return &vip.Spec
}

func sortedBackends(backends []trafficv1alpha1.Backend) []trafficv1alpha1.Backend {
	if len(backends) == 0 {
		return nil
	}
	sorted := slices.Clone(backends)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Address < sorted[j].Address })
	return sorted
}

// groupsOf names the LoadBalancerGroups of the pool's zones, sorted. A group
// being deleted is left out when another group of its zone, not being deleted,
// has ready nodes: the VirtualIP moves to that one and the deleted group is
// released. The last group of a zone keeps its VirtualIPs (its deletion waits
// for them, see package inuse).
func (a *Allocator) groupsOf(pool *trafficv1alpha1.VIPPool) []string {
	all, err := a.groups.List(labels.Everything())
	if err != nil {
		return nil
	}
	served := map[string]bool{} // zones with a ready group not being deleted
	for _, g := range all {
		if g.DeletionTimestamp == nil && g.Status.ReadyNodes > 0 {
			served[g.Spec.Zone] = true
		}
	}
	var names []string
	for _, g := range all {
		if !slices.Contains(pool.Spec.Zones, g.Spec.Zone) || (g.DeletionTimestamp != nil && served[g.Spec.Zone]) {
			continue
		}
		names = append(names, g.Name)
	}
	sort.Strings(names)
	return names
}

// update writes spec to the VirtualIP when it differs, keeping its address.
func (a *Allocator) update(ctx context.Context, vip *trafficv1alpha1.VirtualIP, spec *trafficv1alpha1.VirtualIPSpec) (*trafficv1alpha1.VirtualIP, error) {
	want := spec.DeepCopy()
	want.Address = vip.Spec.Address
	if apiequality.Semantic.DeepEqual(&vip.Spec, want) {
		return vip, nil
	}
	updated := vip.DeepCopy()
	updated.Spec = *want
	written, err := a.client.TrafficV1alpha1().VirtualIPs().Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating VirtualIP %s: %w", vip.Name, err)
	}
	return written, nil
}
