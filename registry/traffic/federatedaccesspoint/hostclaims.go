package federatedaccesspoint

import (
	"context"
	"fmt"
	"slices"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/portico-dev/portico/apis/traffic"
)

// HostClaims refuses, at write time, a host that overlaps (wildcard semantics)
// a host of an access point in another namespace: with HostGrants, a host
// belongs to one namespace. Overlaps within one namespace are the team's own
// and are decided at run time per cluster (the older access point keeps the
// host, the newer one reports Placed=False HostConflict), as are two writes in
// different namespaces that race each other.
type HostClaims struct {
	accessPoints rest.Lister
}

// SetLister gives the checker the access point storage (read from its watch
// cache); it is created after the Kind that uses the checker.
func (c *HostClaims) SetLister(l rest.Lister) { c.accessPoints = l }

// Check returns a Forbidden error at spec.hosts[i] for every host that is not
// in old and overlaps a host of an access point of another namespace.
func (c *HostClaims) Check(ctx context.Context, fap *traffic.FederatedAccessPoint, old []string) field.ErrorList {
	var added []int
	for i, h := range fap.Spec.Hosts {
		if !slices.Contains(old, h) {
			added = append(added, i)
		}
	}
	if len(added) == 0 || c.accessPoints == nil {
		return nil
	}
	at := func(i int) *field.Path { return field.NewPath("spec", "hosts").Index(i) }
	list, err := c.accessPoints.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll),
		&metainternalversion.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return field.ErrorList{field.InternalError(at(added[0]), fmt.Errorf("reading access points: %w", err))}
	}
	var allErrs field.ErrorList
	for _, i := range added {
		h := fap.Spec.Hosts[i]
		for _, other := range list.(*traffic.FederatedAccessPointList).Items {
			if other.Namespace == fap.Namespace || other.DeletionTimestamp != nil {
				continue
			}
			if o := slices.IndexFunc(other.Spec.Hosts, func(o string) bool { return traffic.HostsOverlap(h, o) }); o >= 0 {
				allErrs = append(allErrs, field.Forbidden(at(i), fmt.Sprintf(
					"host %q overlaps host %q of access point %s/%s in another namespace: a host is served from one namespace "+
						"(the cluster admin's HostGrants decide which)", h, other.Spec.Hosts[o], other.Namespace, other.Name)))
				break
			}
		}
	}
	return allErrs
}
