package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
)

const ns = "portico-cluster-zone-a-1"

// fakeApplier is an in-memory member cluster. Like apply.Client, it refuses to
// write over an object that is not the applied object's owner's.
type fakeApplier struct {
	mu       sync.Mutex
	objects  map[string]apply.Labelled
	applied  []string
	refuse   map[string]string // name -> error
	nsCreate []string
}

func newFakeApplier() *fakeApplier {
	return &fakeApplier{objects: map[string]apply.Labelled{}, refuse: map[string]string{}}
}

func (f *fakeApplier) Apply(_ context.Context, obj apply.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if msg, ok := f.refuse[obj.Name]; ok {
		return errors.New(msg)
	}
	if existing, ok := f.objects[key(obj.Ref)]; ok {
		if err := apply.Check(obj, &existing); err != nil {
			return err
		}
	}
	var head struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(obj.Raw, &head); err != nil {
		return err
	}
	f.applied = append(f.applied, obj.GVK.Kind+"/"+obj.Name)
	f.objects[key(obj.Ref)] = apply.Labelled{Ref: obj.Ref, AccessPoint: head.Metadata.Labels[apply.Label],
		OwnerUID: head.Metadata.Annotations[apply.OwnerAnnotation]}
	return nil
}

// put puts an object into the member cluster, as someone else than the agent.
func (f *fakeApplier) put(kind, name, accessPoint, ownerUID string) apply.Labelled {
	l := apply.Labelled{Ref: ref(kind, name), AccessPoint: accessPoint, OwnerUID: ownerUID}
	f.objects[key(l.Ref)] = l
	return l
}

// has tells whether the member cluster holds the object, as it was put there.
func (f *fakeApplier) has(l apply.Labelled) bool {
	got, ok := f.objects[key(l.Ref)]
	return ok && got == l
}

// ref is an object of the test manifests: in namespace shop, but a Namespace.
func ref(kind, name string) apply.Ref {
	r := apply.Ref{Namespace: "shop", Name: name}
	r.GVK.Version, r.GVK.Kind = "v1", kind
	switch kind {
	case "Secret":
	case "Namespace":
		r.Namespace = ""
	default:
		r.GVK.Group = "networking.istio.io"
	}
	return r
}

func (f *fakeApplier) EnsureNamespace(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nsCreate = append(f.nsCreate, name)
	return nil
}

func (f *fakeApplier) List(_ context.Context, accessPoint string) ([]apply.Labelled, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apply.Labelled
	for _, o := range f.objects {
		if o.AccessPoint != "" && (accessPoint == "" || o.AccessPoint == apply.LabelValue(accessPoint)) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (f *fakeApplier) Delete(_ context.Context, ref apply.Ref) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, key(ref))
	return nil
}

// inOrder is what was applied, in order, the objects after the first first
// ones sorted: those are applied at once, in any order.
func inOrder(applied []string, first int) string {
	return strings.Join(append(slices.Clone(applied[:first]), slices.Sorted(slices.Values(applied[first:]))...), ",")
}

type noMetrics struct{}

func (noMetrics) ObserveApply(string, time.Duration, error) {}
func (noMetrics) ObserveReconcile(error)                    {}

func manifest(kind, name string) trafficv1alpha1.JSONObject {
	apiVersion := "networking.istio.io/v1"
	if kind == "Secret" || kind == "Namespace" {
		apiVersion = "v1"
	}
	return trafficv1alpha1.JSONObject{Raw: []byte(fmt.Sprintf(
		`{"apiVersion":%q,"kind":%q,"metadata":{"name":%q,"namespace":"shop"},"spec":{"selector":{"istio":"ingressgateway"}}}`, apiVersion, kind, name))}
}

type env struct {
	r       *Reconciler
	applier *fakeApplier
	indexer cache.Indexer
	client  *fake.Clientset
}

func newEnv(t *testing.T, caps ...*trafficv1alpha1.ClusterAccessPoint) *env {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	var objs []runtime.Object
	for _, c := range caps {
		_ = indexer.Add(c)
		objs = append(objs, c)
	}
	client := fake.NewSimpleClientset(objs...) //nolint:staticcheck // NewClientset needs apply configurations' schema.
	applier := newFakeApplier()
	eps := func(sel map[string]string) ([]trafficv1alpha1.GatewayEndpoint, error) {
		if sel["istio"] == "ingressgateway" {
			return []trafficv1alpha1.GatewayEndpoint{{Address: "10.0.0.10", Ready: true}}, nil
		}
		return nil, nil
	}
	r := New(client.TrafficV1alpha1().ClusterAccessPoints(ns), trafficlisters.NewClusterAccessPointLister(indexer).ClusterAccessPoints(ns),
		func() bool { return true }, applier, eps, noMetrics{})
	return &env{r: r, applier: applier, indexer: indexer, client: client}
}

func newCAP(name, revision string, manifests ...trafficv1alpha1.JSONObject) *trafficv1alpha1.ClusterAccessPoint {
	return &trafficv1alpha1.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 3, UID: types.UID("uid-" + name)},
		Spec:       trafficv1alpha1.ClusterAccessPointSpec{Revision: revision, Manifests: manifests},
	}
}

func (e *env) status(t *testing.T, name string) trafficv1alpha1.ClusterAccessPointStatus {
	t.Helper()
	c, err := e.client.TrafficV1alpha1().ClusterAccessPoints(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Status
}

func TestAppliesInOrderAndReportsStatus(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("VirtualService", "web"), manifest("Gateway", "web"), manifest("Secret", "web-cert"))
	e := newEnv(t, cap)
	if err := e.r.reconcile(context.Background(), "shop.web"); err != nil {
		t.Fatal(err)
	}
	if got := inOrder(e.applier.applied, 1); got != "Secret/web-cert,Gateway/web,VirtualService/web" {
		t.Fatalf("apply order = %s, want the Secret before Istio objects", got)
	}
	st := e.status(t, "shop.web")
	if st.ObservedRevision != "rev1" || st.ObservedGeneration != 3 || len(st.Objects) != 3 || !st.Objects[0].Applied {
		t.Fatalf("status = %+v", st)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, trafficv1alpha1.ClusterAccessPointApplied) ||
		!meta.IsStatusConditionFalse(st.Conditions, trafficv1alpha1.ClusterAccessPointDegraded) {
		t.Fatalf("conditions = %+v", st.Conditions)
	}
	if len(st.Gateway.Endpoints) != 1 || st.Gateway.Endpoints[0].Address != "10.0.0.10" {
		t.Fatalf("gateway endpoints = %+v", st.Gateway.Endpoints)
	}
}

// barrierApplier holds the apply of every object at order place 2 until
// all of them have begun.
type barrierApplier struct {
	*fakeApplier
	waiting sync.WaitGroup
}

func (b *barrierApplier) Apply(ctx context.Context, obj apply.Object) error {
	if apply.Order(obj.GVK.GroupKind()) == 2 {
		b.waiting.Done()
		done := make(chan struct{})
		go func() { b.waiting.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s applied alone", obj.Ref)
		}
	}
	return b.fakeApplier.Apply(ctx, obj)
}

// TestAppliesOnePlaceAtOnce: the objects of one place in the apply order (an
// access point's Istio objects) are applied at once, not one after the other,
// and each gets its own status.
func TestAppliesOnePlaceAtOnce(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("VirtualService", "web"), manifest("Gateway", "web"), manifest("DestinationRule", "web"))
	e := newEnv(t, cap)
	b := &barrierApplier{fakeApplier: e.applier}
	b.waiting.Add(3)
	e.r.applier = b
	if err := e.r.reconcile(context.Background(), "shop.web"); err != nil {
		t.Fatal(err)
	}
	st := e.status(t, "shop.web")
	for i, kind := range []string{"VirtualService", "Gateway", "DestinationRule"} {
		if o := st.Objects[i]; o.Kind != kind || !o.Applied {
			t.Errorf("object %d: %+v, want %s applied", i, o, kind)
		}
	}
}

func TestRefusedObjectIsReportedOthersApplied(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("Gateway", "web"), manifest("VirtualService", "bad"), manifest("DestinationRule", "web"))
	e := newEnv(t, cap)
	e.applier.refuse["bad"] = `admission webhook denied: spec.http[0].timeout`
	if err := e.r.reconcile(context.Background(), "shop.web"); err != nil {
		t.Fatal(err)
	}
	st := e.status(t, "shop.web")
	if st.Objects[1].Applied || !strings.Contains(st.Objects[1].Message, "webhook denied") || !st.Objects[0].Applied || !st.Objects[2].Applied {
		t.Fatalf("objects = %+v", st.Objects)
	}
	c := meta.FindStatusCondition(st.Conditions, trafficv1alpha1.ClusterAccessPointDegraded)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonApplyFailed || !strings.Contains(c.Message, "VirtualService shop/bad") {
		t.Fatalf("Degraded = %+v", c)
	}
}

func TestUnknownKindIsReported(t *testing.T) {
	cap := newCAP("shop.web", "rev1", trafficv1alpha1.JSONObject{Raw: []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}`)})
	e := newEnv(t, cap)
	if err := e.r.reconcile(context.Background(), "shop.web"); err != nil {
		t.Fatal(err)
	}
	st := e.status(t, "shop.web")
	if st.Objects[0].Applied || st.Objects[0].Kind != "Deployment" || !strings.Contains(st.Objects[0].Message, "not one the member-agent applies") {
		t.Fatalf("objects = %+v", st.Objects)
	}
}

func TestPrunesRemovedAndDeletedAccessPoints(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("Gateway", "web"), manifest("VirtualService", "web"))
	e := newEnv(t, cap)
	ctx := context.Background()
	if err := e.r.reconcile(ctx, "shop.web"); err != nil {
		t.Fatal(err)
	}
	other := apply.Labelled{Ref: apply.Ref{Namespace: "shop", Name: "foreign"}, AccessPoint: "shop.other"}
	other.GVK.Kind = "Gateway"
	e.applier.objects[key(other.Ref)] = other

	cap2 := cap.DeepCopy()
	cap2.Spec.Manifests = cap2.Spec.Manifests[:1]
	_ = e.indexer.Update(cap2)
	if err := e.r.reconcile(ctx, "shop.web"); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 2 {
		t.Fatalf("after removing a manifest: %v", e.applier.objects)
	}

	_ = e.indexer.Delete(cap2)
	if err := e.r.reconcile(ctx, "shop.web"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.applier.objects[key(other.Ref)]; !ok || len(e.applier.objects) != 1 {
		t.Fatalf("deleting the access point must remove only its objects: %v", e.applier.objects)
	}
	// The sweep removes objects of access points that no longer exist.
	if err := e.r.reconcile(ctx, orphanKey); err != nil {
		t.Fatal(err)
	}
	if len(e.applier.objects) != 0 {
		t.Fatalf("orphans left: %v", e.applier.objects)
	}
}

func TestStatusWrittenOnlyOnChange(t *testing.T) {
	cap := newCAP("shop.web", "rev1", manifest("Gateway", "web"))
	e := newEnv(t, cap)
	ctx := context.Background()
	if err := e.r.reconcile(ctx, "shop.web"); err != nil {
		t.Fatal(err)
	}
	written, _ := e.client.TrafficV1alpha1().ClusterAccessPoints(ns).Get(ctx, "shop.web", metav1.GetOptions{})
	_ = e.indexer.Update(written)
	before := len(e.client.Actions())
	if err := e.r.reconcile(ctx, "shop.web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.client.Actions()[before:] {
		if a.GetVerb() == "update" {
			t.Fatalf("status rewritten without a change: %v", a)
		}
	}
}
