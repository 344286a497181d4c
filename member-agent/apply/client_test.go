package apply

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func TestOwns(t *testing.T) {
	tests := []struct {
		name     string
		existing Labelled
		want     bool
	}{
		{"owner annotation of this ClusterAccessPoint", Labelled{AccessPoint: "shop.web", OwnerUID: "uid-web"}, true},
		{"owner annotation decides over the label", Labelled{AccessPoint: "shop.other", OwnerUID: "uid-web"}, true},
		{"owner annotation of an earlier ClusterAccessPoint of the same name", Labelled{AccessPoint: "shop.web", OwnerUID: "uid-old"}, false},
		{"owner annotation of another ClusterAccessPoint", Labelled{AccessPoint: "shop.other", OwnerUID: "uid-other"}, false},
		{"written by an older agent for this ClusterAccessPoint", Labelled{AccessPoint: "shop.web"}, true},
		{"written by an older agent for another ClusterAccessPoint", Labelled{AccessPoint: "shop.other"}, false},
		{"not created by Portico", Labelled{}, false},
	}
	for _, tt := range tests {
		if got := owner.Owns(tt.existing); got != tt.want {
			t.Errorf("%s: Owns(%+v) = %v, want %v", tt.name, tt.existing, got, tt.want)
		}
	}
}

func TestConflictMessages(t *testing.T) {
	vs := Ref{GVK: schema.GroupVersionKind{Group: istioGroup, Version: "v1", Kind: "VirtualService"}, Namespace: "shop", Name: "web"}
	tests := []struct {
		existing Labelled
		want     string
	}{
		{Labelled{Ref: vs}, "Conflict: a VirtualService of that name exists and was not created by Portico; it is left as it is: delete it"},
		{Labelled{Ref: vs, AccessPoint: "shop.other", OwnerUID: "uid-other"}, "Conflict: a VirtualService of that name exists and belongs to ClusterAccessPoint shop.other (uid uid-other); it is left as it is"},
		{Labelled{Ref: vs, AccessPoint: "shop.other"}, "Conflict: a VirtualService of that name exists and belongs to ClusterAccessPoint shop.other; it is left"},
		{Labelled{Ref: vs, OwnerUID: "uid-other"}, "Conflict: a VirtualService of that name exists and belongs to the ClusterAccessPoint of uid uid-other; it is left"},
	}
	for _, tt := range tests {
		if got := (&ConflictError{Existing: tt.existing}).Error(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("conflict with %+v:\n got  %q\n want %q...", tt.existing, got, tt.want)
		}
	}
}

// fakeMember is a member cluster for Client: metadata through a fake metadata
// client, applies recorded (and accepted) by it, and by a fake dynamic client
// for the kinds whose status Portico reports.
type fakeMember struct {
	client  *Client
	meta    *metadatafake.FakeMetadataClient
	applied []string
}

func newFakeMember(t *testing.T, existing ...*metav1.PartialObjectMetadata) *fakeMember {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, o := range existing {
		objs = append(objs, o)
	}
	f := &fakeMember{meta: metadatafake.NewSimpleMetadataClient(scheme, objs...)}
	record := func(a k8stesting.Action) k8stesting.PatchAction {
		p := a.(k8stesting.PatchAction)
		if p.GetPatchType() != types.ApplyPatchType {
			t.Errorf("%s %s/%s: patch type %s, want a server-side apply", a.GetResource().Resource, a.GetNamespace(), p.GetName(), p.GetPatchType())
		}
		f.applied = append(f.applied, a.GetResource().Resource+" "+a.GetNamespace()+"/"+p.GetName())
		return p
	}
	f.meta.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := record(a)
		// Each apply gives the object a new resource version.
		rv := strconv.Itoa(len(f.applied))
		return true, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: p.GetNamespace(), Name: p.GetName(), ResourceVersion: rv}}, nil
	})
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, f.gatewayReply(record(a)), nil
	})
	f.client = NewClient(kubefake.NewClientset(), dyn, f.meta)
	return f
}

// gatewayReply is what the fake member cluster returns for an apply of a
// Gateway API object: a Gateway with an implementation's status, a route
// without.
func (f *fakeMember) gatewayReply(a k8stesting.PatchAction) runtime.Object {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": gatewayAPIGroup + "/v1", "kind": "Unknown"}}
	u.SetNamespace(a.GetNamespace())
	u.SetName(a.GetName())
	u.SetGeneration(4)
	u.SetResourceVersion(strconv.Itoa(len(f.applied)))
	if a.GetResource().Resource == "gateways" {
		u.SetKind("Gateway")
		u.Object["status"] = map[string]any{"conditions": []any{map[string]any{
			"type": "Programmed", "status": "False", "reason": "AddressNotUsable", "observedGeneration": int64(4)}}}
	}
	return u
}

// existingObject is the metadata of an object in the member cluster.
func existingObject(apiVersion, kind, namespace, name string, labels, annotations map[string]string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels, Annotations: annotations},
	}
}

func mustParse(t *testing.T, raw string) Object {
	t.Helper()
	obj, err := Parse([]byte(raw), owner)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestApplyNeverAdopts: Client.Apply writes a new object and one that is its
// ClusterAccessPoint's (also one an older agent labelled for it), and refuses,
// without writing, an object of the same name that Portico did not create or
// that belongs to another ClusterAccessPoint.
func TestApplyNeverAdopts(t *testing.T) {
	const istioV1 = "networking.istio.io/v1"
	f := newFakeMember(t,
		existingObject(istioV1, "VirtualService", "shop", "hand-made", nil, nil),
		existingObject(istioV1, "VirtualService", "shop", "other", map[string]string{Label: "shop.other"}, map[string]string{OwnerAnnotation: "uid-other"}),
		existingObject(istioV1, "VirtualService", "shop", "mine", map[string]string{Label: "shop.web"}, map[string]string{OwnerAnnotation: "uid-web"}),
		existingObject(istioV1, "VirtualService", "shop", "legacy", map[string]string{Label: "shop.web"}, nil),
		existingObject("v1", "Secret", "istio-system", "foreign-cert", map[string]string{"team": "a"}, nil),
	)
	ctx := context.Background()
	vs := func(name string) Object {
		return mustParse(t, `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"`+name+`","namespace":"shop"},"spec":{}}`)
	}
	for _, name := range []string{"new", "mine", "legacy"} {
		if err := f.client.Apply(ctx, vs(name)); err != nil {
			t.Errorf("apply VirtualService shop/%s: %v", name, err)
		}
	}
	refused := []struct {
		obj  Object
		want string
	}{
		{vs("hand-made"), "was not created by Portico"},
		{vs("other"), "belongs to ClusterAccessPoint shop.other (uid uid-other)"},
		{mustParse(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"foreign-cert","namespace":"istio-system"}}`), "was not created by Portico"},
	}
	for _, r := range refused {
		err := f.client.Apply(ctx, r.obj)
		var conflict *ConflictError
		if !errors.As(err, &conflict) || !strings.HasPrefix(err.Error(), ConflictPrefix) || !strings.Contains(err.Error(), r.want) {
			t.Errorf("apply %s over an object that is not its own: %v; want a ConflictError saying %q", r.obj.Ref, err, r.want)
		}
	}
	want := "virtualservices shop/new,virtualservices shop/mine,virtualservices shop/legacy"
	if got := strings.Join(f.applied, ","); got != want {
		t.Fatalf("applied %s, want only %s", got, want)
	}
}

// TestApplyChecksOwnersInTheCache: with a synced cache, a labelled object is
// judged by its cached metadata, without a read from the API.
func TestApplyChecksOwnersInTheCache(t *testing.T) {
	f := newFakeMember(t)
	gvr := schema.GroupVersionResource{Group: istioGroup, Version: "v1", Resource: "gateways"}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	_ = store.Add(existingObject("networking.istio.io/v1", "Gateway", "shop", "web",
		map[string]string{Label: "shop.web"}, map[string]string{OwnerAnnotation: "uid-before"}))
	f.client.UseCache(&Cache{Stores: map[schema.GroupVersionResource]cache.Store{gvr: store}, Synced: func() bool { return true }})

	err := f.client.Apply(context.Background(), mustParse(t, `{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"shop"},"spec":{}}`))
	if err == nil || !strings.Contains(err.Error(), "belongs to ClusterAccessPoint shop.web (uid uid-before)") {
		t.Fatalf("apply over a cached object of an earlier ClusterAccessPoint: %v", err)
	}
	if len(f.applied) != 0 || len(f.meta.Actions()) != 0 {
		t.Fatalf("applied %v, API actions %v; want neither", f.applied, f.meta.Actions())
	}

	l := f.client.cache.list("shop.web")
	if len(l) != 1 || l[0].OwnerUID != "uid-before" || l[0].AccessPoint != "shop.web" || l[0].Name != "web" {
		t.Fatalf("cached list = %+v", l)
	}
}

// TestApplySkipsUnchanged: an object is not applied again with the manifest
// the agent applied last while the cache shows the resource version that
// apply gave it; it is once the object changed (another resource version,
// by anyone) or the manifest did.
func TestApplySkipsUnchanged(t *testing.T) {
	f := newFakeMember(t)
	gvr := schema.GroupVersionResource{Group: istioGroup, Version: "v1", Resource: "gateways"}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	f.client.UseCache(&Cache{Stores: map[schema.GroupVersionResource]cache.Store{gvr: store}, Synced: func() bool { return true }})
	ctx := context.Background()
	gateway := func(hosts string) Object {
		return mustParse(t, `{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"shop"},"spec":{"servers":[{"hosts":[`+hosts+`]}]}}`)
	}
	// What the cache holds once the member cluster reports the object.
	cached := func(rv string) {
		_ = store.Add(&Cached{Namespace: "shop", Name: "web", AccessPoint: "shop.web", OwnerUID: "uid-web", ResourceVersion: rv})
	}
	steps := []struct {
		what    string
		cached  string // resource version in the cache before the apply; "" none
		hosts   string
		applied int
	}{
		{"a new object", "", `"a"`, 1},
		{"the same manifest before the cache caught up", "0", `"a"`, 2},
		{"the same manifest, the object as the agent left it", "2", `"a"`, 2},
		{"the same manifest again", "2", `"a"`, 2},
		{"the object changed since", "7", `"a"`, 3},
		{"another manifest", "3", `"b"`, 4},
	}
	for _, s := range steps {
		if s.cached != "" {
			cached(s.cached)
		}
		if err := f.client.Apply(ctx, gateway(s.hosts)); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if len(f.applied) != s.applied {
			t.Fatalf("%s: %d applies in all, want %d", s.what, len(f.applied), s.applied)
		}
	}
	// The cache's copy of the object as the last apply (resource version 4)
	// left it is the echo of that apply; another version is not.
	if !f.client.Echo(gvr, &Cached{Namespace: "shop", Name: "web", ResourceVersion: "4"}) ||
		f.client.Echo(gvr, &Cached{Namespace: "shop", Name: "web", ResourceVersion: "3"}) ||
		f.client.Echo(gvr, &Cached{Namespace: "shop", Name: "other", ResourceVersion: "4"}) {
		t.Errorf("Echo does not tell the last apply's version 4 of Gateway shop/web from others")
	}
	if err := f.client.Delete(ctx, gateway(`"b"`).Ref); err != nil {
		t.Fatal(err)
	}
	if f.client.Echo(gvr, &Cached{Namespace: "shop", Name: "web", ResourceVersion: "4"}) {
		t.Errorf("a deleted object's last apply is still remembered")
	}
	cached("4")
	if err := f.client.Apply(ctx, gateway(`"b"`)); err != nil || len(f.applied) != 5 {
		t.Fatalf("apply after a delete: %v, %d applies in all, want 5", err, len(f.applied))
	}

	// A Gateway API Gateway's apply reads its status back: it is never skipped.
	kgvr := schema.GroupVersionResource{Group: gatewayAPIGroup, Version: "v1", Resource: "gateways"}
	kstore := cache.NewStore(cache.MetaNamespaceKeyFunc)
	f.client.UseCache(&Cache{Stores: map[schema.GroupVersionResource]cache.Store{kgvr: kstore}, Synced: func() bool { return true }})
	kgw := mustParse(t, `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"shop"},"spec":{}}`)
	for i := range 2 {
		if err := f.client.Apply(ctx, kgw); err != nil {
			t.Fatal(err)
		}
		_ = kstore.Add(&Cached{Namespace: "shop", Name: "web", AccessPoint: "shop.web", OwnerUID: "uid-web", ResourceVersion: strconv.Itoa(len(f.applied))})
		if len(f.applied) != 6+i {
			t.Fatalf("Gateway API Gateway applied %d times, want %d", len(f.applied)-5, 1+i)
		}
	}
}

// scanFails is an indexed store whose full listing fails the test.
type scanFails struct {
	cache.Indexer
	t *testing.T
}

func (s scanFails) List() []any {
	s.t.Error("listing one access point's objects scanned the whole store")
	return s.Indexer.List()
}

// TestCacheListsOneAccessPointByIndex: with AccessPointIndexers, the objects of
// one access point come from the index, without reading every cached object
// (a ClusterAccessPoint's sync costs what it owns, not what the cluster holds).
func TestCacheListsOneAccessPointByIndex(t *testing.T) {
	f := newFakeMember(t)
	gvr := schema.GroupVersionResource{Group: istioGroup, Version: "v1", Resource: "gateways"}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, AccessPointIndexers)
	for _, ap := range []string{"shop.web", "shop.api", "shop.cart"} {
		name := strings.TrimPrefix(ap, "shop.")
		_ = indexer.Add(existingObject("networking.istio.io/v1", "Gateway", "shop", name, map[string]string{Label: LabelValue(ap)}, nil))
	}
	f.client.UseCache(&Cache{Stores: map[schema.GroupVersionResource]cache.Store{gvr: scanFails{indexer, t}}, Synced: func() bool { return true }})
	l, err := f.client.List(context.Background(), "shop.api")
	if err != nil || len(l) != 1 || l[0].Name != "api" || l[0].AccessPoint != "shop.api" {
		t.Fatalf("List(shop.api) = %+v, %v", l, err)
	}
}

// TestSecretsOnlyInTheGatewayNamespace: with RestrictSecrets, a Secret outside
// the gateway namespace is refused without a write, listing reads Secrets of
// the gateway namespace only, and such a Secret is never deleted.
func TestSecretsOnlyInTheGatewayNamespace(t *testing.T) {
	web := map[string]string{Label: "shop.web"}
	f := newFakeMember(t,
		existingObject("v1", "Secret", "gateways", "web-cert", web, nil),
		existingObject("v1", "Secret", "shop", "db-password", web, nil),
	)
	f.client.RestrictSecrets("gateways")
	ctx := context.Background()
	secret := func(ns string) Object {
		return mustParse(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"web-cert2","namespace":"`+ns+`"}}`)
	}
	if err := f.client.Apply(ctx, secret("gateways")); err != nil {
		t.Errorf("apply a Secret in the gateway namespace: %v", err)
	}
	err := f.client.Apply(ctx, secret("kube-system"))
	if err == nil || !strings.Contains(err.Error(), "only in the gateway namespace gateways") {
		t.Errorf("apply a Secret in kube-system: %v, want refused naming the gateway namespace", err)
	}
	if got := strings.Join(f.applied, ","); got != "secrets gateways/web-cert2" {
		t.Errorf("applied %s, want only secrets gateways/web-cert2", got)
	}
	list, err := f.client.List(ctx, "shop.web")
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, l := range list {
		if l.Ref.GVK.Kind == "Secret" {
			secrets = append(secrets, l.Ref.Namespace+"/"+l.Ref.Name)
		}
	}
	if strings.Join(secrets, ",") != "gateways/web-cert" {
		t.Errorf("listed Secrets %v, want only gateways/web-cert", secrets)
	}
	outside := Ref{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, Namespace: "shop", Name: "db-password"}
	if err := f.client.Delete(ctx, outside); err == nil {
		t.Errorf("deleting Secret shop/db-password succeeded, want refused")
	}
}

// TestAppliesEveryTemplateKind: every kind an access point's template may
// carry is parsed, applied with server-side apply and watched for drift.
func TestAppliesEveryTemplateKind(t *testing.T) {
	specs := map[string]string{
		"AuthorizationPolicy":   `{"selector":{"matchLabels":{"istio":"ingressgateway"}},"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin/*"]}}]}]}`,
		"RequestAuthentication": `{"selector":{"matchLabels":{"istio":"ingressgateway"}},"jwtRules":[{"issuer":"https://issuer.example.com"}]}`,
		"Telemetry":             `{"selector":{"matchLabels":{"istio":"ingressgateway"}},"tracing":[{"randomSamplingPercentage":10}]}`,
	}
	f := newFakeMember(t)
	watched := map[schema.GroupVersionResource]bool{}
	for _, gvr := range Resources() {
		watched[gvr] = true
	}
	var want []string
	for _, tk := range trafficv1alpha1.TemplateKinds {
		spec := specs[tk.Kind]
		if spec == "" {
			spec = "{}"
		}
		obj := mustParse(t, `{"apiVersion":"`+tk.Group+`/v1","kind":"`+tk.Kind+`","metadata":{"name":"web","namespace":"istio-system"},"spec":`+spec+`}`)
		if err := f.client.Apply(context.Background(), obj); err != nil {
			t.Errorf("apply %s: %v", obj.Ref, err)
		}
		gvr := gvrOf(obj.GVK.GroupKind())
		if !watched[gvr] || Order(obj.GVK.GroupKind()) != 2 {
			t.Errorf("%s: watched %v, order %d; want watched, applied with the Istio kinds", gvr, watched[gvr], Order(obj.GVK.GroupKind()))
		}
		want = append(want, gvr.Resource+" istio-system/web")
	}
	if got, want := strings.Join(f.applied, ","), strings.Join(want, ","); got != want {
		t.Fatalf("applied %s\nwant %s", got, want)
	}
}

// TestAppliesGatewayAPIKinds: the Gateway API kinds of a template, and the
// ReferenceGrant rendered with them, are applied with server-side apply and
// watched for drift; the ReferenceGrant goes before the objects that rely on it. What
// the member cluster returns for a Gateway or a route, its generation and
// its status, is kept until the object is deleted.
func TestAppliesGatewayAPIKinds(t *testing.T) {
	specs := map[string]string{
		"Gateway": `{"gatewayClassName":"istio","addresses":[{"type":"Hostname","value":"istio-ingressgateway.istio-system.svc.cluster.local"}],` +
			`"listeners":[{"name":"https","port":443,"protocol":"HTTPS","hostname":"shop.example.com","tls":{"certificateRefs":[{"name":"shop.web-tls","namespace":"istio-system"}]}}]}`,
		"HTTPRoute":      `{"parentRefs":[{"name":"web"}],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"name":"web","port":80}]}]}`,
		"GRPCRoute":      `{"parentRefs":[{"name":"web"}],"rules":[{"backendRefs":[{"name":"cart","port":9090}]}]}`,
		"TLSRoute":       `{"parentRefs":[{"name":"web"}],"hostnames":["db.example.com"],"rules":[{"backendRefs":[{"name":"db","port":5432}]}]}`,
		"TCPRoute":       `{"parentRefs":[{"name":"web"}],"rules":[{"backendRefs":[{"name":"legacy","port":9000}]}]}`,
		"ReferenceGrant": `{"from":[{"group":"gateway.networking.k8s.io","kind":"Gateway","namespace":"shop"}],"to":[{"group":"","kind":"Secret","name":"shop.web-tls"}]}`,
	}
	f := newFakeMember(t)
	watched := map[schema.GroupVersionResource]bool{}
	for _, gvr := range Resources() {
		watched[gvr] = true
	}
	ctx := context.Background()
	kinds := []string{"ReferenceGrant"}
	for _, k := range trafficv1alpha1.GatewayAPIKinds {
		kinds = append(kinds, k.Kind)
	}
	var want []string
	for _, kind := range kinds {
		obj := mustParse(t, `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"`+kind+`","metadata":{"name":"web","namespace":"shop"},"spec":`+specs[kind]+`}`)
		if err := f.client.Apply(ctx, obj); err != nil {
			t.Errorf("apply %s: %v", obj.Ref, err)
		}
		gvr := gvrOf(obj.GVK.GroupKind())
		wantOrder := 2
		if kind == "ReferenceGrant" {
			wantOrder = 1
		}
		if !watched[gvr] || gvr.Group != gatewayAPIGroup || Order(obj.GVK.GroupKind()) != wantOrder {
			t.Errorf("%s: watched %v, order %d; want watched, order %d", gvr, watched[gvr], Order(obj.GVK.GroupKind()), wantOrder)
		}
		want = append(want, gvr.Resource+" shop/web")
	}
	if got, want := strings.Join(f.applied, ","), strings.Join(want, ","); got != want {
		t.Fatalf("applied %s\nwant %s", got, want)
	}

	gw := Ref{GVK: schema.GroupVersionKind{Group: gatewayAPIGroup, Version: "v1", Kind: "Gateway"}, Namespace: "shop", Name: "web"}
	o, ok := f.client.Observed(gw)
	if !ok || o.Generation != 4 || !strings.Contains(string(o.Status), `"reason":"AddressNotUsable"`) {
		t.Fatalf("observed Gateway %+v (%s), %v; want generation 4 and the status the member cluster returned", o, o.Status, ok)
	}
	route := gw
	route.GVK.Kind = "HTTPRoute"
	if _, ok := f.client.Observed(route); !ok {
		t.Errorf("no observed HTTPRoute")
	}
	grant := gw
	grant.GVK.Kind = "ReferenceGrant"
	if _, ok := f.client.Observed(grant); ok {
		t.Errorf("a ReferenceGrant observed; only kinds with an implementation's status are")
	}
	if err := f.client.Delete(ctx, gw); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.client.Observed(gw); ok {
		t.Errorf("the deleted Gateway is still observed")
	}
}
