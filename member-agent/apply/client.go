package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// LabelValue is the access point label's value for a ClusterAccessPoint name: the
// name itself, or, when it is too long for a label value, a prefix and a hash.
func LabelValue(accessPoint string) string {
	if len(utilvalidation.IsValidLabelValue(accessPoint)) == 0 {
		return accessPoint
	}
	sum := sha256.Sum256([]byte(accessPoint))
	return accessPoint[:50] + "-" + hex.EncodeToString(sum[:])[:12]
}

// Labelled is an object found by its access point label, or one found by name.
type Labelled struct {
	Ref
	// AccessPoint is the label's value.
	AccessPoint string
	// OwnerUID is the owner annotation's value: empty on objects Portico did not
	// create and on those of an agent that predates the annotation.
	OwnerUID string
}

// labelled describes an object from its metadata.
func labelled(ref Ref, m metav1.Object) Labelled {
	return Labelled{Ref: ref, AccessPoint: m.GetLabels()[Label], OwnerUID: m.GetAnnotations()[OwnerAnnotation]}
}

// Client is the Applier of a real member cluster.
type Client struct {
	c    clients
	meta metadata.Interface
	// namespaces already known to exist.
	namespaces sync.Map
	// cache, when set and synced, answers List from informers.
	cache *Cache
	// secretNamespace, when set, is the only namespace where Secrets are
	// applied, listed and pruned (the agent's RBAC allows no other).
	secretNamespace string
	// observed holds, by Ref, the Observed of the last apply of each object
	// of a kind in observers.
	observed sync.Map
}

// RestrictSecrets confines the Secrets the client applies, lists and prunes to
// namespace ns: the member cluster's gateway namespace, the only one where the
// agent's RBAC lets it touch Secrets.
func (a *Client) RestrictSecrets(ns string) { a.secretNamespace = ns }

var secretKind = schema.GroupKind{Kind: "Secret"}

// checkNamespace refuses a Secret outside the gateway namespace.
func (a *Client) checkNamespace(ref Ref) error {
	if a.secretNamespace != "" && ref.GVK.GroupKind() == secretKind && ref.Namespace != a.secretNamespace {
		return fmt.Errorf("%s: the member-agent writes Secrets only in the gateway namespace %s (MemberCluster spec.gatewayNamespace)",
			ref, a.secretNamespace)
	}
	return nil
}

// Cache lists labelled objects from metadata informers instead of the API, and
// tells whose a labelled object is without asking the API.
type Cache struct {
	// Stores are the informers' stores; an Indexer with the index
	// IndexAccessPoint (AccessPointIndexers) lists one access point's objects
	// without scanning the others.
	Stores map[schema.GroupVersionResource]cache.Store
	Synced func() bool
}

// IndexAccessPoint indexes cached objects by their Label value.
const IndexAccessPoint = "portico.dev/access-point"

// AccessPointIndexers are the indexers Cache stores should have.
var AccessPointIndexers = cache.Indexers{IndexAccessPoint: func(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if v, ok := m.GetLabels()[Label]; ok {
		return []string{v}, nil
	}
	return nil, nil
}}

// UseCache makes List and the ownership check of Apply read from informer
// caches once they have synced.
func (a *Client) UseCache(c *Cache) { a.cache = c }

var _ Applier = &Client{}

// NewClient applies with the typed clients and lists and deletes through the
// metadata client (only object metadata crosses the wire).
func NewClient(kube kubernetes.Interface, istio istioclient.Interface, gateway gatewayclient.Interface, meta metadata.Interface) *Client {
	return &Client{c: clients{istio: istio, kube: kube, gateway: gateway}, meta: meta}
}

// Apply applies one object with server-side apply, forcing ownership of its
// fields, when the object does not exist yet or is obj's owner's; an object of
// the same name that is not is left alone and reported with a ConflictError.
func (a *Client) Apply(ctx context.Context, obj Object) error {
	if err := a.checkNamespace(obj.Ref); err != nil {
		return err
	}
	existing, err := a.get(ctx, obj.Ref)
	if err != nil {
		return fmt.Errorf("reading the existing %s: %w", obj.Ref, err)
	}
	if err := Check(obj, existing); err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	applied, err := kinds[obj.GVK.GroupKind()].apply(ctx, a.c, obj.Namespace, obj.Raw, opts)
	a.forgetNamespace(err, obj.Namespace)
	if observe := observers[obj.GVK.GroupKind()]; err == nil && observe != nil {
		if o, ok := observe(applied); ok {
			a.observed.Store(obj.Ref, o)
		} else {
			a.observed.Delete(obj.Ref)
		}
	}
	return err
}

// Observed returns the generation and status the member cluster returned
// when the object was applied last, for the kinds whose status the gateway
// implementation writes (the Gateway API's Gateways and routes). The status
// is as recent as that apply: the agent applies an object again whenever the
// member cluster changes it, its status included.
func (a *Client) Observed(ref Ref) (Observed, bool) {
	o, ok := a.observed.Load(ref)
	if !ok {
		return Observed{}, false
	}
	return o.(Observed), true
}

// get returns the existing object of ref, nil when there is none. A labelled
// object comes from the cache; any other is read from the API, since the cache
// holds only labelled objects.
func (a *Client) get(ctx context.Context, ref Ref) (*Labelled, error) {
	if a.cache != nil && a.cache.Synced() {
		if l := a.cache.get(ref); l != nil {
			return l, nil
		}
	}
	m, err := a.resource(ref).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := labelled(ref, m)
	return &l, nil
}

// resource is the metadata client of ref's kind, in its namespace.
func (a *Client) resource(ref Ref) metadata.ResourceInterface {
	r := a.meta.Resource(gvrOf(ref.GVK.GroupKind()))
	if ref.Namespace == "" {
		return r
	}
	return r.Namespace(ref.Namespace)
}

func gvrOf(gk schema.GroupKind) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: kinds[gk].resource}
}

// EnsureNamespace creates a missing namespace. Namespaces created this way carry
// no access point label: several access points may share them and they are never
// pruned.
func (a *Client) EnsureNamespace(ctx context.Context, name string) error {
	if _, known := a.namespaces.Load(name); known {
		return nil
	}
	_, err := a.c.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "portico"}}}
		_, err = a.c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err == nil {
		a.namespaces.Store(name, true)
	}
	return err
}

// Apply forgets a namespace that turned out to be gone, so the next call
// creates it again.
func (a *Client) forgetNamespace(err error, ns string) {
	if apierrors.IsNotFound(err) && ns != "" {
		a.namespaces.Delete(ns)
	}
}

// List returns the labelled objects of every kind, of one access point or, with
// "", of all.
func (a *Client) List(ctx context.Context, accessPoint string) ([]Labelled, error) {
	if a.cache != nil && a.cache.Synced() {
		return a.cache.list(accessPoint), nil
	}
	selector := Label
	if accessPoint != "" {
		selector = Label + "=" + LabelValue(accessPoint)
	}
	var out []Labelled
	for gk := range kinds {
		var r metadata.ResourceInterface = a.meta.Resource(gvrOf(gk))
		if gk == secretKind && a.secretNamespace != "" {
			r = a.meta.Resource(gvrOf(gk)).Namespace(a.secretNamespace)
		}
		list, err := r.List(ctx, metav1.ListOptions{LabelSelector: selector})
		if apierrors.IsNotFound(err) {
			continue // a kind the member cluster does not serve (its CRDs are not installed): nothing to list
		}
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			item := &list.Items[i]
			out = append(out, labelled(Ref{GVK: gk.WithVersion("v1"), Namespace: item.Namespace, Name: item.Name}, item))
		}
	}
	return out, nil
}

func (c *Cache) list(accessPoint string) []Labelled {
	var out []Labelled
	for gk := range kinds {
		store := c.Stores[gvrOf(gk)]
		if store == nil {
			continue
		}
		items := store.List
		if indexer, ok := store.(cache.Indexer); ok && accessPoint != "" {
			if _, indexed := indexer.GetIndexers()[IndexAccessPoint]; indexed {
				items = func() []any {
					byIndex, _ := indexer.ByIndex(IndexAccessPoint, LabelValue(accessPoint))
					return byIndex
				}
			}
		}
		for _, item := range items() {
			m, ok := item.(metav1.Object)
			if !ok {
				continue
			}
			value, isLabelled := m.GetLabels()[Label]
			if !isLabelled || (accessPoint != "" && value != LabelValue(accessPoint)) {
				continue
			}
			out = append(out, labelled(Ref{GVK: gk.WithVersion("v1"), Namespace: m.GetNamespace(), Name: m.GetName()}, m))
		}
	}
	return out
}

// get returns the cached labelled object of ref, nil when the cache has none.
func (c *Cache) get(ref Ref) *Labelled {
	store := c.Stores[gvrOf(ref.GVK.GroupKind())]
	if store == nil {
		return nil
	}
	key := ref.Name
	if ref.Namespace != "" {
		key = ref.Namespace + "/" + ref.Name
	}
	item, exists, err := store.GetByKey(key)
	if err != nil || !exists {
		return nil
	}
	m, ok := item.(metav1.Object)
	if !ok {
		return nil
	}
	l := labelled(ref, m)
	return &l
}

// Delete deletes an object; a missing one is not an error.
func (a *Client) Delete(ctx context.Context, ref Ref) error {
	if err := a.checkNamespace(ref); err != nil {
		return err
	}
	err := a.resource(ref).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	if err == nil || apierrors.IsNotFound(err) {
		a.observed.Delete(ref)
		return nil
	}
	return err
}
