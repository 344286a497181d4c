package kubefed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"
)

// Reasons a followed object's placement cannot be read (FollowError.Reason).
const (
	// ReasonKindNotFound: the hub cluster serves no such kind (kubefed's CRD
	// is missing).
	ReasonKindNotFound = "FollowedKindNotFound"
	// ReasonObjectNotFound: no such object in the access point's namespace.
	ReasonObjectNotFound = "FollowedObjectNotFound"
	// ReasonInvalid: the object has no kubefed placement.
	ReasonInvalid = "FollowedObjectInvalid"
	// ReasonPending: the hub's cache of that kind is still filling.
	ReasonPending = "FollowPending"
	// ReasonUnreadable: the hub's cache of a kind it needs has not filled
	// for unreadableAfter (most likely portico-hub may not list it).
	ReasonUnreadable = "FollowedKindUnreadable"
	// ReasonNamespaceNotFederated: the object is namespaced and its
	// namespace has no FederatedNamespace, so kubefed places it nowhere.
	ReasonNamespaceNotFederated = "FollowedNamespaceNotFederated"
)

// Kinds the watcher reads besides the followed ones.
var (
	clusterKind   = fedv1b1.SchemeGroupVersion.WithKind("KubeFedCluster")
	configKind    = fedv1b1.SchemeGroupVersion.WithKind("KubeFedConfig")
	namespaceKind = schema.GroupVersionKind{Group: "types.kubefed.io", Version: "v1beta1", Kind: "FederatedNamespace"}
)

// configName is the name of the KubeFedConfig kubefed's controller-manager
// reads.
const configName = "kubefed"

// FollowError says why a followed object's placement is unknown.
type FollowError struct {
	Reason, Message string
}

func (e *FollowError) Error() string { return e.Message }

// unreadableAfter is how long a cache may take to fill before the kind is
// reported unreadable.
var unreadableAfter = 30 * time.Second

// remapAfter bounds how often an unknown kind makes the watcher rediscover
// the hub cluster's API (a CRD installed later is found then).
const remapAfter = 10 * time.Second

// Watcher caches, from the hub cluster, the KubeFedClusters of one namespace
// and the federated objects access points follow, one informer per followed
// kind, started when that kind is first followed.
type Watcher struct {
	dyn       dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	namespace string
	onChange  func(gk schema.GroupKind, namespace, name string)

	mu        sync.Mutex
	ctx       context.Context
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	started   map[cache.SharedIndexInformer]time.Time
	remapped  time.Time
}

// NewWatcher returns a Watcher of the KubeFedClusters in namespace. onChange
// is called for every change of a watched federated object (namespace and
// name) and of any KubeFedCluster (namespace and name empty).
func NewWatcher(dyn dynamic.Interface, disc discovery.DiscoveryInterface, namespace string, onChange func(gk schema.GroupKind, namespace, name string)) *Watcher {
	return &Watcher{
		dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		namespace: namespace, onChange: onChange, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{}, started: map[cache.SharedIndexInformer]time.Time{},
	}
}

// Start lets the watcher start informers, which stop when ctx is done.
func (w *Watcher) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctx = ctx
}

// Placed returns the KubeFedClusters the federated object apiVersion/kind
// namespace/name is placed on (see Placed of this package). Errors are
// *FollowError, but for a watcher that was not started.
func (w *Watcher) Placed(apiVersion, kind, namespace, name string, propagated bool) ([]string, error) {
	gvk, err := GroupVersionKind(apiVersion, kind)
	if err != nil {
		return nil, &FollowError{ReasonInvalid, fmt.Sprintf("apiVersion %q: %v", apiVersion, err)}
	}
	objects, namespaced, err := w.informer(gvk, "")
	if err != nil {
		return nil, err
	}
	clusters, _, err := w.informer(clusterKind, w.namespace)
	if err != nil {
		return nil, err
	}
	if err := w.synced(map[string]cache.SharedIndexInformer{kind + "s": objects, "KubeFedClusters": clusters}); err != nil {
		return nil, err
	}
	item, exists, err := objects.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, &FollowError{ReasonObjectNotFound, fmt.Sprintf("%s %s/%s (%s) not found", kind, namespace, name, apiVersion)}
	}
	var ns *Namespace
	if namespaced && gvk.GroupKind() != namespaceKind.GroupKind() {
		if ns, err = w.namespacePlacement(namespace); err != nil {
			return nil, err
		}
		if ns.Object == nil && !ns.LimitedScope {
			return nil, &FollowError{ReasonNamespaceNotFederated, fmt.Sprintf(
				"namespace %s has no FederatedNamespace: kubefed propagates %s %s only to the clusters its namespace's FederatedNamespace %s/%s is placed on",
				namespace, kind, name, namespace, namespace)}
		}
	}
	var kfcs []*fedv1b1.KubeFedCluster
	for _, o := range clusters.GetStore().List() {
		c, err := ClusterFromUnstructured(o.(*unstructured.Unstructured))
		if err != nil {
			return nil, &FollowError{ReasonInvalid, err.Error()}
		}
		kfcs = append(kfcs, c)
	}
	placed, err := Placed(item.(*unstructured.Unstructured), ns, kfcs, propagated)
	if err != nil {
		return nil, &FollowError{ReasonInvalid, err.Error()}
	}
	return placed, nil
}

// namespacePlacement reads what kubefed intersects the placement of a
// namespaced object in namespace with: the namespace's FederatedNamespace,
// and the scope of the KubeFedConfig (Cluster when the kind is not served
// or there is none, as kubefed defaults).
func (w *Watcher) namespacePlacement(namespace string) (*Namespace, error) {
	namespaces, _, err := w.informer(namespaceKind, "")
	if err != nil {
		return nil, err
	}
	configs, _, err := w.informer(configKind, w.namespace)
	var fe *FollowError
	if errors.As(err, &fe) && fe.Reason == ReasonKindNotFound {
		configs, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	caches := map[string]cache.SharedIndexInformer{"FederatedNamespaces": namespaces}
	if configs != nil {
		caches["KubeFedConfigs"] = configs
	}
	if err := w.synced(caches); err != nil {
		return nil, err
	}
	ns := &Namespace{}
	if item, exists, err := namespaces.GetIndexer().GetByKey(namespace + "/" + namespace); err != nil {
		return nil, err
	} else if exists {
		ns.Object = item.(*unstructured.Unstructured)
	}
	if configs != nil {
		if item, exists, err := configs.GetIndexer().GetByKey(w.namespace + "/" + configName); err != nil {
			return nil, err
		} else if exists {
			scope, _, _ := unstructured.NestedString(item.(*unstructured.Unstructured).Object, "spec", "scope")
			ns.LimitedScope = scope == string(apiextv1.NamespaceScoped)
		}
	}
	return ns, nil
}

// synced returns nil when every cache has filled, else a FollowError:
// pending for a while, then unreadable.
func (w *Watcher) synced(caches map[string]cache.SharedIndexInformer) error {
	var pending, unreadable []string
	for what, inf := range caches {
		if inf.HasSynced() {
			continue
		}
		w.mu.Lock()
		since := time.Since(w.started[inf])
		w.mu.Unlock()
		if since > unreadableAfter {
			unreadable = append(unreadable, what)
		} else {
			pending = append(pending, what)
		}
	}
	slices.Sort(pending)
	slices.Sort(unreadable)
	switch {
	case len(unreadable) > 0:
		return &FollowError{ReasonUnreadable, fmt.Sprintf("the hub could not read the %s for %v (does portico-hub's ClusterRole grant get, list and watch on them?)",
			strings.Join(unreadable, " and "), unreadableAfter)}
	case len(pending) > 0:
		return &FollowError{ReasonPending, "the hub is still reading the " + strings.Join(pending, " and ")}
	}
	return nil
}

// informer returns the informer of gvk's resource (in namespace, or all
// namespaces when empty), starting it on first use, and whether the resource
// is namespaced.
func (w *Watcher) informer(gvk schema.GroupVersionKind, namespace string) (cache.SharedIndexInformer, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil {
		return nil, false, errors.New("the kubefed watcher was not started")
	}
	mapping, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) && time.Since(w.remapped) > remapAfter {
		w.mapper.Reset()
		w.remapped = time.Now()
		mapping, err = w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, false, &FollowError{ReasonKindNotFound, fmt.Sprintf("the hub cluster serves no %s in %s (are kubefed's CRDs installed?)", gvk.Kind, gvk.GroupVersion())}
		}
		return nil, false, &FollowError{ReasonKindNotFound, fmt.Sprintf("%s in %s: %v", gvk.Kind, gvk.GroupVersion(), err)}
	}
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	if inf, ok := w.informers[mapping.Resource]; ok {
		return inf, namespaced, nil
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(w.dyn, mapping.Resource, namespace, 10*time.Minute, cache.Indexers{}, nil).Informer()
	gk := gvk.GroupKind()
	notify := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		o, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		// A KubeFedCluster, a FederatedNamespace or the KubeFedConfig may
		// move any followed object.
		switch gk {
		case clusterKind.GroupKind(), namespaceKind.GroupKind(), configKind.GroupKind():
			w.onChange(gk, "", "")
			return
		}
		w.onChange(gk, o.GetNamespace(), o.GetName())
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, obj any) { notify(obj) }, DeleteFunc: notify,
	})
	w.informers[mapping.Resource] = inf
	w.started[inf] = time.Now()
	go inf.RunWithContext(w.ctx)
	return inf, namespaced, nil
}
