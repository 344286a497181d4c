package accesspoint

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/traffic/istioschema"
)

func named(name, spec string) trafficv1alpha1.NamedTemplate {
	return trafficv1alpha1.NamedTemplate{Name: name, Spec: trafficv1alpha1.JSONObject{Raw: []byte(spec)}}
}

// renderTarget renders fap for target and indexes the objects by
// "Kind namespace/name", keeping their order in a list.
func renderTarget(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, target Target) (map[string]rendered, []string) {
	t.Helper()
	objs, err := RenderFor(fap, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]rendered{}
	var ids []string
	for _, o := range objs {
		var r rendered
		if err := json.Unmarshal(o.Raw, &r); err != nil {
			t.Fatal(err)
		}
		id := r.Kind + " " + r.Metadata.Namespace + "/" + r.Metadata.Name
		byID[id] = r
		ids = append(ids, id)
	}
	return byID, ids
}

func mustGet(t *testing.T, objs map[string]rendered, id string) rendered {
	t.Helper()
	o, ok := objs[id]
	if !ok {
		t.Fatalf("no %s among the rendered objects %v", id, slices.Sorted(maps.Keys(objs)))
	}
	return o
}

func jsonEq(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("%s = %s, want %s", what, g, want)
	}
}

// policyFAP is an access point in shop with gateway policies: some without a
// scope, some with their own.
func policyFAP() *trafficv1alpha1.FederatedAccessPoint {
	return &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts: []string{"checkout.example.com"},
			Template: trafficv1alpha1.AccessPointTemplate{
				AuthorizationPolicies: []trafficv1alpha1.NamedTemplate{
					named("deny-admin", `{"action":"DENY","rules":[{"to":[{"operation":{"hosts":["checkout.example.com"],"paths":["/admin/*"]}}]}]}`),
					named("app-only", `{"selector":{"matchLabels":{"app":"checkout"}},"action":"ALLOW","rules":[{}]}`),
					named("by-ref", `{"targetRefs":[{"group":"","kind":"Service","name":"checkout"}],"action":"AUDIT","rules":[{}]}`),
					named("null-selector", `{"selector":null,"targetRefs":[],"action":"DENY","rules":[{"to":[{"operation":{"ports":["8443"]}}]}]}`),
				},
				RequestAuthentications: []trafficv1alpha1.NamedTemplate{
					named("jwt", `{"jwtRules":[{"issuer":"https://issuer.example.com","jwksUri":"https://issuer.example.com/keys"}]}`),
				},
				Telemetries: []trafficv1alpha1.NamedTemplate{
					named("logs", `{"accessLogging":[{"providers":[{"name":"envoy"}]}],"tracing":[{"randomSamplingPercentage":12.5}]}`),
					named("app-logs", `{"targetRef":{"kind":"Service","group":"","name":"checkout"},"accessLogging":[{"disabled":true}]}`),
				},
			},
		},
	}
}

// TestPoliciesScopedToTheGatewayWorkload: a policy without selector,
// targetRef(s) gets the rendered Gateway's selector and goes to the cluster's
// gateway namespace under a name of its access point's; a policy with a
// scope of its own stays as written in the access point's namespace.
func TestPoliciesScopedToTheGatewayWorkload(t *testing.T) {
	fap := policyFAP()
	objs, ids := renderTarget(t, fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways"})

	scoped := []struct{ kind, group, name string }{
		{"AuthorizationPolicy", "security.istio.io", "shop.checkout.deny-admin"},
		{"AuthorizationPolicy", "security.istio.io", "shop.checkout.null-selector"},
		{"RequestAuthentication", "security.istio.io", "shop.checkout.jwt"},
		{"Telemetry", "telemetry.istio.io", "shop.checkout.logs"},
	}
	for _, s := range scoped {
		o := mustGet(t, objs, s.kind+" edge-gateways/"+s.name)
		if o.APIVersion != s.group+"/v1" {
			t.Errorf("%s %s: apiVersion %s", s.kind, s.name, o.APIVersion)
		}
		jsonEq(t, s.kind+" "+s.name+" selector", o.Spec["selector"], `{"matchLabels":{"istio":"ingressgateway"}}`)
		if refs, ok := o.Spec["targetRefs"]; ok {
			t.Errorf("%s %s: targetRefs %v next to the selector (Istio allows one of them)", s.kind, s.name, refs)
		}
	}
	// The rest of the spec is the template's, numbers as written.
	logs := mustGet(t, objs, "Telemetry edge-gateways/shop.checkout.logs")
	jsonEq(t, "Telemetry logs", logs.Spec,
		`{"selector":{"matchLabels":{"istio":"ingressgateway"}},"accessLogging":[{"providers":[{"name":"envoy"}]}],"tracing":[{"randomSamplingPercentage":12.5}]}`)
	deny := mustGet(t, objs, "AuthorizationPolicy edge-gateways/shop.checkout.deny-admin")
	jsonEq(t, "AuthorizationPolicy deny-admin rules", deny.Spec["rules"], `[{"to":[{"operation":{"hosts":["checkout.example.com"],"paths":["/admin/*"]}}]}]`)

	// Policies with a scope of their own: the template's spec, byte for byte,
	// in the access point's namespace.
	own := map[string]string{
		"AuthorizationPolicy shop/app-only": string(fap.Spec.Template.AuthorizationPolicies[1].Spec.Raw),
		"AuthorizationPolicy shop/by-ref":   string(fap.Spec.Template.AuthorizationPolicies[2].Spec.Raw),
		"Telemetry shop/app-logs":           string(fap.Spec.Template.Telemetries[1].Spec.Raw),
	}
	raw, err := RenderFor(fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for id, spec := range own {
		i := slices.Index(ids, id)
		if i < 0 {
			t.Fatalf("no %s among %v", id, ids)
		}
		var o struct {
			Spec json.RawMessage `json:"spec"`
		}
		if err := json.Unmarshal(raw[i].Raw, &o); err != nil {
			t.Fatal(err)
		}
		if string(o.Spec) != spec {
			t.Errorf("%s spec = %s, want the template's %s", id, o.Spec, spec)
		}
	}
	if n := len(ids); n != 1+len(scoped)+len(own) {
		t.Errorf("rendered %v, want the Gateway and %d policies", ids, len(scoped)+len(own))
	}

	// The policies follow the cluster's Gateway selector (template and
	// overrides), and the default gateway namespace.
	fap.Spec.Template.Gateway = &trafficv1alpha1.JSONObject{Raw: []byte(`{"selector":{"app":"edge","tier":"public"}}`)}
	fap.Spec.Overrides = []trafficv1alpha1.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []trafficv1alpha1.OverridePatch{
		{Op: "replace", Path: "/gateway/selector", Value: &trafficv1alpha1.JSONValue{Raw: []byte(`{"app":"edge-b"}`)}},
	}}}
	a, _ := renderTarget(t, fap, Target{Cluster: "zone-a-1"})
	jsonEq(t, "zone-a-1 RequestAuthentication selector", mustGet(t, a, "RequestAuthentication istio-system/shop.checkout.jwt").Spec["selector"],
		`{"matchLabels":{"app":"edge","tier":"public"}}`)
	b, _ := renderTarget(t, fap, Target{Cluster: "zone-b-1"})
	jsonEq(t, "zone-b-1 RequestAuthentication selector", mustGet(t, b, "RequestAuthentication istio-system/shop.checkout.jwt").Spec["selector"],
		`{"matchLabels":{"app":"edge-b"}}`)
}

// TestGatewayScopedPolicyNeedsAGatewaySelector: with an empty Gateway
// selector, a policy without a scope would apply to every workload of the
// gateway namespace (the whole mesh, in Istio's root namespace): the cluster
// does not render.
func TestGatewayScopedPolicyNeedsAGatewaySelector(t *testing.T) {
	fap := policyFAP()
	fap.Spec.Template.Gateway = &trafficv1alpha1.JSONObject{Raw: []byte(`{"selector":{}}`)}
	_, err := RenderFor(fap, Target{Cluster: "zone-a-1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "AuthorizationPolicy deny-admin") || !strings.Contains(err.Error(), "Gateway has no selector") {
		t.Fatalf("render with an empty Gateway selector: %v; want an error naming the policy", err)
	}
	// Policies with their own scope render.
	fap.Spec.Template.AuthorizationPolicies = fap.Spec.Template.AuthorizationPolicies[1:3]
	fap.Spec.Template.RequestAuthentications, fap.Spec.Template.Telemetries = nil, nil
	if _, err := RenderFor(fap, Target{Cluster: "zone-a-1"}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyNamesInTheGatewayNamespace: names that would be too long are
// hashed, still distinct per access point and policy.
func TestPolicyNamesInTheGatewayNamespace(t *testing.T) {
	fap := policyFAP()
	long := strings.Repeat("p", 200)
	s := newGatewayScope(fap, nil, "")
	if s.gatewayNamespace != "istio-system" {
		t.Fatalf("default gateway namespace %q", s.gatewayNamespace)
	}
	if got := s.policyName("jwt"); got != "shop.checkout.jwt" {
		t.Fatalf("policyName = %q", got)
	}
	fap.Name = strings.Repeat("c", 60)
	s = newGatewayScope(fap, nil, "")
	a, b := s.policyName(long), s.policyName(long+"x")
	if len(a) > 253 || a == b || !strings.HasPrefix(a, "shop.") {
		t.Fatalf("long names %q, %q", a, b)
	}
}

// vsFAP has VirtualServices that leave the gateway binding and exportTo
// out, and ones that set them.
func vsFAP() *trafficv1alpha1.FederatedAccessPoint {
	fap := exampleFAP()
	fap.Spec.Overrides = nil
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{
		named("default", `{"hosts":["checkout.example.com"],"http":[{"route":[{"destination":{"host":"checkout","port":{"number":8080}}}]}]}`),
		named("short", `{"hosts":["checkout.example.com"],"gateways":["checkout"]}`),
		named("mesh-too", `{"hosts":["checkout.example.com"],"gateways":["mesh","shop/checkout"]}`),
		named("other-gateway", `{"hosts":["checkout.example.com"],"gateways":["edge/shared"]}`),
		named("exported", `{"hosts":["checkout.example.com"],"exportTo":["*"]}`),
		named("delegate", `{"http":[{"route":[{"destination":{"host":"checkout"}}]}]}`),
	}
	fap.Spec.Template.DestinationRules = []trafficv1alpha1.NamedTemplate{
		named("default", `{"host":"checkout.shop.svc.cluster.local"}`),
		named("exported", `{"host":"payments.shop.svc.cluster.local","exportTo":["*"]}`),
		named("workloads", `{"host":"db.shop.svc.cluster.local","workloadSelector":{"matchLabels":{"app":"checkout"}}}`),
	}
	fap.Spec.Template.ServiceEntries = []trafficv1alpha1.NamedTemplate{
		named("default", `{"hosts":["api.example.org"],"ports":[{"number":443,"name":"tls","protocol":"TLS"}],"resolution":"DNS"}`),
		named("hidden", `{"hosts":["legacy.example.org"],"exportTo":["~"]}`),
	}
	fap.Spec.Template.WorkloadEntries = []trafficv1alpha1.NamedTemplate{named("vm", `{"address":"192.0.2.1"}`)}
	return fap
}

// TestVirtualServicesBoundToTheGateway: a VirtualService that leaves
// gateways out is bound to the rendered Gateway and, like one bound to it by
// the template, exported only to the gateway namespace; what the template
// sets is kept, and a VirtualService bound elsewhere too keeps Istio's
// exportTo. DestinationRules and ServiceEntries are exported to the access
// point's namespace and the gateway's.
func TestVirtualServicesBoundToTheGateway(t *testing.T) {
	fap := vsFAP()
	objs, _ := renderTarget(t, fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways"})
	vs := func(name string) map[string]any { return mustGet(t, objs, "VirtualService shop/"+name).Spec }
	for _, tc := range []struct {
		name               string
		gateways, exportTo string // JSON; "" for absent
	}{
		{"default", `["shop/checkout"]`, `["edge-gateways"]`},
		{"short", `["checkout"]`, `["edge-gateways"]`},
		{"mesh-too", `["mesh","shop/checkout"]`, ""},
		{"other-gateway", `["edge/shared"]`, ""},
		{"exported", `["shop/checkout"]`, `["*"]`},
		{"delegate", "", ""},
	} {
		spec := vs(tc.name)
		for field, want := range map[string]string{"gateways": tc.gateways, "exportTo": tc.exportTo} {
			got, ok := spec[field]
			switch {
			case want == "" && ok:
				t.Errorf("VirtualService %s: %s = %v, want it left out", tc.name, field, got)
			case want != "":
				jsonEq(t, fmt.Sprintf("VirtualService %s %s", tc.name, field), got, want)
			}
		}
	}
	jsonEq(t, "VirtualService default http", vs("default")["http"], `[{"route":[{"destination":{"host":"checkout","port":{"number":8080}}}]}]`)

	dr := func(name string) map[string]any { return mustGet(t, objs, "DestinationRule shop/"+name).Spec }
	jsonEq(t, "DestinationRule default exportTo", dr("default")["exportTo"], `[".","edge-gateways"]`)
	jsonEq(t, "DestinationRule exported exportTo", dr("exported")["exportTo"], `["*"]`)
	if got, ok := dr("workloads")["exportTo"]; ok {
		t.Errorf("DestinationRule with a workloadSelector: exportTo %v, want it left out", got)
	}
	se := func(name string) map[string]any { return mustGet(t, objs, "ServiceEntry shop/"+name).Spec }
	jsonEq(t, "ServiceEntry default", se("default"),
		`{"hosts":["api.example.org"],"ports":[{"number":443,"name":"tls","protocol":"TLS"}],"resolution":"DNS","exportTo":[".","edge-gateways"]}`)
	jsonEq(t, "ServiceEntry hidden exportTo", se("hidden")["exportTo"], `["~"]`)
	jsonEq(t, "WorkloadEntry vm", mustGet(t, objs, "WorkloadEntry shop/vm").Spec, `{"address":"192.0.2.1"}`)

	// A gateway running in the access point's own namespace reads what is
	// exported to ".".
	objs, _ = renderTarget(t, fap, Target{Cluster: "zone-a-1", GatewayNamespace: "shop"})
	jsonEq(t, "VirtualService default exportTo (gateway in shop)", mustGet(t, objs, "VirtualService shop/default").Spec["exportTo"], `["."]`)
	jsonEq(t, "DestinationRule default exportTo (gateway in shop)", mustGet(t, objs, "DestinationRule shop/default").Spec["exportTo"], `["."]`)
	// The default gateway namespace when the target has none.
	objs, _ = renderTarget(t, fap, Target{Cluster: "zone-a-1"})
	jsonEq(t, "VirtualService default exportTo (default gateway namespace)", mustGet(t, objs, "VirtualService shop/default").Spec["exportTo"], `["istio-system"]`)
}

// TestLocalityDestinationRulesExportedToTheGateway: the DestinationRules
// Portico renders for spec.locality are exported like the template's.
func TestLocalityDestinationRulesExportedToTheGateway(t *testing.T) {
	fap := exampleFAP()
	fap.Spec.Overrides = nil
	fap.Spec.Template.DestinationRules = nil
	fap.Spec.Template.VirtualServices = []trafficv1alpha1.NamedTemplate{
		named("checkout", `{"hosts":["checkout.example.com"],"http":[{"route":[{"destination":{"host":"checkout"}}]}]}`)}
	fap.Spec.Locality = &trafficv1alpha1.LocalitySpec{Mode: trafficv1alpha1.LocalityFailover}
	placed := []Locality{{Cluster: "zone-a-1", Region: "r1", Zone: "zone-a"}, {Cluster: "zone-b-1", Region: "r1", Zone: "zone-b"}}
	objs, err := RenderFor(fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways", Locality: NewLocalityPolicy(&fap.Spec, placed)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dr rendered
	if err := json.Unmarshal(objs[len(objs)-1].Raw, &dr); err != nil {
		t.Fatal(err)
	}
	if dr.Kind != "DestinationRule" || dr.Metadata.Name != localityName(fap, "checkout.shop.svc.cluster.local") {
		t.Fatalf("last object %s %s, want Portico's locality DestinationRule", dr.Kind, dr.Metadata.Name)
	}
	jsonEq(t, "locality DestinationRule exportTo", dr.Spec["exportTo"], `[".","edge-gateways"]`)
}

// TestScopedObjectsPassIstioSchema: what the scoping adds keeps every
// rendered object one Istio's CRDs accept (one of selector, targetRef and
// targetRefs; exportTo and gateways as Istio spells them).
func TestScopedObjectsPassIstioSchema(t *testing.T) {
	for _, fap := range []*trafficv1alpha1.FederatedAccessPoint{policyFAP(), vsFAP()} {
		objs, err := RenderFor(fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			var obj struct {
				Kind     string            `json:"kind"`
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     json.RawMessage   `json:"spec"`
			}
			if err := json.Unmarshal(o.Raw, &obj); err != nil {
				t.Fatal(err)
			}
			if errs := istioschema.ValidateSpec(context.Background(), obj.Kind, obj.Spec, field.NewPath("spec")); len(errs) > 0 {
				t.Errorf("%s %s/%s: %v\n%s", obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name, errs, obj.Spec)
			}
		}
	}
}
