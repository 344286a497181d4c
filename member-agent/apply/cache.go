package apply

import (
	"hash/maphash"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// Cached is what the agent's caches of the member cluster keep of an object of
// a kind it applies (Transform): its name, its access point label, its owner
// annotation and its resource version. That is all the agent reads, in a few
// hundred bytes where the object's metadata took more than a kilobyte (5000
// applied objects cost 7.7 MiB of heap with their metadata, 1.6 with this).
type Cached struct {
	Namespace, Name string
	// AccessPoint is the value of the access point label, OwnerUID the value
	// of the owner annotation; empty when the object has none.
	AccessPoint, OwnerUID string
	ResourceVersion       string
}

// GetObjectMeta returns the namespace, name and resource version of the
// object, for what reads them through meta.Accessor (the informer's key
// function); read the label and the annotation from AccessPoint and OwnerUID.
func (c *Cached) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name, ResourceVersion: c.ResourceVersion}
}

// Transform (a cache.TransformFunc) keeps a Cached of each object in the
// caches of applied objects. It passes a Cached, and anything without
// metadata, unchanged.
func Transform(obj any) (any, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	return &Cached{Namespace: m.GetNamespace(), Name: m.GetName(), AccessPoint: m.GetLabels()[Label],
		OwnerUID: m.GetAnnotations()[OwnerAnnotation], ResourceVersion: m.GetResourceVersion()}, nil
}

// AccessPointOf returns the access point label of a cached object (a Cached,
// object metadata, or a tombstone of either): "" when it has none.
func AccessPointOf(obj any) string {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if l, ok := labelledOf(Ref{}, obj); ok {
		return l.AccessPoint
	}
	return ""
}

// labelledOf describes a cached object (a Cached or object metadata).
func labelledOf(ref Ref, obj any) (Labelled, bool) {
	switch o := obj.(type) {
	case *Cached:
		ref.Namespace, ref.Name = o.Namespace, o.Name
		return Labelled{Ref: ref, AccessPoint: o.AccessPoint, OwnerUID: o.OwnerUID, ResourceVersion: o.ResourceVersion}, true
	case metav1.Object:
		ref.Namespace, ref.Name = o.GetNamespace(), o.GetName()
		return labelled(ref, o), true
	}
	return Labelled{}, false
}

// Cache lists labelled objects from metadata informers instead of the API, and
// tells whose a labelled object is without asking the API.
type Cache struct {
	// Stores are the informers' stores; an Indexer with the index
	// IndexAccessPoint (AccessPointIndexers) lists one access point's objects
	// without scanning the others.
	Stores map[schema.GroupVersionResource]cache.Store
	// Complete stores hold every object of their kinds, labelled or not: an
	// object a synced store lacks does not exist, and Apply writes it without
	// reading it first. Otherwise they hold labelled objects only.
	Complete bool
	Synced   func() bool
}

// IndexAccessPoint indexes cached objects by their Label value, hashed into
// accessPointBuckets: an index entry for each access point would cost more
// than the cached object.
const IndexAccessPoint = "portico.dev/access-point-bucket"

// accessPointBuckets is how many index values the access points share.
const accessPointBuckets = 64

var bucketSeed = maphash.MakeSeed()

// accessPointBucket is the index value of an access point label value.
func accessPointBucket(value string) string {
	return strconv.FormatUint(maphash.String(bucketSeed, value)%accessPointBuckets, 10)
}

// AccessPointIndexers are the indexers Cache stores should have.
var AccessPointIndexers = cache.Indexers{IndexAccessPoint: func(obj any) ([]string, error) {
	if v := AccessPointOf(obj); v != "" {
		return []string{accessPointBucket(v)}, nil
	}
	return nil, nil
}}

func (c *Cache) list(accessPoint string) []Labelled {
	var out []Labelled
	var value, bucket string
	if accessPoint != "" {
		value = LabelValue(accessPoint)
		bucket = accessPointBucket(value)
	}
	for gk := range kinds {
		store := c.Stores[gvrOf(gk)]
		if store == nil {
			continue
		}
		items := store.List
		if indexer, ok := store.(cache.Indexer); ok && accessPoint != "" {
			if _, indexed := indexer.GetIndexers()[IndexAccessPoint]; indexed {
				items = func() []any {
					byIndex, _ := indexer.ByIndex(IndexAccessPoint, bucket)
					return byIndex
				}
			}
		}
		for _, item := range items() {
			l, ok := labelledOf(Ref{GVK: gk.WithVersion("v1")}, item)
			if !ok || l.AccessPoint == "" || (accessPoint != "" && l.AccessPoint != value) {
				continue
			}
			out = append(out, l)
		}
	}
	return out
}

// get returns the cached object of ref, nil when the cache has none; known
// tells whether that answer is the member cluster's (a Complete cache of the
// kind) or the object must be read.
func (c *Cache) get(ref Ref) (l *Labelled, known bool) {
	store := c.Stores[gvrOf(ref.GVK.GroupKind())]
	if store == nil {
		return nil, false
	}
	key := ref.Name
	if ref.Namespace != "" {
		key = ref.Namespace + "/" + ref.Name
	}
	item, exists, err := store.GetByKey(key)
	if err != nil || !exists {
		return nil, err == nil && c.Complete
	}
	found, ok := labelledOf(ref, item)
	if !ok {
		return nil, false
	}
	return &found, true
}
