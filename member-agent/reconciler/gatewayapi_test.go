package reconciler

import (
	"context"
	"strings"
	"testing"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
)

func gatewayAPIManifest(kind, name, namespace, spec string) trafficv1alpha1.JSONObject {
	return trafficv1alpha1.JSONObject{Raw: []byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"` + kind +
		`","metadata":{"name":"` + name + `","namespace":"` + namespace + `"},"spec":` + spec + `}`)}
}

// TestReportsGatewayAPIStatus: the status the gateway implementation wrote
// on the applied Gateways and routes (as the member cluster returned it) is
// reported in the ClusterAccessPoint's status, an object without one with no
// conditions; the endpoints of a Gateway API Gateway are those of the
// Service its addresses name.
func TestReportsGatewayAPIStatus(t *testing.T) {
	cap := newCAP("shop.web", "rev1",
		gatewayAPIManifest("ReferenceGrant", "shop.web-tls", "edge", `{}`),
		gatewayAPIManifest("Gateway", "web", "shop",
			`{"gatewayClassName":"istio","addresses":[{"type":"Hostname","value":"istio-ingressgateway.edge.svc.cluster.local"}]}`),
		gatewayAPIManifest("HTTPRoute", "web", "shop", `{"parentRefs":[{"name":"web"}]}`),
		gatewayAPIManifest("TCPRoute", "legacy", "shop", `{"parentRefs":[{"name":"web"}]}`),
	)
	e := newEnv(t, cap)
	long := strings.Repeat("é", 2000)
	statuses := map[string]apply.Observed{
		"Gateway/web": {Generation: 2, Status: []byte(`{
		  "addresses":[{"type":"IPAddress","value":"10.96.0.20"}],
		  "conditions":[{"type":"Accepted","status":"True","reason":"Accepted","observedGeneration":2,"lastTransitionTime":"2026-01-01T00:00:00Z","message":"ok"},
		                {"type":"Programmed","status":"False","reason":"Invalid","observedGeneration":2,"lastTransitionTime":"2026-01-01T00:00:00Z","message":"` + long + `"}],
		  "listeners":[{"name":"https","attachedRoutes":1,"supportedKinds":[],"conditions":[
		    {"type":"ResolvedRefs","status":"False","reason":"RefNotPermitted","observedGeneration":2,"lastTransitionTime":"2026-01-01T00:00:00Z","message":"no grant"}]}]}`)},
		"HTTPRoute/web": {Generation: 1, Status: []byte(`{"parents":[{"parentRef":{"name":"web","sectionName":"https","port":443},
		  "controllerName":"istio.io/gateway-controller",
		  "conditions":[{"type":"Accepted","status":"True","reason":"Accepted","observedGeneration":1,"lastTransitionTime":"2026-01-01T00:00:00Z","message":""}]}]}`)},
	}
	var served []string
	e.r.SetGatewayAPI(GatewayAPIReaders{
		Observed: func(ref apply.Ref) (apply.Observed, bool) {
			o, ok := statuses[ref.GVK.Kind+"/"+ref.Name]
			return o, ok
		},
		ServiceEndpoints: func(namespace, name string) ([]trafficv1alpha1.GatewayEndpoint, error) {
			served = append(served, namespace+"/"+name)
			return []trafficv1alpha1.GatewayEndpoint{{Address: "10.1.0.5", Ready: true}}, nil
		},
	})
	if err := e.r.reconcile(context.Background(), "shop.web"); err != nil {
		t.Fatal(err)
	}
	if got := inOrder(e.applier.applied, 1); got != "ReferenceGrant/shop.web-tls,Gateway/web,HTTPRoute/web,TCPRoute/legacy" {
		t.Errorf("applied %s, want the ReferenceGrant first", got)
	}
	st := e.status(t, "shop.web")
	if strings.Join(served, ",") != "edge/istio-ingressgateway" || len(st.Gateway.Endpoints) != 1 || st.Gateway.Endpoints[0].Address != "10.1.0.5" {
		t.Errorf("endpoints %+v of Services %v; want those of edge/istio-ingressgateway", st.Gateway.Endpoints, served)
	}
	g := st.GatewayAPI
	if g == nil || len(g.Gateways) != 1 || len(g.Routes) != 2 {
		t.Fatalf("gatewayAPI status %+v; want one Gateway and two routes", g)
	}
	gw := g.Gateways[0]
	if gw.Name != "web" || gw.Generation != 2 || strings.Join(gw.Addresses, ",") != "10.96.0.20" || len(gw.Conditions) != 2 {
		t.Errorf("Gateway status %+v", gw)
	}
	if m := gw.Conditions[1].Message; len(m) > maxConditionMessage || !strings.HasSuffix(m, "…") || !strings.HasPrefix(m, "é") {
		t.Errorf("a long message is not cut to %d bytes: %d bytes", maxConditionMessage, len(m))
	}
	if len(gw.Listeners) != 1 || gw.Listeners[0].Name != "https" || gw.Listeners[0].AttachedRoutes != 1 || gw.Listeners[0].Conditions[0].Reason != "RefNotPermitted" {
		t.Errorf("listeners %+v", gw.Listeners)
	}
	http, tcp := g.Routes[0], g.Routes[1]
	if http.Kind != "HTTPRoute" || http.Name != "web" || http.Generation != 1 || len(http.Parents) != 1 ||
		http.Parents[0].ParentRef != "web:https@443" || http.Parents[0].ControllerName != "istio.io/gateway-controller" ||
		http.Parents[0].Conditions[0].Type != "Accepted" {
		t.Errorf("HTTPRoute status %+v", http)
	}
	if tcp.Kind != "TCPRoute" || tcp.Name != "legacy" || len(tcp.Parents) != 0 {
		t.Errorf("TCPRoute without a status of its own: %+v", tcp)
	}

	// Istio-only access points report none.
	e = newEnv(t, newCAP("shop.istio", "rev1", manifest("Gateway", "web")))
	if err := e.r.reconcile(context.Background(), "shop.istio"); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t, "shop.istio"); st.GatewayAPI != nil {
		t.Errorf("an Istio access point reports gatewayAPI %+v", st.GatewayAPI)
	}
}

// TestGatewayAPIService: the Service serving a Gateway API Gateway, as
// Istio's implementation finds it.
func TestGatewayAPIService(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{`{"gatewayClassName":"istio","addresses":[{"type":"Hostname","value":"istio-ingressgateway.edge.svc.cluster.local"}]}`, "edge/istio-ingressgateway"},
		{`{"gatewayClassName":"istio","addresses":[{"type":"Hostname","value":"ingress.edge.svc"}]}`, "edge/ingress"},
		{`{"gatewayClassName":"istio","addresses":[{"type":"Hostname","value":"ingress"}]}`, "shop/ingress"},
		{`{"gatewayClassName":"istio","addresses":[{"type":"Hostname","value":"lb.example.com"}]}`, ""},
		{`{"gatewayClassName":"istio"}`, "shop/web-istio"},
		{`{"gatewayClassName":"istio","addresses":[{"type":"IPAddress","value":"203.0.113.10"}]}`, "shop/web-istio"},
	}
	for _, tt := range tests {
		obj, err := apply.Parse(gatewayAPIManifest("Gateway", "web", "shop", tt.spec).Raw, apply.Owner{Name: "shop.web"})
		if err != nil {
			t.Fatal(err)
		}
		ns, name, ok := gatewayAPIService(obj)
		got := ns + "/" + name
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("%s: Service %q, want %q", tt.spec, got, tt.want)
		}
	}
}
