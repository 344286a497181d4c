package accesspoint

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
)

func exampleFAP() *trafficv1alpha1.FederatedAccessPoint {
	return &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts: []string{"checkout.example.com"},
			Template: trafficv1alpha1.AccessPointTemplate{
				VirtualServices: []trafficv1alpha1.NamedTemplate{{Name: "checkout", Spec: trafficv1alpha1.JSONObject{
					Raw: []byte(`{"hosts":["checkout.example.com"],"http":[{"timeout":"5s"}]}`)}}},
				DestinationRules: []trafficv1alpha1.NamedTemplate{{Name: "checkout", Spec: trafficv1alpha1.JSONObject{
					Raw: []byte(`{"host":"checkout.shop.svc.cluster.local"}`)}}},
			},
			Overrides: []trafficv1alpha1.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []trafficv1alpha1.OverridePatch{
				{Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: &trafficv1alpha1.JSONValue{Raw: []byte(`"10s"`)}},
			}}},
			LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "public", Ports: []trafficv1alpha1.Port{{Name: "http", Port: 8080, Protocol: "TCP"}}},
		},
	}
}

type rendered struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name, Namespace string
	} `json:"metadata"`
	Spec map[string]any    `json:"spec"`
	Type string            `json:"type"`
	Data map[string][]byte `json:"data"`
}

func render(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, cluster string) []rendered {
	t.Helper()
	return renderWith(t, fap, cluster, nil)
}

func renderWith(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, cluster string, cert *certsecret.Stored) []rendered {
	t.Helper()
	objs, err := Render(fap, cluster, cert)
	if err != nil {
		t.Fatal(err)
	}
	var out []rendered
	for _, o := range objs {
		var r rendered
		if err := json.Unmarshal(o.Raw, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestRenderDefaultsAndOverrides(t *testing.T) {
	fap := exampleFAP()
	a := render(t, fap, "zone-a-1")
	if len(a) != 3 || a[0].Kind != "Gateway" || a[1].Kind != "VirtualService" || a[2].Kind != "DestinationRule" {
		t.Fatalf("objects = %+v", a)
	}
	gw := a[0]
	if gw.Metadata.Name != "checkout" || gw.Metadata.Namespace != "shop" || gw.APIVersion != "networking.istio.io/v1" {
		t.Fatalf("gateway metadata = %+v", gw)
	}
	if sel := gw.Spec["selector"].(map[string]any); sel["istio"] != "ingressgateway" {
		t.Fatalf("default selector = %v", sel)
	}
	servers := gw.Spec["servers"].([]any)
	port := servers[0].(map[string]any)["port"].(map[string]any)
	if len(servers) != 1 || port["number"].(float64) != 8080 || servers[0].(map[string]any)["hosts"].([]any)[0] != "checkout.example.com" {
		t.Fatalf("default servers = %v", servers)
	}
	timeout := func(objs []rendered) any { return objs[1].Spec["http"].([]any)[0].(map[string]any)["timeout"] }
	if timeout(a) != "5s" {
		t.Fatalf("zone-a-1 timeout = %v", timeout(a))
	}
	if b := render(t, fap, "zone-b-1"); timeout(b) != "10s" {
		t.Fatalf("zone-b-1 override not applied: %v", timeout(b))
	}
	// A template gateway keeps its own selector and servers.
	fap.Spec.Template.Gateway = &trafficv1alpha1.JSONObject{Raw: []byte(`{"selector":{"istio":"edge"},"servers":[]}`)}
	gw = render(t, fap, "zone-a-1")[0]
	if gw.Spec["selector"].(map[string]any)["istio"] != "edge" || len(gw.Spec["servers"].([]any)) != 0 {
		t.Fatalf("template gateway changed: %v", gw.Spec)
	}
}

func TestRevision(t *testing.T) {
	a, b := exampleFAP(), exampleFAP()
	if Revision(&a.Spec, nil) != Revision(&b.Spec, nil) {
		t.Fatal("revision is not deterministic")
	}
	b.Spec.Placement = &trafficv1alpha1.Placement{Zones: []string{"zone-a"}}
	if Revision(&a.Spec, nil) != Revision(&b.Spec, nil) {
		t.Fatal("placement does not change what is rendered, so not the revision")
	}
	b.Spec.Overrides[0].ClusterOverrides[0].Value.Raw = []byte(`"11s"`)
	if Revision(&a.Spec, nil) == Revision(&b.Spec, nil) {
		t.Fatal("an override change must change the revision")
	}
	cert := &certsecret.Stored{Version: 1, Serial: "1f"}
	if Revision(&a.Spec, cert) == Revision(&a.Spec, nil) {
		t.Fatal("issuing the certificate must change the revision")
	}
	if Revision(&a.Spec, cert) == Revision(&a.Spec, &certsecret.Stored{Version: 2, Serial: "2e"}) {
		t.Fatal("a reissue must change the revision")
	}
}

func TestRenderTLS(t *testing.T) {
	fap := exampleFAP()
	fap.Spec.TLS = &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "ca"}, Mode: trafficv1alpha1.TLSModeSimple}
	fap.Spec.LoadBalancer.Ports = append(fap.Spec.LoadBalancer.Ports, trafficv1alpha1.Port{Name: "https", Port: 443, Protocol: "TCP"})

	// Before the first issue: the Gateway already points at the Secret.
	objs := render(t, fap, "zone-a-1")
	if objs[0].Kind != "Gateway" {
		t.Fatalf("no Secret expected before issue, got %s first", objs[0].Kind)
	}
	servers := objs[0].Spec["servers"].([]any)
	plain, https := servers[0].(map[string]any), servers[1].(map[string]any)
	if plain["tls"] != nil || plain["port"].(map[string]any)["protocol"] != "HTTP" {
		t.Fatalf("port 8080 must stay plain HTTP: %v", plain)
	}
	tls := https["tls"].(map[string]any)
	if https["port"].(map[string]any)["protocol"] != "HTTPS" || tls["credentialName"] != "shop.checkout-tls" || tls["mode"] != "SIMPLE" {
		t.Fatalf("https server = %v", https)
	}

	cert := &certsecret.Stored{CertPEM: []byte("CERT"), KeyPEM: []byte("KEY"), CAPEM: []byte("CA"), Version: 3, Serial: "ab"}
	objs = renderWith(t, fap, "zone-a-1", cert)
	s := objs[0]
	if s.Kind != "Secret" || s.APIVersion != "v1" || s.Metadata.Name != "shop.checkout-tls" || s.Metadata.Namespace != "istio-system" ||
		s.Type != "kubernetes.io/tls" || string(s.Data["tls.crt"]) != "CERT" || string(s.Data["tls.key"]) != "KEY" || s.Data["ca.crt"] != nil {
		t.Fatalf("secret = %+v", s)
	}
	if objs[1].Kind != "Gateway" {
		t.Fatalf("the Secret must come before the Gateway: %s", objs[1].Kind)
	}
	fap.Spec.TLS.SecretNamespace = "kube-system" // deprecated: a tenant does not choose
	raw, err := RenderFor(fap, Target{Cluster: "zone-a-1", GatewayNamespace: "edge-gateways"}, cert)
	if err != nil {
		t.Fatal(err)
	}
	var delivered struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw[0].Raw, &delivered); err != nil || delivered.Metadata.Namespace != "edge-gateways" {
		t.Fatalf("the certificate went to %q, want the cluster's gateway namespace edge-gateways (%v)", delivered.Metadata.Namespace, err)
	}
	fap.Spec.TLS.Mode = trafficv1alpha1.TLSModeMutual
	if s := renderWith(t, fap, "zone-a-1", cert)[0]; string(s.Data["ca.crt"]) != "CA" {
		t.Fatalf("MUTUAL needs ca.crt: %+v", s.Data)
	}

	// A template server keeps its own credentialName and mode.
	fap.Spec.Template.Gateway = &trafficv1alpha1.JSONObject{Raw: []byte(
		`{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*"],"tls":{"mode":"SIMPLE","credentialName":"mine"}},` +
			`{"port":{"number":8443,"name":"alt","protocol":"HTTPS"},"hosts":["*"]}]}`)}
	servers = render(t, fap, "zone-a-1")[0].Spec["servers"].([]any)
	if got := servers[0].(map[string]any)["tls"].(map[string]any); got["credentialName"] != "mine" || got["mode"] != "SIMPLE" {
		t.Fatalf("template tls overwritten: %v", got)
	}
	if got := servers[1].(map[string]any)["tls"].(map[string]any); got["credentialName"] != "shop.checkout-tls" || got["mode"] != "MUTUAL" {
		t.Fatalf("template HTTPS server without tls: %v", got)
	}
}
