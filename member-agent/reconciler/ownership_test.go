package reconciler

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
)

func (e *env) mustReconcile(t *testing.T, key string) {
	t.Helper()
	if err := e.r.reconcile(context.Background(), key); err != nil {
		t.Fatalf("reconcile %q: %v", key, err)
	}
}

// wantConflict checks that the status reports object i not applied for a
// conflict saying what, and the ClusterAccessPoint Degraded for Conflict.
func wantConflict(t *testing.T, st trafficv1alpha1.ClusterAccessPointStatus, i int, what string) {
	t.Helper()
	o := st.Objects[i]
	if o.Applied || !strings.HasPrefix(o.Message, "Conflict:") || !strings.Contains(o.Message, what) {
		t.Fatalf("object %d = %+v; want Applied=false and a message starting Conflict: saying %q", i, o, what)
	}
	for _, typ := range []string{trafficv1alpha1.ClusterAccessPointDegraded, trafficv1alpha1.ClusterAccessPointApplied} {
		c := meta.FindStatusCondition(st.Conditions, typ)
		want := metav1.ConditionTrue
		if typ == trafficv1alpha1.ClusterAccessPointApplied {
			want = metav1.ConditionFalse
		}
		if c == nil || c.Status != want || c.Reason != ReasonConflict || !strings.Contains(c.Message, o.Kind+" shop/"+o.Name+": Conflict:") {
			t.Fatalf("%s = %+v; want %s for Conflict naming %s shop/%s", typ, c, want, o.Kind, o.Name)
		}
	}
}

// TestForeignObjectIsNeitherAdoptedNorPruned: an object of the same name that
// Portico did not create is not written over and reported as a conflict, while
// the others are applied; deleting the access point and sweeping leave it.
func TestForeignObjectIsNeitherAdoptedNorPruned(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("Gateway", "web"), manifest("VirtualService", "web"))
	e := newEnv(t, cap)
	foreign := e.applier.put("VirtualService", "web", "", "")
	e.mustReconcile(t, "shop.web")

	if !e.applier.has(foreign) || strings.Join(e.applier.applied, ",") != "Gateway/web" {
		t.Fatalf("applied %v, member cluster %v; want only the Gateway applied and the foreign VirtualService as it was", e.applier.applied, e.applier.objects)
	}
	st := e.status(t, "shop.web")
	if !st.Objects[0].Applied {
		t.Fatalf("the Gateway was not applied: %+v", st.Objects[0])
	}
	wantConflict(t, st, 1, "was not created by Portico")

	_ = e.indexer.Delete(cap)
	e.mustReconcile(t, "shop.web")
	e.mustReconcile(t, orphanKey)
	if !e.applier.has(foreign) || len(e.applier.objects) != 1 {
		t.Fatalf("after deleting the access point: %v; want only the foreign VirtualService, untouched", e.applier.objects)
	}
}

// TestObjectOfAnotherAccessPointIsAConflict: two access points naming the same
// object: the second does not take it over, reports the first as its owner,
// and deleting the second leaves it to the first.
func TestObjectOfAnotherAccessPointIsAConflict(t *testing.T) {
	first := newCAP("shop.a", "rev1", manifest("VirtualService", "web"))
	second := newCAP("shop.b", "rev1", manifest("Gateway", "b"), manifest("VirtualService", "web"))
	e := newEnv(t, first, second)
	e.mustReconcile(t, "shop.a")
	e.mustReconcile(t, "shop.b")

	owned := apply.Labelled{Ref: ref("VirtualService", "web"), AccessPoint: "shop.a", OwnerUID: "uid-shop.a"}
	if !e.applier.has(owned) {
		t.Fatalf("VirtualService shop/web = %+v, want it still shop.a's", e.applier.objects[key(owned.Ref)])
	}
	wantConflict(t, e.status(t, "shop.b"), 1, "belongs to ClusterAccessPoint shop.a (uid uid-shop.a)")

	_ = e.indexer.Delete(second)
	e.mustReconcile(t, "shop.b")
	e.mustReconcile(t, orphanKey)
	if !e.applier.has(owned) || len(e.applier.objects) != 1 {
		t.Fatalf("after deleting shop.b: %v; want only shop.a's VirtualService", e.applier.objects)
	}
}

// TestOlderAgentsObjectsAreAdopted: an object an agent wrote before owner UIDs
// (the access point's label, no owner annotation) is the access point's: it is
// applied (and so annotated) when still wanted, pruned when not.
func TestOlderAgentsObjectsAreAdopted(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("Gateway", "web"))
	e := newEnv(t, cap)
	e.applier.put("Gateway", "web", "shop.web", "")
	dropped := e.applier.put("VirtualService", "dropped", "shop.web", "")
	e.mustReconcile(t, "shop.web")

	want := apply.Labelled{Ref: ref("Gateway", "web"), AccessPoint: "shop.web", OwnerUID: "uid-shop.web"}
	if !e.applier.has(want) {
		t.Fatalf("Gateway shop/web = %+v, want it applied with the owner UID", e.applier.objects[key(want.Ref)])
	}
	if _, ok := e.applier.objects[key(dropped.Ref)]; ok {
		t.Fatal("the older agent's VirtualService the access point no longer lists was not pruned")
	}
	if st := e.status(t, "shop.web"); !st.Objects[0].Applied {
		t.Fatalf("status %+v", st.Objects)
	}
}

// TestObjectsOfAnEarlierAccessPointOfTheSameName: objects written for a
// ClusterAccessPoint that was deleted and created again (another UID) while
// the agent did not look are removed and written anew, not reported as
// conflicts; an object carrying the label but a live owner's UID stays.
func TestObjectsOfAnEarlierAccessPointOfTheSameName(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("Gateway", "web"))
	other := newCAP("shop.other", "rev1")
	e := newEnv(t, cap, other)
	e.applier.put("Gateway", "web", "shop.web", "uid-earlier")
	stray := e.applier.put("VirtualService", "stray", "shop.web", "uid-shop.other")
	e.mustReconcile(t, "shop.web")

	want := apply.Labelled{Ref: ref("Gateway", "web"), AccessPoint: "shop.web", OwnerUID: "uid-shop.web"}
	if !e.applier.has(want) {
		t.Fatalf("Gateway shop/web = %+v, want it written for the new ClusterAccessPoint", e.applier.objects[key(want.Ref)])
	}
	if st := e.status(t, "shop.web"); !st.Objects[0].Applied {
		t.Fatalf("status %+v", st.Objects)
	}
	if !e.applier.has(stray) {
		t.Fatal("an object of another live ClusterAccessPoint (by its owner UID) was pruned")
	}
}

// TestNamespacesAreNeverPruned: a Namespace the access point lists is applied,
// but neither removing it from the access point, nor deleting the access point,
// nor the orphan sweep deletes it.
func TestNamespacesAreNeverPruned(t *testing.T) {
	namespace := trafficv1alpha1.JSONObject{Raw: []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}`)}
	cap := newCAP("shop.web", "rev1", namespace, manifest("Gateway", "web"))
	e := newEnv(t, cap)
	e.mustReconcile(t, "shop.web")
	nsRef := ref("Namespace", "shop")
	if _, ok := e.applier.objects[key(nsRef)]; !ok {
		t.Fatalf("the Namespace was not applied: %v", e.applier.objects)
	}

	edited := cap.DeepCopy()
	edited.Spec.Manifests = edited.Spec.Manifests[1:]
	_ = e.indexer.Update(edited)
	e.mustReconcile(t, "shop.web")
	_ = e.indexer.Delete(edited)
	e.mustReconcile(t, "shop.web")
	e.mustReconcile(t, orphanKey)
	if _, ok := e.applier.objects[key(nsRef)]; !ok || len(e.applier.objects) != 1 {
		t.Fatalf("member cluster %v; want the Namespace kept and the Gateway pruned", e.applier.objects)
	}
}

// TestConflictIsLookedAtAgain: the object in a conflict's way is not watched,
// so an access point with a conflict is queued again (after conflictRecheck,
// here at once); one without is not.
func TestConflictIsLookedAtAgain(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("VirtualService", "web"))
	e := newEnv(t, cap)
	e.r.conflictRecheck = 0
	e.mustReconcile(t, "shop.web")
	if n := e.r.queue.Len(); n != 0 {
		t.Fatalf("queue length %d after a reconcile without conflict, want 0", n)
	}

	other := newCAP("shop.other", "rev1", manifest("VirtualService", "web"))
	_ = e.indexer.Add(other)
	_, _ = e.client.TrafficV1alpha1().ClusterAccessPoints(ns).Create(context.Background(), other, metav1.CreateOptions{})
	e.mustReconcile(t, "shop.other")
	if n := e.r.queue.Len(); n != 1 {
		t.Fatalf("queue length %d after a reconcile with a conflict, want 1", n)
	}
	if key, _ := e.r.queue.Get(); key != "shop.other" {
		t.Fatalf("queued %q, want shop.other", key)
	}
}
