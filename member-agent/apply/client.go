package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// Labelled is an object found by its access point label.
type Labelled struct {
	Ref
	// AccessPoint is the label's value.
	AccessPoint string
}

// Client is the Applier of a real member cluster.
type Client struct {
	c    clients
	meta metadata.Interface
	// namespaces already known to exist.
	namespaces sync.Map
	// cache, when set and synced, answers List from informers.
	cache *Cache
}

// Cache lists labelled objects from metadata informers instead of the API.
type Cache struct {
	Stores map[schema.GroupVersionResource]cache.Store
	Synced func() bool
}

// UseCache makes List read from informer caches once they have synced.
func (a *Client) UseCache(c *Cache) { a.cache = c }

var _ Applier = &Client{}

// NewClient applies with the typed clients and lists and deletes through the
// metadata client (only object metadata crosses the wire).
func NewClient(kube kubernetes.Interface, istio istioclient.Interface, meta metadata.Interface) *Client {
	return &Client{c: clients{istio: istio, kube: kube}, meta: meta}
}

// Apply applies one object with server-side apply, forcing ownership.
func (a *Client) Apply(ctx context.Context, obj Object) error {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	err := kinds[obj.GVK.GroupKind()].apply(ctx, a.c, obj.Namespace, obj.Raw, opts)
	a.forgetNamespace(err, obj.Namespace)
	return err
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
	for gk, k := range kinds {
		gvr := schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: k.resource}
		list, err := a.meta.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			ref := Ref{GVK: gk.WithVersion("v1"), Namespace: item.Namespace, Name: item.Name}
			out = append(out, Labelled{Ref: ref, AccessPoint: item.Labels[Label]})
		}
	}
	return out, nil
}

func (c *Cache) list(accessPoint string) []Labelled {
	var out []Labelled
	for gk, k := range kinds {
		store := c.Stores[schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: k.resource}]
		if store == nil {
			continue
		}
		for _, item := range store.List() {
			m, ok := item.(metav1.Object)
			if !ok {
				continue
			}
			value, labelled := m.GetLabels()[Label]
			if !labelled || (accessPoint != "" && value != LabelValue(accessPoint)) {
				continue
			}
			ref := Ref{GVK: gk.WithVersion("v1"), Namespace: m.GetNamespace(), Name: m.GetName()}
			out = append(out, Labelled{Ref: ref, AccessPoint: value})
		}
	}
	return out
}

// Delete deletes an object; a missing one is not an error.
func (a *Client) Delete(ctx context.Context, ref Ref) error {
	gvr := schema.GroupVersionResource{Group: ref.GVK.Group, Version: "v1", Resource: kinds[ref.GVK.GroupKind()].resource}
	var err error
	if ref.Namespace == "" {
		err = a.meta.Resource(gvr).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	} else {
		err = a.meta.Resource(gvr).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
