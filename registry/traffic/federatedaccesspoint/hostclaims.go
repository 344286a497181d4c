package federatedaccesspoint

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/portico-dev/portico/apis/traffic"
)

// HostClaims refuses, at write time, a host that overlaps (wildcard semantics)
// a host of an access point in another namespace: with HostGrants, a host
// belongs to one namespace. Overlaps within one namespace are the team's own
// and are decided at run time per cluster (the older access point keeps the
// host, the newer one reports Placed=False HostConflict), as are two writes in
// different namespaces that race each other.
//
// It finds the access points that may overlap through an index by host
// (traffic.HostIndexKeys) of the storage's own watch, in process: a create
// costs what its hosts cost, not a pass over every access point. Until that
// index has caught up with the storage (after a start), it lists the storage's
// watch cache instead.
type HostClaims struct {
	storage Storage
	index   cache.SharedIndexInformer
}

// Storage is what HostClaims reads: the access points' REST storage.
type Storage interface {
	rest.Lister
	rest.Watcher
}

// hostsIndex is the index of access points by traffic.HostIndexKeys.
const hostsIndex = "hosts"

// SetStorage gives the checker the access point storage; it is created after
// the Kind that uses the checker. Run starts reading it.
func (c *HostClaims) SetStorage(s Storage) {
	c.storage = s
	c.index = cache.NewSharedIndexInformerWithOptions(storageListWatch{s}, &traffic.FederatedAccessPoint{},
		cache.SharedIndexInformerOptions{Indexers: cache.Indexers{hostsIndex: func(obj any) ([]string, error) {
			if fap, ok := obj.(*traffic.FederatedAccessPoint); ok {
				return traffic.HostIndexKeys(fap.Spec.Hosts), nil
			}
			return nil, nil
		}}})
	// What the check reads of an access point, nothing more.
	_ = c.index.SetTransform(func(obj any) (any, error) {
		fap, ok := obj.(*traffic.FederatedAccessPoint)
		if !ok {
			return obj, nil
		}
		return &traffic.FederatedAccessPoint{
			ObjectMeta: metav1.ObjectMeta{Namespace: fap.Namespace, Name: fap.Name, UID: fap.UID,
				ResourceVersion: fap.ResourceVersion, DeletionTimestamp: fap.DeletionTimestamp},
			Spec: traffic.FederatedAccessPointSpec{Hosts: fap.Spec.Hosts},
		}, nil
	})
}

// Run keeps the index until ctx ends (a post-start hook of the server).
func (c *HostClaims) Run(ctx context.Context) {
	if c.index != nil {
		c.index.RunWithContext(ctx)
	}
}

// Check returns a Forbidden error at spec.hosts[i] for every host that is not
// in old and overlaps a host of an access point of another namespace.
func (c *HostClaims) Check(ctx context.Context, fap *traffic.FederatedAccessPoint, old []string) field.ErrorList {
	var added []int
	for i, h := range fap.Spec.Hosts {
		if !slices.Contains(old, h) {
			added = append(added, i)
		}
	}
	if len(added) == 0 || c.storage == nil {
		return nil
	}
	at := func(i int) *field.Path { return field.NewPath("spec", "hosts").Index(i) }
	candidates, err := c.candidates(ctx, fap, added)
	if err != nil {
		return field.ErrorList{field.InternalError(at(added[0]), fmt.Errorf("reading access points: %w", err))}
	}
	var allErrs field.ErrorList
	for _, i := range added {
		h := fap.Spec.Hosts[i]
		for _, other := range candidates {
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

// candidates are the access points that may have a host overlapping one of
// the added hosts, ordered by namespace and name (a superset: Check decides).
func (c *HostClaims) candidates(ctx context.Context, fap *traffic.FederatedAccessPoint, added []int) ([]*traffic.FederatedAccessPoint, error) {
	if c.index == nil || !c.index.HasSynced() {
		list, err := c.storage.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll),
			&metainternalversion.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return nil, err
		}
		items := list.(*traffic.FederatedAccessPointList).Items
		out := make([]*traffic.FederatedAccessPoint, len(items))
		for i := range items {
			out[i] = &items[i]
		}
		return out, nil
	}
	seen := map[string]*traffic.FederatedAccessPoint{}
	for _, i := range added {
		for _, key := range traffic.HostOverlapKeys(fap.Spec.Hosts[i]) {
			objs, err := c.index.GetIndexer().ByIndex(hostsIndex, key)
			if err != nil {
				return nil, err
			}
			for _, obj := range objs {
				other := obj.(*traffic.FederatedAccessPoint)
				seen[other.Namespace+"/"+other.Name] = other
			}
		}
	}
	out := make([]*traffic.FederatedAccessPoint, 0, len(seen))
	for _, other := range seen {
		out = append(out, other)
	}
	// The first one found names the conflict: the same one the whole list,
	// in its order, would name.
	slices.SortFunc(out, func(a, b *traffic.FederatedAccessPoint) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

// storageListWatch lists and watches the storage itself, in every namespace.
type storageListWatch struct{ s Storage }

func (lw storageListWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	var in metainternalversion.ListOptions
	if err := metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(&opts, &in, nil); err != nil {
		return nil, err
	}
	return lw.s.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll), &in)
}

func (lw storageListWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	var in metainternalversion.ListOptions
	if err := metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(&opts, &in, nil); err != nil {
		return nil, err
	}
	w, err := lw.s.Watch(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll), &in)
	if err != nil {
		return nil, err
	}
	// The watch cache sends its objects wrapped with their encodings: the
	// index needs the objects (which it does not change: the transform
	// copies what it keeps).
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if co, ok := e.Object.(runtime.CacheableObject); ok {
			e.Object = co.GetObject()
		}
		return e, true
	}), nil
}

func (lw storageListWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return lw.ListWithContext(context.Background(), opts)
}

func (lw storageListWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(context.Background(), opts)
}

// IsWatchListSemanticsUnSupported: the reflector lists, then watches (the
// storage is read directly, not through a client that streams lists).
func (storageListWatch) IsWatchListSemanticsUnSupported() bool { return true }
