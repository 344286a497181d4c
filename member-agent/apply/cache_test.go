package apply

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// TestTransformKeepsWhatTheAgentReads: an informer keeps a Cached of each
// object, keyed and indexed like the object, with its access point label,
// owner annotation and resource version, and nothing of the rest.
func TestTransformKeepsWhatTheAgentReads(t *testing.T) {
	obj := existingObject("networking.istio.io/v1", "Gateway", "shop", "web",
		map[string]string{Label: "shop.web", "team": "a"}, map[string]string{OwnerAnnotation: "uid-web", "note": "n"})
	obj.ResourceVersion, obj.UID = "42", "uid-of-the-gateway"
	obj.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: FieldManager}}
	got, err := Transform(obj)
	if err != nil {
		t.Fatal(err)
	}
	want := Cached{Namespace: "shop", Name: "web", AccessPoint: "shop.web", OwnerUID: "uid-web", ResourceVersion: "42"}
	if c, ok := got.(*Cached); !ok || *c != want {
		t.Fatalf("Transform = %#v, want %#v", got, want)
	}
	if again, _ := Transform(got); again != got {
		t.Errorf("Transform of a Cached = %#v, want it unchanged", again)
	}

	indexer := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, AccessPointIndexers)
	if err := indexer.Add(got); err != nil {
		t.Fatal(err)
	}
	if _, exists, _ := indexer.GetByKey("shop/web"); !exists {
		t.Errorf("the Cached is not under its object's key shop/web: %v", indexer.ListKeys())
	}
	c := &Cache{Stores: map[schema.GroupVersionResource]cache.Store{gvrOf(obj.GroupVersionKind().GroupKind()): indexer}, Synced: func() bool { return true }}
	if l := c.list("shop.web"); len(l) != 1 || l[0].OwnerUID != "uid-web" || l[0].ResourceVersion != "42" || l[0].Name != "web" {
		t.Errorf("list(shop.web) = %+v", l)
	}
	if l := c.list("shop.other"); len(l) != 0 {
		t.Errorf("list(shop.other) = %+v, want nothing", l)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "shop/web", Obj: got}
	if ap := AccessPointOf(tomb); ap != "shop.web" {
		t.Errorf("AccessPointOf(tombstone) = %q", ap)
	}
}

// TestCompleteCacheSavesReads: with a cache that holds every object of a kind
// (Cache.Complete), an object it lacks is applied without reading it from the
// API first, and one of the same name that is not the access point's is
// refused from the cache alone.
func TestCompleteCacheSavesReads(t *testing.T) {
	f := newFakeMember(t)
	gvr := schema.GroupVersionResource{Group: istioGroup, Version: "v1", Resource: "virtualservices"}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	hand, _ := Transform(existingObject("networking.istio.io/v1", "VirtualService", "shop", "hand-made", nil, nil))
	_ = store.Add(hand)
	f.client.UseCache(&Cache{Stores: map[schema.GroupVersionResource]cache.Store{gvr: store}, Complete: true, Synced: func() bool { return true }})
	vs := func(name string) Object {
		return mustParse(t, `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"`+name+`","namespace":"shop"},"spec":{}}`)
	}
	if err := f.client.Apply(context.Background(), vs("new")); err != nil {
		t.Fatal(err)
	}
	err := f.client.Apply(context.Background(), vs("hand-made"))
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Errorf("apply over the cached hand-made VirtualService: %v, want a ConflictError", err)
	}
	for _, a := range f.meta.Actions() {
		if a.GetVerb() != "patch" {
			t.Errorf("API action %s %s; want applies only", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if strings.Join(f.applied, ",") != "virtualservices shop/new" {
		t.Errorf("applied %v, want only virtualservices shop/new", f.applied)
	}
}
