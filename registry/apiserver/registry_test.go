//go:build registry

// The registry tier: Portico's storage on a real (embedded) etcd, driven through the
// REST storage the API server installs, without HTTP.
package apiserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/traffic"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/cluster/membercluster"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/federatedaccesspoint"
	"github.com/portico-dev/portico/registry/traffic/vippool"
	"github.com/portico-dev/portico/registry/traffic/virtualip"
)

type optsGetter struct{ cfg *storagebackend.Config }

func (g optsGetter) GetRESTOptions(resource schema.GroupResource, _ runtime.Object) (generic.RESTOptions, error) {
	return generic.RESTOptions{
		StorageConfig:           g.cfg.ForResource(resource),
		Decorator:               generic.UndecoratedStorage,
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          resource.Group + "/" + resource.Resource,
	}, nil
}

func newOptsGetter(t *testing.T) generic.RESTOptionsGetter {
	t.Helper()
	e, err := StartEmbeddedEtcd(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cfg := storagebackend.NewDefaultConfig(etcdPathPrefix, Codecs.LegacyCodec(StorageVersions...))
	cfg.Transport.ServerList = []string{e.ClientURL}
	return optsGetter{cfg}
}

func ctxIn(ns string) context.Context {
	return genericapirequest.WithNamespace(genericapirequest.NewContext(), ns)
}

const validVS = `{"hosts":["shop.example.com"],"gateways":["shop"],"http":[{"timeout":"5s","route":[{"destination":{"host":"web.shop.svc.cluster.local","port":{"number":8080}}}]}]}`

func newFAP(name, vs string) *traffic.FederatedAccessPoint {
	return &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: []string{"shop.example.com"},
			Template: traffic.AccessPointTemplate{
				VirtualServices: []traffic.NamedTemplate{{Name: "web", Spec: traffic.JSONObject{Raw: []byte(vs)}}},
			},
		},
	}
}

func create(t *testing.T, r *store.REST, ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	t.Helper()
	return r.Create(ctx, obj, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
}

func update(ctx context.Context, u rest.Updater, obj runtime.Object, name string) (runtime.Object, error) {
	out, _, err := u.Update(ctx, name, rest.DefaultUpdatedObjectInfo(obj), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return out, err
}

func TestSpecAndStatusAreSeparate(t *testing.T) {
	r, status, err := store.New(Scheme, newOptsGetter(t), federatedaccesspoint.Kind)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxIn("shop")

	in := newFAP("web", validVS)
	in.Status.Revision = "forged"
	out, err := create(t, r, ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	fap := out.(*traffic.FederatedAccessPoint)
	if fap.Status.Revision != "" || fap.Generation != 1 {
		t.Fatalf("create must clear status and start generation at 1: status=%+v generation=%d", fap.Status, fap.Generation)
	}

	// A status update cannot change spec.
	edit := fap.DeepCopy()
	edit.Status.Revision = "abc"
	edit.Spec.Hosts = []string{"evil.example.com"}
	out, err = update(ctx, status, edit, "web")
	if err != nil {
		t.Fatal(err)
	}
	fap = out.(*traffic.FederatedAccessPoint)
	if fap.Status.Revision != "abc" || fap.Spec.Hosts[0] != "shop.example.com" || fap.Generation != 1 {
		t.Fatalf("status update: revision=%q hosts=%v generation=%d", fap.Status.Revision, fap.Spec.Hosts, fap.Generation)
	}

	// A spec update cannot change status, and bumps the generation.
	edit = fap.DeepCopy()
	edit.Status.Revision = "forged"
	edit.Spec.Hosts = []string{"shop.example.com", "www.example.com"}
	out, err = update(ctx, r, edit, "web")
	if err != nil {
		t.Fatal(err)
	}
	fap = out.(*traffic.FederatedAccessPoint)
	if fap.Status.Revision != "abc" || len(fap.Spec.Hosts) != 2 || fap.Generation != 2 {
		t.Fatalf("spec update: revision=%q hosts=%v generation=%d", fap.Status.Revision, fap.Spec.Hosts, fap.Generation)
	}

	// A status-only write through the main resource changes nothing.
	edit = fap.DeepCopy()
	edit.Status.Revision = "forged"
	out, err = update(ctx, r, edit, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(*traffic.FederatedAccessPoint); got.Status.Revision != "abc" || got.Generation != 2 {
		t.Fatalf("status through main resource: revision=%q generation=%d", got.Status.Revision, got.Generation)
	}
}

func TestTemplatesValidatedAgainstIstioSchema(t *testing.T) {
	r, _, err := store.New(Scheme, newOptsGetter(t), federatedaccesspoint.Kind)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxIn("shop")

	bad := strings.Replace(validVS, `"timeout":"5s"`, `"timeout":"0s"`, 1)
	_, err = create(t, r, ctx, newFAP("bad", bad))
	wantInvalid(t, err, "spec.template.virtualServices[0].spec.http[0].timeout")

	// The gateway policies too (security.istio.io).
	badPolicy := newFAP("badpolicy", validVS)
	badPolicy.Spec.Template.AuthorizationPolicies = []traffic.NamedTemplate{{Name: "deny", Spec: traffic.JSONObject{Raw: []byte(`{"action":"NOPE"}`)}}}
	_, err = create(t, r, ctx, badPolicy)
	wantInvalid(t, err, "spec.template.authorizationPolicies[0].spec.action")

	// The Gateway API templates against the Gateway API CRDs' schemas, and
	// not next to an Istio gateway.
	gatewayAPI := func(name, route string) *traffic.FederatedAccessPoint {
		fap := newFAP(name, validVS)
		fap.Spec.Template.VirtualServices = nil
		fap.Spec.Template.GatewayAPI = &traffic.GatewayAPITemplate{
			Gateways: []traffic.NamedTemplate{{Name: "web", Spec: traffic.JSONObject{Raw: []byte(
				`{"gatewayClassName":"istio","listeners":[{"name":"http","port":80,"protocol":"HTTP","hostname":"shop.example.com"}]}`)}}},
			HTTPRoutes: []traffic.NamedTemplate{{Name: "web", Spec: traffic.JSONObject{Raw: []byte(route)}}},
		}
		return fap
	}
	const route = `{"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"name":"web","port":80}]}]}`
	_, err = create(t, r, ctx, gatewayAPI("badroute", strings.Replace(route, "PathPrefix", "Nope", 1)))
	wantInvalid(t, err, "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path.type")
	both := gatewayAPI("both", route)
	both.Spec.Template.VirtualServices = newFAP("", validVS).Spec.Template.VirtualServices
	_, err = create(t, r, ctx, both)
	wantInvalid(t, err, "spec.template.virtualServices")
	if _, err := create(t, r, ctx, gatewayAPI("goodroute", route)); err != nil {
		t.Fatalf("a valid Gateway API access point: %v", err)
	}

	noHost := strings.Replace(validVS, `"host":"web.shop.svc.cluster.local",`, ``, 1)
	_, err = create(t, r, ctx, newFAP("nohost", noHost))
	wantInvalid(t, err, "spec.template.virtualServices[0].spec.http[0].route[0].destination.host")

	// Nothing was written for the rejected objects.
	if _, err := r.Get(ctx, "bad", &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("rejected object must not be stored, get: %v", err)
	}

	// A valid one is stored unchanged.
	if _, err := create(t, r, ctx, newFAP("good", validVS)); err != nil {
		t.Fatal(err)
	}
	out, err := r.Get(ctx, "good", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*traffic.FederatedAccessPoint).Spec.Template.VirtualServices[0].Spec.Raw
	if !jsonEqual(t, got, []byte(validVS)) {
		t.Fatalf("template changed in storage:\n got %s\nwant %s", got, validVS)
	}

	// An override that does not apply, or that makes a template invalid, is rejected.
	fap := newFAP("override", validVS)
	fap.Spec.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
		{Op: "replace", Path: "/virtualServices/3/spec/http/0/timeout", Value: &traffic.JSONValue{Raw: []byte(`"9s"`)}},
	}}}
	_, err = create(t, r, ctx, fap)
	wantInvalid(t, err, "spec.overrides[0].clusterOverrides")

	fap.Spec.Overrides[0].ClusterOverrides[0] = traffic.OverridePatch{Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: &traffic.JSONValue{Raw: []byte(`"0s"`)}}
	_, err = create(t, r, ctx, fap)
	wantInvalid(t, err, "spec.template.virtualServices[0].spec.http[0].timeout")
	if !strings.Contains(err.Error(), `zone-b-1`) {
		t.Fatalf("error should name the cluster whose override broke the template: %v", err)
	}

	// Replacing a whole template may not rename it.
	fap.Spec.Overrides[0].ClusterOverrides[0] = traffic.OverridePatch{Op: "replace", Path: "/virtualServices/0",
		Value: &traffic.JSONValue{Raw: []byte(`{"name":"other","spec":` + validVS + `}`)}}
	_, err = create(t, r, ctx, fap)
	wantInvalid(t, err, "spec.overrides[0].clusterOverrides")

	fap.Spec.Overrides[0].ClusterOverrides[0] = traffic.OverridePatch{Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: &traffic.JSONValue{Raw: []byte(`"9s"`)}}
	if _, err := create(t, r, ctx, fap); err != nil {
		t.Fatalf("valid override rejected: %v", err)
	}
}

func TestPoolsMayNotOverlap(t *testing.T) {
	r, _, err := vippool.NewREST(Scheme, newOptsGetter(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxIn("")
	pool := func(name string, cidrs ...string) *traffic.VIPPool {
		return &traffic.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: traffic.VIPPoolSpec{CIDRs: cidrs}}
	}
	if _, err := create(t, r, ctx, pool("a", "203.0.113.0/25")); err != nil {
		t.Fatal(err)
	}
	_, err = create(t, r, ctx, pool("b", "198.51.100.0/24", "203.0.113.100-203.0.113.130"))
	wantInvalid(t, err, "spec.cidrs[1]")
	if !strings.Contains(err.Error(), `VIPPool "a"`) {
		t.Fatalf("error should name the other pool: %v", err)
	}
	if _, err := r.Get(ctx, "b", &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("rejected pool must not be stored, get: %v", err)
	}
	if _, err := create(t, r, ctx, pool("c", "203.0.113.128/25")); err != nil {
		t.Fatalf("adjacent pool rejected: %v", err)
	}
	// Updating a pool is checked against the others but not against itself.
	out, err := r.Get(ctx, "a", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := out.(*traffic.VIPPool)
	a.Spec.CIDRs = []string{"203.0.113.0/24"}
	_, err = update(ctx, r, a, "a")
	wantInvalid(t, err, "spec.cidrs[0]")
	a.Spec.CIDRs = []string{"203.0.113.0/26"}
	if _, err := update(ctx, r, a, "a"); err != nil {
		t.Fatalf("shrinking a pool: %v", err)
	}
}

func TestMemberClusterTopologyLabelsAndTable(t *testing.T) {
	r, _, err := store.New(Scheme, newOptsGetter(t), membercluster.Kind)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxIn("")
	mc := &cluster.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1", Labels: map[string]string{"team": "edge", cluster.LabelZone: "forged"}},
		Spec:       cluster.MemberClusterSpec{Zone: "zone-a", Region: "r1"},
	}
	out, err := create(t, r, ctx, mc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*cluster.MemberCluster)
	if got.Labels[cluster.LabelZone] != "zone-a" || got.Labels[cluster.LabelRegion] != "r1" || got.Labels["team"] != "edge" {
		t.Fatalf("labels = %v", got.Labels)
	}
	table, err := r.ConvertToTable(ctx, got, &metav1.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "Name,Zone,Region,Available,Agent,Age" {
		t.Fatalf("columns = %v", names)
	}
	if cells := table.Rows[0].Cells; cells[0] != "zone-a-1" || cells[1] != "zone-a" || cells[3] != "Unknown" {
		t.Fatalf("cells = %v", cells)
	}

	long := mc.DeepCopy()
	long.Name = strings.Repeat("a", 48)
	_, err = create(t, r, ctx, long)
	wantInvalid(t, err, "metadata.name")
}

func wantInvalid(t *testing.T, err error, path string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error at %s, got %v", path, err)
	}
	status := err.(apierrors.APIStatus).Status()
	for _, c := range status.Details.Causes {
		if c.Field == path {
			return
		}
	}
	t.Fatalf("no cause at %s in %v", path, err)
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// TestAccessPointFinalizerAtCreation: a hub that runs the access point
// controller gives a new access point the controller's finalizer at creation
// (one update less per access point); an update that removes it is kept, and
// a hub without the controller adds none.
func TestAccessPointFinalizerAtCreation(t *testing.T) {
	getter := newOptsGetter(t)
	ctx := ctxIn("shop")
	r, _, err := store.New(Scheme, getter, federatedaccesspoint.WithFinalizer(federatedaccesspoint.Kind))
	if err != nil {
		t.Fatal(err)
	}
	in := newFAP("web", validVS)
	in.Finalizers = []string{"example.com/other"}
	out, err := create(t, r, ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	fap := out.(*traffic.FederatedAccessPoint)
	if want := []string{"example.com/other", trafficv1alpha1.AccessPointFinalizer}; !slices.Equal(fap.Finalizers, want) {
		t.Fatalf("finalizers %v, want %v", fap.Finalizers, want)
	}
	edit := fap.DeepCopy()
	edit.Finalizers = nil
	if out, err = update(ctx, r, edit, "web"); err != nil {
		t.Fatal(err)
	}
	if f := out.(*traffic.FederatedAccessPoint).Finalizers; len(f) != 0 {
		t.Fatalf("an update removing the finalizers left %v", f)
	}

	plain, _, err := store.New(Scheme, getter, federatedaccesspoint.Kind)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = create(t, plain, ctx, newFAP("api", validVS)); err != nil {
		t.Fatal(err)
	}
	if f := out.(*traffic.FederatedAccessPoint).Finalizers; len(f) != 0 {
		t.Fatalf("a hub without the controller added %v", f)
	}
}

// TestNewVirtualIPStartsNotAnnounced: storage gives a new VirtualIP its first
// status (observedGeneration 1, Announced False) whatever status the create
// carried, as a new Pod starts Pending.
func TestNewVirtualIPStartsNotAnnounced(t *testing.T) {
	r, _, err := store.New(Scheme, newOptsGetter(t), virtualip.Kind)
	if err != nil {
		t.Fatal(err)
	}
	vip := &traffic.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "203.0.113.1"},
		Spec: traffic.VirtualIPSpec{Address: "203.0.113.1", Pool: "edge", Groups: []string{"zone-a"},
			Scheduler: traffic.SchedulerMaglev, Forwarding: traffic.ForwardingTunnel,
			Ports: []traffic.Port{{Name: "http", Port: 80, Protocol: "TCP"}}},
		Status: traffic.VirtualIPStatus{AnnouncedBy: []string{"forged"}, HealthyBackends: 9}}
	if _, err := create(t, r, ctxIn(""), vip); err != nil {
		t.Fatal(err)
	}
	out, err := r.Get(ctxIn(""), vip.Name, &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := out.(*traffic.VirtualIP).Status
	if st.ObservedGeneration != 1 || len(st.AnnouncedBy) != 0 || st.HealthyBackends != 0 || len(st.Conditions) != 1 {
		t.Fatalf("stored status = %+v, want observedGeneration 1, no announcer, one condition", st)
	}
	c := st.Conditions[0]
	if c.Type != traffic.VirtualIPAnnounced || c.Status != metav1.ConditionFalse || c.Reason != traffic.VirtualIPReasonNotAnnounced ||
		c.ObservedGeneration != 1 || c.LastTransitionTime.IsZero() || !strings.Contains(c.Message, "[zone-a]") {
		t.Fatalf("condition = %+v", c)
	}
}
