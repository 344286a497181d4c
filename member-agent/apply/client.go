package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"
)

// LabelValue is the access point label's value for a ClusterAccessPoint name: the
// name itself, or, when it is too long for a label value, a prefix and a hash.
func LabelValue(accessPoint string) string {
	if isLabelValue(accessPoint) {
		return accessPoint
	}
	sum := sha256.Sum256([]byte(accessPoint))
	return accessPoint[:50] + "-" + hex.EncodeToString(sum[:])[:12]
}

// isLabelValue tells whether s is a valid label value (what
// validation.IsValidLabelValue checks, without its regular expression: this
// runs for every object of a sync): at most 63 characters, alphanumerics and
// '-', '_' or '.' between alphanumerics.
func isLabelValue(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || i == len(s)-1 || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

// Labelled is an object found by its access point label, or one found by name.
type Labelled struct {
	Ref
	// AccessPoint is the label's value.
	AccessPoint string
	// OwnerUID is the owner annotation's value: empty on objects Portico did not
	// create and on those of an agent that predates the annotation.
	OwnerUID string
	// ResourceVersion is the object's, when it was read.
	ResourceVersion string
}

// labelled describes an object from its metadata.
func labelled(ref Ref, m metav1.Object) Labelled {
	return Labelled{Ref: ref, AccessPoint: m.GetLabels()[Label], OwnerUID: m.GetAnnotations()[OwnerAnnotation], ResourceVersion: m.GetResourceVersion()}
}

// Client is the Applier of a real member cluster.
type Client struct {
	kube kubernetes.Interface
	// meta applies, reads, lists and deletes; dynamic applies the observed
	// kinds, whose status the reply must carry.
	meta    metadata.Interface
	dynamic dynamic.Interface
	// namespaces already known to exist.
	namespaces sync.Map
	// cache, when set and synced, answers List from informers.
	cache *Cache
	// secretNamespace, when set, is the only namespace where Secrets are
	// applied, listed and pruned (the agent's RBAC allows no other).
	secretNamespace string
	// observed holds, by Ref, the Observed of the last apply of each object
	// of an observed kind.
	observed sync.Map
	// applied remembers, by object (refSum), what the agent applied last
	// and the resource version the member cluster gave the object then.
	appliedMu sync.Mutex
	applied   map[uint64]appliedRecord
}

// appliedRecord is what the agent applied last to an object: hashes of the
// manifest and of the resource version the object had after that apply.
type appliedRecord struct{ manifest, resourceVersion uint64 }

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

// UseCache makes List and the ownership check of Apply read from informer
// caches once they have synced.
func (a *Client) UseCache(c *Cache) { a.cache = c }

var _ Applier = &Client{}

// NewClient applies and deletes through the metadata client (only object
// metadata comes back), except the kinds whose status Portico reports, which it
// applies with the dynamic client; it creates namespaces with kube.
func NewClient(kube kubernetes.Interface, dyn dynamic.Interface, meta metadata.Interface) *Client {
	return &Client{kube: kube, dynamic: dyn, meta: meta}
}

// applyOptions apply as the field manager "portico", taking the fields over
// from other managers. Fields the member cluster's schema does not know are
// dropped without a warning.
var applyOptions = metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true), FieldValidation: metav1.FieldValidationIgnore}

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
	gk := obj.GVK.GroupKind()
	// An observed kind's apply reads its status back: it is applied every time.
	if existing != nil && !kinds[gk].observed && a.unchanged(obj, existing.ResourceVersion) {
		return nil
	}
	if !kinds[gk].observed {
		applied, err := a.resource(obj.Ref).Patch(ctx, obj.Name, types.ApplyPatchType, obj.Raw, applyOptions)
		a.forgetNamespace(err, obj.Namespace)
		if err != nil {
			return err
		}
		a.remember(obj, applied.GetResourceVersion())
		return nil
	}
	var r dynamic.ResourceInterface = a.dynamic.Resource(gvrOf(gk))
	if obj.Namespace != "" {
		r = r.(dynamic.NamespaceableResourceInterface).Namespace(obj.Namespace)
	}
	applied, err := r.Patch(ctx, obj.Name, types.ApplyPatchType, obj.Raw, applyOptions)
	a.forgetNamespace(err, obj.Namespace)
	if err != nil {
		return err
	}
	if o, ok := observe(applied); ok {
		a.observed.Store(obj.Ref, o)
	} else {
		a.observed.Delete(obj.Ref)
	}
	a.remember(obj, applied.GetResourceVersion())
	return nil
}

// sumSeed seeds the hashes of applied objects.
var sumSeed = maphash.MakeSeed()

// refSum identifies an object in Client.applied.
func refSum(r Ref) uint64 {
	var h maphash.Hash
	h.SetSeed(sumSeed)
	for _, s := range []string{r.GVK.Group, r.GVK.Kind, r.Namespace, r.Name} {
		_, _ = h.WriteString(s)
		_ = h.WriteByte(0)
	}
	return h.Sum64()
}

// unchanged tells whether applying obj again would change nothing: the agent
// applied that same manifest last, and the object still has the resource
// version that apply gave it. Any change to the object since, by anyone,
// changed its resource version, and the object is applied again.
func (a *Client) unchanged(obj Object, resourceVersion string) bool {
	if resourceVersion == "" {
		return false
	}
	a.appliedMu.Lock()
	defer a.appliedMu.Unlock()
	rec, ok := a.applied[refSum(obj.Ref)]
	return ok && rec == appliedRecord{manifest: maphash.Bytes(sumSeed, obj.Raw), resourceVersion: maphash.String(sumSeed, resourceVersion)}
}

// Echo tells whether a cached object of resource gvr (a Cached) is as the
// agent's own last apply left it: its watch event is the echo of that write,
// with nothing to repair.
func (a *Client) Echo(gvr schema.GroupVersionResource, obj any) bool {
	c, ok := obj.(*Cached)
	gk, known := kindOf[gvr.GroupResource()]
	if !ok || !known || c.ResourceVersion == "" {
		return false
	}
	ref := Ref{GVK: gk.WithVersion("v1"), Namespace: c.Namespace, Name: c.Name}
	a.appliedMu.Lock()
	defer a.appliedMu.Unlock()
	rec, ok := a.applied[refSum(ref)]
	return ok && rec.resourceVersion == maphash.String(sumSeed, c.ResourceVersion)
}

// remember records that obj was applied and has resourceVersion now.
func (a *Client) remember(obj Object, resourceVersion string) {
	a.appliedMu.Lock()
	defer a.appliedMu.Unlock()
	if resourceVersion == "" {
		delete(a.applied, refSum(obj.Ref))
		return
	}
	if a.applied == nil {
		a.applied = map[uint64]appliedRecord{}
	}
	a.applied[refSum(obj.Ref)] = appliedRecord{manifest: maphash.Bytes(sumSeed, obj.Raw), resourceVersion: maphash.String(sumSeed, resourceVersion)}
}

// forget drops what was remembered of an object.
func (a *Client) forget(ref Ref) {
	a.appliedMu.Lock()
	defer a.appliedMu.Unlock()
	delete(a.applied, refSum(ref))
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

// get returns the existing object of ref, nil when there is none: from the
// cache when it has the object, or knows that there is none (Cache.Complete);
// from the API otherwise.
func (a *Client) get(ctx context.Context, ref Ref) (*Labelled, error) {
	if a.cache != nil && a.cache.Synced() {
		if l, known := a.cache.get(ref); known {
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
	_, err := a.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "portico"}}}
		_, err = a.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
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

// Delete deletes an object; a missing one is not an error.
func (a *Client) Delete(ctx context.Context, ref Ref) error {
	if err := a.checkNamespace(ref); err != nil {
		return err
	}
	err := a.resource(ref).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	if err == nil || apierrors.IsNotFound(err) {
		a.observed.Delete(ref)
		a.forget(ref)
		return nil
	}
	return err
}
