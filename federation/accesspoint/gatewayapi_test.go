package accesspoint

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
	"github.com/portico-dev/portico/registry/traffic/gatewayapischema"
	"github.com/portico-dev/portico/registry/traffic/istioschema"
)

// gatewayAPIFAP is an access point in shop whose gateway is a Gateway API
// Gateway, with spec.tls, routes with and without parentRefs, a gateway
// policy and a DestinationRule, and an override for zone-b-1.
func gatewayAPIFAP() *trafficv1alpha1.FederatedAccessPoint {
	return &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts: []string{"checkout.example.com"},
			TLS:   &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "ca"}, Mode: trafficv1alpha1.TLSModeSimple},
			Template: trafficv1alpha1.AccessPointTemplate{
				GatewayAPI: &trafficv1alpha1.GatewayAPITemplate{
					Gateways: []trafficv1alpha1.NamedTemplate{named("web", `{"gatewayClassName":"istio","listeners":[
					  {"name":"http","port":80,"protocol":"HTTP","hostname":"checkout.example.com"},
					  {"name":"https","port":443,"protocol":"HTTPS","hostname":"checkout.example.com"}]}`)},
					HTTPRoutes: []trafficv1alpha1.NamedTemplate{
						named("web", `{"hostnames":["checkout.example.com"],"rules":[{"backendRefs":[{"name":"checkout","port":8080}]}]}`),
						named("https-only", `{"parentRefs":[{"name":"web","sectionName":"https"}],"rules":[{"backendRefs":[{"name":"checkout","port":8080}]}]}`),
					},
					TCPRoutes: []trafficv1alpha1.NamedTemplate{named("legacy", `{"rules":[{"backendRefs":[{"name":"legacy","port":9000}]}]}`)},
				},
				DestinationRules:      []trafficv1alpha1.NamedTemplate{named("checkout", `{"host":"checkout.shop.svc.cluster.local"}`)},
				AuthorizationPolicies: []trafficv1alpha1.NamedTemplate{named("deny-admin", `{"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin/*"]}}]}]}`)},
			},
			Overrides: []trafficv1alpha1.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []trafficv1alpha1.OverridePatch{
				{Op: "replace", Path: "/gatewayAPI/gateways/0/spec/listeners/1/port", Value: &trafficv1alpha1.JSONValue{Raw: []byte(`8443`)}},
			}}},
		},
	}
}

var testCert = &certsecret.Stored{Version: 1, Serial: "01", CertPEM: []byte("cert"), KeyPEM: []byte("key")}

// TestRenderGatewayAPI: the Gateway API objects are rendered in the access
// point's namespace instead of an Istio Gateway; the Gateway names the
// cluster's gateway Service (Istio's manual deployment) and its HTTPS
// listener the delivered certificate Secret in the cluster's gateway
// namespace, which a ReferenceGrant there opens to the Gateways of the
// access point's namespace; a route without parentRefs is attached to the
// Gateway; overrides apply per cluster; policies still go to the gateway
// workload.
func TestRenderGatewayAPI(t *testing.T) {
	fap := gatewayAPIFAP()
	objs, ids := renderTargetCert(t, fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways"}, testCert)
	credential := certsecret.CredentialName("shop", "checkout")
	want := []string{
		"Secret edge-gateways/" + credential,
		"ReferenceGrant edge-gateways/" + credential,
		"Gateway shop/web",
		"HTTPRoute shop/web",
		"HTTPRoute shop/https-only",
		"TCPRoute shop/legacy",
		"DestinationRule shop/checkout",
		"AuthorizationPolicy edge-gateways/shop.checkout.deny-admin",
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("rendered %v\nwant %v (no Istio Gateway)", ids, want)
	}
	gw := mustGet(t, objs, "Gateway shop/web")
	if gw.APIVersion != "gateway.networking.k8s.io/v1" {
		t.Errorf("Gateway apiVersion %s", gw.APIVersion)
	}
	jsonEq(t, "Gateway addresses", gw.Spec["addresses"],
		`[{"type":"Hostname","value":"istio-ingressgateway.edge-gateways.svc.cluster.local"}]`)
	jsonEq(t, "Gateway listeners", gw.Spec["listeners"], `[
	  {"name":"http","port":80,"protocol":"HTTP","hostname":"checkout.example.com"},
	  {"name":"https","port":443,"protocol":"HTTPS","hostname":"checkout.example.com",
	   "tls":{"certificateRefs":[{"group":"","kind":"Secret","name":"`+credential+`","namespace":"edge-gateways"}]}}]`)
	jsonEq(t, "ReferenceGrant spec", mustGet(t, objs, "ReferenceGrant edge-gateways/"+credential).Spec, `{
	  "from":[{"group":"gateway.networking.k8s.io","kind":"Gateway","namespace":"shop"}],
	  "to":[{"group":"","kind":"Secret","name":"`+credential+`"}]}`)
	jsonEq(t, "defaulted parentRefs", mustGet(t, objs, "HTTPRoute shop/web").Spec["parentRefs"], `[{"name":"web"}]`)
	jsonEq(t, "parentRefs of the template", mustGet(t, objs, "HTTPRoute shop/https-only").Spec["parentRefs"], `[{"name":"web","sectionName":"https"}]`)
	jsonEq(t, "TCPRoute parentRefs", mustGet(t, objs, "TCPRoute shop/legacy").Spec["parentRefs"], `[{"name":"web"}]`)
	jsonEq(t, "policy selector", mustGet(t, objs, "AuthorizationPolicy edge-gateways/shop.checkout.deny-admin").Spec["selector"],
		`{"matchLabels":{"istio":"ingressgateway"}}`)
	jsonEq(t, "DestinationRule exportTo", mustGet(t, objs, "DestinationRule shop/checkout").Spec["exportTo"], `[".","edge-gateways"]`)

	// zone-b-1's override, in zone-b-1 only; its gateway namespace is the default.
	b, _ := renderTargetCert(t, fap, Target{Cluster: "zone-b-1"}, testCert)
	listeners := mustGet(t, b, "Gateway shop/web").Spec["listeners"].([]any)
	if port := listeners[1].(map[string]any)["port"]; port != float64(8443) {
		t.Errorf("zone-b-1 https port %v, want the override's 8443", port)
	}
	jsonEq(t, "zone-b-1 certificateRefs", listeners[1].(map[string]any)["tls"],
		`{"certificateRefs":[{"group":"","kind":"Secret","name":"`+credential+`","namespace":"istio-system"}]}`)
	mustGet(t, b, "ReferenceGrant istio-system/"+credential)
	if port := mustGet(t, objs, "Gateway shop/web").Spec["listeners"].([]any)[1].(map[string]any)["port"]; port != float64(443) {
		t.Errorf("zone-a-1 https port %v, want 443", port)
	}
}

// TestRenderGatewayAPIKeepsTheTemplates: what a template sets is kept: its
// own addresses and certificateRefs (then no ReferenceGrant is needed for
// Portico's certificate); without spec.tls nothing refers to a certificate;
// with the gateway namespace the access point's own, no grant either.
func TestRenderGatewayAPIKeepsTheTemplates(t *testing.T) {
	fap := gatewayAPIFAP()
	fap.Spec.Template.GatewayAPI.Gateways[0] = named("web", `{"gatewayClassName":"istio",
	  "addresses":[{"type":"IPAddress","value":"203.0.113.10"}],
	  "listeners":[{"name":"https","port":443,"protocol":"HTTPS","hostname":"checkout.example.com",
	    "tls":{"certificateRefs":[{"name":"own-cert"}]}}]}`)
	objs, ids := renderTargetCert(t, fap, Target{Cluster: "zone-a-1"}, testCert)
	gw := mustGet(t, objs, "Gateway shop/web")
	jsonEq(t, "addresses of the template", gw.Spec["addresses"], `[{"type":"IPAddress","value":"203.0.113.10"}]`)
	jsonEq(t, "certificateRefs of the template", gw.Spec["listeners"].([]any)[0].(map[string]any)["tls"], `{"certificateRefs":[{"name":"own-cert"}]}`)
	for _, id := range ids {
		if strings.HasPrefix(id, "ReferenceGrant ") {
			t.Errorf("rendered %s although no Gateway references Portico's certificate", id)
		}
	}

	fap = gatewayAPIFAP()
	fap.Spec.TLS = nil
	_, ids = renderTargetCert(t, fap, Target{Cluster: "zone-a-1"}, nil)
	if slices.ContainsFunc(ids, func(id string) bool {
		return strings.HasPrefix(id, "ReferenceGrant ") || strings.HasPrefix(id, "Secret ")
	}) {
		t.Errorf("without spec.tls: rendered %v", ids)
	}

	fap = gatewayAPIFAP()
	_, ids = renderTargetCert(t, fap, Target{Cluster: "zone-a-1", GatewayNamespace: "shop"}, testCert)
	if slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, "ReferenceGrant ") }) {
		t.Errorf("gateway namespace = the access point's: rendered %v, want no ReferenceGrant", ids)
	}
}

// TestRenderedGatewayAPIObjectsPassTheirSchemas: what Portico fills in keeps
// every rendered object one the CRDs accept.
func TestRenderedGatewayAPIObjectsPassTheirSchemas(t *testing.T) {
	for _, cluster := range []string{"zone-a-1", "zone-b-1"} {
		objs, err := RenderFor(gatewayAPIFAP(), Target{Cluster: cluster, GatewayNamespace: "edge-gateways"}, testCert)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			var obj struct {
				APIVersion string            `json:"apiVersion"`
				Kind       string            `json:"kind"`
				Metadata   metav1.ObjectMeta `json:"metadata"`
				Spec       json.RawMessage   `json:"spec"`
			}
			if err := json.Unmarshal(o.Raw, &obj); err != nil {
				t.Fatal(err)
			}
			var errs field.ErrorList
			switch {
			case obj.Kind == "Secret" || obj.Kind == "ReferenceGrant":
				continue
			case strings.HasPrefix(obj.APIVersion, trafficv1alpha1.GatewayAPIGroup+"/"):
				errs = gatewayapischema.ValidateSpec(context.Background(), obj.Kind, obj.Spec, field.NewPath("spec"))
			default:
				errs = istioschema.ValidateSpec(context.Background(), obj.Kind, obj.Spec, field.NewPath("spec"))
			}
			if len(errs) > 0 {
				t.Errorf("%s: %s %s/%s: %v\n%s", cluster, obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name, errs, obj.Spec)
			}
		}
	}
}

func renderTargetCert(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, target Target, cert *certsecret.Stored) (map[string]rendered, []string) {
	t.Helper()
	objs, err := RenderFor(fap, target, cert)
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

func cond(t, status, reason string, generation int64) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason, ObservedGeneration: generation}
}

// programmed is a cluster whose implementation accepted and programmed the
// Gateway and accepted the route.
func programmed(name string) trafficv1alpha1.ClusterStatus {
	return trafficv1alpha1.ClusterStatus{Name: name, Phase: trafficv1alpha1.ClusterPhaseApplied, GatewayAPI: &trafficv1alpha1.GatewayAPIStatus{
		Gateways: []trafficv1alpha1.GatewayAPIGatewayStatus{{Name: "web", Generation: 2,
			Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 2), cond("Programmed", "True", "Programmed", 2)},
			Listeners: []trafficv1alpha1.GatewayAPIListenerStatus{{Name: "https", AttachedRoutes: 1,
				Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 2), cond("ResolvedRefs", "True", "ResolvedRefs", 2)}}}}},
		Routes: []trafficv1alpha1.GatewayAPIRouteStatus{{Kind: "HTTPRoute", Name: "web", Generation: 1,
			Parents: []trafficv1alpha1.GatewayAPIRouteParentStatus{{ParentRef: "web", ControllerName: "istio.io/gateway-controller",
				Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1), cond("ResolvedRefs", "True", "ResolvedRefs", 1)}}}}},
	}}
}

// TestGatewayReadyCondition: GatewayReady is what the implementation says on
// every cluster that applied the access point: False with the first
// problem, Unknown while some object has no word from it or only one about
// an older generation, True when every Gateway is accepted and programmed
// and every route accepted with its references resolved.
func TestGatewayReadyCondition(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(a, b *trafficv1alpha1.ClusterStatus)
		status     metav1.ConditionStatus
		reason     string
		msgContain string
	}{
		{"programmed everywhere", func(a, b *trafficv1alpha1.ClusterStatus) {}, metav1.ConditionTrue, ReasonProgrammed, "on 2 clusters"},
		{"a Gateway not programmed", func(a, b *trafficv1alpha1.ClusterStatus) {
			b.GatewayAPI.Gateways[0].Conditions[1] = metav1.Condition{Type: "Programmed", Status: "False", Reason: "AddressNotUsable", Message: "no such Service", ObservedGeneration: 2}
		}, metav1.ConditionFalse, ReasonGatewayRejected, "zone-b-1: Gateway web: Programmed=False (AddressNotUsable): no such Service"},
		{"a listener's certificate not resolved", func(a, b *trafficv1alpha1.ClusterStatus) {
			a.GatewayAPI.Gateways[0].Listeners[0].Conditions[1] = cond("ResolvedRefs", "False", "RefNotPermitted", 2)
		}, metav1.ConditionFalse, ReasonGatewayRejected, "zone-a-1: Gateway web listener https: ResolvedRefs=False (RefNotPermitted)"},
		{"a route not accepted", func(a, b *trafficv1alpha1.ClusterStatus) {
			a.GatewayAPI.Routes[0].Parents[0].Conditions[0] = cond("Accepted", "False", "NotAllowedByListeners", 1)
		}, metav1.ConditionFalse, ReasonGatewayRejected, "zone-a-1: HTTPRoute web on web: Accepted=False (NotAllowedByListeners)"},
		{"no implementation wrote a status", func(a, b *trafficv1alpha1.ClusterStatus) {
			b.GatewayAPI.Gateways[0].Conditions = nil
			b.GatewayAPI.Routes[0].Parents = nil
		}, metav1.ConditionUnknown, ReasonNotReported, "zone-b-1: Gateway web: no Accepted condition from the gateway implementation; and 2 more"},
		{"an agent that reports no Gateway API status", func(a, b *trafficv1alpha1.ClusterStatus) { a.GatewayAPI = nil },
			metav1.ConditionUnknown, ReasonNotReported, "zone-a-1: no status of its Gateway API objects"},
		{"a status of an older generation", func(a, b *trafficv1alpha1.ClusterStatus) { a.GatewayAPI.Gateways[0].Generation = 3 },
			metav1.ConditionUnknown, ReasonNotObserved, "Accepted observed for generation 2, not 3"},
		{"a cluster not applied yet does not count", func(a, b *trafficv1alpha1.ClusterStatus) {
			b.Phase, b.GatewayAPI = trafficv1alpha1.ClusterPhaseApplying, nil
		}, metav1.ConditionTrue, ReasonProgrammed, "on 1 clusters"},
		{"a conflicted listener", func(a, b *trafficv1alpha1.ClusterStatus) {
			a.GatewayAPI.Gateways[0].Listeners[0].Conditions = append(a.GatewayAPI.Gateways[0].Listeners[0].Conditions, cond("Conflicted", "True", "HostnameConflict", 2))
		}, metav1.ConditionFalse, ReasonGatewayRejected, "Conflicted=True (HostnameConflict)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := programmed("zone-a-1"), programmed("zone-b-1")
			tt.edit(&a, &b)
			c := gatewayReadyCondition([]trafficv1alpha1.ClusterStatus{a, b})
			if c.Type != trafficv1alpha1.AccessPointGatewayReady || c.Status != tt.status || c.Reason != tt.reason || !strings.Contains(c.Message, tt.msgContain) {
				t.Fatalf("condition %+v\nwant %s %s with a message containing %q", c, tt.status, tt.reason, tt.msgContain)
			}
		})
	}
	// Ready waits for it: anything but True holds Ready back.
	if r := readyCondition([]metav1.Condition{{Type: trafficv1alpha1.AccessPointGatewayReady, Status: metav1.ConditionUnknown, Reason: ReasonNotReported}}); r.Status != metav1.ConditionFalse {
		t.Errorf("Ready with GatewayReady Unknown: %+v", r)
	}
}
