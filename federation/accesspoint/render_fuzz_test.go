package accesspoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/install"
	"github.com/portico-dev/portico/apis/traffic/overrides"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/federation/certsecret"
)

// renderFuzzScheme defaults and converts decoded access points as the API
// server does.
var renderFuzzScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	install.Install(s)
	return s
}()

// FuzzRender renders any access point that passes validation, as the hub
// stores it (with defaults), for one cluster, with or without a certificate.
// Render never panics, never changes the access point (it comes from an
// informer's cache), gives the same bytes twice (the hub writes only on
// change), and either fails or returns complete objects: the certificate Secret
// first when there is one, then one Gateway named after the access point, then
// one object per template of the cluster, all Istio objects in the access
// point's namespace but the policies scoped to the gateway workload (in the
// gateway namespace, with the Gateway's selector), every VirtualService with
// hosts bound to a gateway, and every HTTPS server of the Gateway with a
// credentialName when TLS is on. With spec.locality (over fuzzPlaced), the
// only further objects are Portico's DestinationRules, and every
// localityLbSetting follows istiod's rules.
func FuzzRender(f *testing.F) {
	cert := &certsecret.Stored{CertPEM: []byte("cert"), KeyPEM: []byte("key"), CAPEM: []byte("ca"), Version: 2, Serial: "0a"}
	for i, seed := range renderSeeds {
		// The seeds reach the checks below: valid and renderable.
		if fap, ok := validAccessPoint([]byte(seed)); !ok {
			f.Fatalf("seed %d does not pass validation", i)
		} else if _, err := Render(fap, "zone-b-1", cert); err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		f.Add([]byte(seed), "zone-b-1", true)
		f.Add([]byte(seed), "zone-a-1", false)
	}
	f.Fuzz(func(t *testing.T, data []byte, cluster string, withCert bool) {
		fap, ok := validAccessPoint(data)
		if !ok {
			return
		}
		var c *certsecret.Stored
		if withCert {
			c = cert
		}
		before := fap.DeepCopy()
		target := Target{Cluster: cluster, GatewayNamespace: "istio-system", Locality: NewLocalityPolicy(&fap.Spec, fuzzPlaced)}
		objs, err := RenderFor(fap, target, c)
		if !reflect.DeepEqual(before, fap) {
			t.Fatal("Render changed the access point")
		}
		again, errAgain := RenderFor(fap, target, c)
		if (err == nil) != (errAgain == nil) || !sameObjects(objs, again) {
			t.Fatalf("Render is not deterministic: %v, %v", err, errAgain)
		}
		if err != nil {
			return
		}
		checkRendered(t, fap, cluster, c != nil, objs)
	})
}

// fuzzPlaced: zone-a-1 and zone-b-1 (drained) in region r1, zone-c-1 in r2.
var fuzzPlaced = []Locality{{Cluster: "zone-a-1", Region: "r1", Zone: "zone-a"},
	{Cluster: "zone-b-1", Region: "r1", Zone: "zone-b", Drained: true}, {Cluster: "zone-c-1", Region: "r2", Zone: "zone-c"}}

// validAccessPoint decodes data as the API server does and reports whether it
// passes validation.
func validAccessPoint(data []byte) (*trafficv1alpha1.FederatedAccessPoint, bool) {
	fap := &trafficv1alpha1.FederatedAccessPoint{}
	if json.Unmarshal(data, fap) != nil {
		return nil, false
	}
	renderFuzzScheme.Default(fap)
	internal := &traffic.FederatedAccessPoint{}
	if err := renderFuzzScheme.Convert(fap, internal, nil); err != nil {
		return nil, false
	}
	return fap, len(validation.ValidateFederatedAccessPoint(internal)) == 0
}

func sameObjects(a, b []trafficv1alpha1.JSONObject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			return false
		}
	}
	return true
}

// renderedObject is what checkRendered reads of a rendered object.
type renderedObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Servers    []any  `json:"servers"`
		Host       string `json:"host"`
		Policy     any    `json:"trafficPolicy"`
		Hosts      []any  `json:"hosts"`
		Gateways   []any  `json:"gateways"`
		Selector   any    `json:"selector"`
		TargetRef  any    `json:"targetRef"`
		TargetRefs []any  `json:"targetRefs"`
	} `json:"spec"`
}

// gatewayScoped tells whether a policy template is scoped to the gateway
// workload: it has no selector, targetRef or targetRefs of its own.
func gatewayScoped(spec []byte) bool {
	var m map[string]any
	_ = json.Unmarshal(spec, &m)
	for _, k := range []string{"selector", "targetRef", "targetRefs"} {
		if l, isList := m[k].([]any); m[k] != nil && (!isList || len(l) > 0) {
			return false
		}
	}
	return true
}

func checkRendered(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint, cluster string, withCert bool, objs []trafficv1alpha1.JSONObject) {
	t.Helper()
	tmpl, err := overrides.ForCluster(&fap.Spec, cluster)
	if err != nil {
		t.Fatalf("Render succeeded where the overrides fail: %v", err)
	}
	var want []string
	if fap.Spec.TLS != nil && withCert {
		want = append(want, "Secret/istio-system/"+certsecret.CredentialName(fap.Namespace, fap.Name))
	}
	want = append(want, "Gateway/"+fap.Namespace+"/"+fap.Name)
	lists := tmpl.Lists()
	for _, k := range trafficv1alpha1.TemplateKinds {
		for _, item := range lists[k.List] {
			ns, name := fap.Namespace, item.Name
			if k.Group != trafficv1alpha1.IstioNetworkingGroup && gatewayScoped(item.Spec.Raw) {
				ns, name = "istio-system", fap.Namespace+"."+fap.Name+"."+item.Name
				if len(name) > 253 {
					name = newGatewayScope(fap, nil, "").policyName(item.Name) // hashed
				}
			}
			want = append(want, k.Group+"/v1 "+k.Kind+"/"+ns+"/"+name)
		}
	}
	var gatewaySelector any
	var got []string
	for i, o := range objs {
		var obj renderedObject
		if err := json.Unmarshal(o.Raw, &obj); err != nil {
			t.Fatalf("object %d is not a JSON object: %v", i, err)
		}
		if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
			t.Fatalf("object %d lacks apiVersion, kind or metadata.name: %s", i, o.Raw)
		}
		if !strings.HasSuffix(obj.APIVersion, ".istio.io/v1") && obj.Kind != "Secret" {
			t.Fatalf("object %d is not an Istio object: %s", i, o.Raw)
		}
		if obj.Kind == "Gateway" {
			gatewaySelector = obj.Spec.Selector
			if fap.Spec.TLS != nil {
				checkCredentials(t, obj.Spec.Servers)
			}
		}
		if obj.Kind == "VirtualService" && len(obj.Spec.Hosts) > 0 && len(obj.Spec.Gateways) == 0 {
			t.Fatalf("VirtualService %s with hosts is bound to no gateway: %s", obj.Metadata.Name, o.Raw)
		}
		if obj.Metadata.Namespace == "istio-system" && obj.Kind != "Secret" {
			sel, _ := obj.Spec.Selector.(map[string]any)
			if sel == nil || !reflect.DeepEqual(sel["matchLabels"], gatewaySelector) || obj.Spec.TargetRef != nil || obj.Spec.TargetRefs != nil {
				t.Fatalf("%s %s in the gateway namespace is not scoped to the gateway workload %v: %s", obj.Kind, obj.Metadata.Name, gatewaySelector, o.Raw)
			}
		}
		if obj.Kind == "DestinationRule" {
			checkIstiodRules(t, obj.Metadata.Name, at(obj.Spec.Policy, "loadBalancer", "localityLbSetting"))
		}
		if i >= len(want) && obj.Kind == "DestinationRule" && obj.Metadata.Name == localityName(fap, obj.Spec.Host) &&
			at(obj.Spec.Policy, "loadBalancer", "localityLbSetting") != nil && at(obj.Spec.Policy, "outlierDetection") != nil {
			want = append(want, obj.APIVersion+" "+obj.Kind+"/"+fap.Namespace+"/"+obj.Metadata.Name) // Portico's, for a routed host
		}
		id := obj.Kind + "/" + obj.Metadata.Namespace + "/" + obj.Metadata.Name
		if obj.Kind != "Secret" && obj.Kind != "Gateway" {
			id = obj.APIVersion + " " + id
		}
		got = append(got, id)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
}

// checkCredentials fails when an HTTPS server has no credentialName.
func checkCredentials(t *testing.T, servers []any) {
	t.Helper()
	for i, s := range servers {
		server, _ := s.(map[string]any)
		port, _ := server["port"].(map[string]any)
		if port == nil || !strings.EqualFold(fmt.Sprint(port["protocol"]), "HTTPS") {
			continue
		}
		tls, _ := server["tls"].(map[string]any)
		if _, ok := tls["credentialName"]; !ok {
			t.Fatalf("HTTPS server %d without credentialName: %v", i, server)
		}
	}
}

// renderSeeds are valid access points: the quickstart's, one with TLS and a
// gateway template, one with every template list and overrides that remove and
// add.
var renderSeeds = []string{
	`{"metadata":{"name":"checkout","namespace":"shop"},"spec":{"hosts":["checkout.example.com"],
	 "template":{"virtualServices":[{"name":"checkout","spec":{"hosts":["checkout.example.com"],"http":[{"timeout":"5s"}]}}],
	  "destinationRules":[{"name":"checkout","spec":{"host":"checkout.shop.svc.cluster.local"}}]},
	 "overrides":[{"clusterName":"zone-b-1","clusterOverrides":[{"path":"/virtualServices/0/spec/http/0/timeout","value":"10s"}]}],
	 "loadBalancer":{"pool":"public","ports":[{"name":"http","port":8080}]}}}`,
	`{"metadata":{"name":"web","namespace":"shop"},"spec":{"hosts":["web.example.com","*.web.example.com"],
	 "template":{"gateway":{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["web.example.com"]},
	   {"port":{"number":8443,"name":"alt","protocol":"https"},"hosts":["web.example.com"],"tls":{"mode":"MUTUAL"}},
	   {"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["web.example.com"]}]}},
	 "loadBalancer":{"pool":"public","ports":[{"name":"https","port":443},{"name":"quic","port":443,"protocol":"UDP"}]},
	 "tls":{"issuerRef":{"name":"ca"},"mode":"MUTUAL"}}}`,
	`{"metadata":{"name":"all","namespace":"team-a"},"spec":{"hosts":["all.example.com"],"tls":{"issuerRef":{"name":"ca"}},
	 "template":{"gateway":{"selector":{"app":"gw"}},
	  "virtualServices":[{"name":"a","spec":{"hosts":["all.example.com"]}},{"name":"b","spec":{"hosts":["all.example.com"]}}],
	  "serviceEntries":[{"name":"ext","spec":{"hosts":["ext.example.org"]}}],
	  "workloadEntries":[{"name":"vm","spec":{"address":"10.0.0.1"}}]},
	 "overrides":[{"clusterName":"zone-b-1","clusterOverrides":[{"op":"remove","path":"/virtualServices/1"},
	   {"op":"add","path":"/gateway/servers","value":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["all.example.com"]}]}]},
	  {"clusterName":"zone-a-1","clusterOverrides":[{"op":"replace","path":"/workloadEntries/0/spec/address","value":"10.0.0.2"}]}]}}`,
	`{"metadata":{"name":"pay","namespace":"shop"},"spec":{"hosts":["pay.example.com"],"locality":{"mode":"Failover"},
	 "template":{"virtualServices":[{"name":"pay","spec":{"hosts":["pay.example.com"],"http":[{"route":[{"destination":{"host":"pay"}},
	   {"destination":{"host":"ledger.shop.svc.cluster.local","subset":"v2"}}]}],"tcp":[{"route":[{"destination":{"host":"db.example.org"}}]}]}}],
	  "destinationRules":[{"name":"pay","spec":{"host":"pay.shop.svc.cluster.local","subsets":[{"name":"v2","labels":{"v":"2"},
	   "trafficPolicy":{"loadBalancer":{"simple":"RANDOM"},"portLevelSettings":[{"port":{"number":80},"loadBalancer":{"simple":"LEAST_REQUEST"}}]}}]}}]},
	 "overrides":[{"clusterName":"zone-c-1","clusterOverrides":[{"op":"remove","path":"/destinationRules/0"}]}],
	 "loadBalancer":{"pool":"public","ports":[{"port":80}],"crossZone":{"localWeight":90,"remoteWeight":5,"drainedZones":["zone-c"]}}}}`,
	`{"metadata":{"name":"api","namespace":"shop"},"spec":{"hosts":["api.example.com"],
	 "template":{"gateway":{"selector":{"app":"edge"}},
	  "virtualServices":[{"name":"api","spec":{"hosts":["api.example.com"],"gateways":["mesh","shop/api"]}}],
	  "authorizationPolicies":[{"name":"deny-admin","spec":{"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin/*"]}}]}]}},
	   {"name":"app","spec":{"selector":{"matchLabels":{"app":"api"}},"action":"ALLOW","rules":[{}]}}],
	  "requestAuthentications":[{"name":"jwt","spec":{"jwtRules":[{"issuer":"https://issuer.example.com"}]}}],
	  "telemetries":[{"name":"logs","spec":{"accessLogging":[{"providers":[{"name":"envoy"}]}]}}]},
	 "overrides":[{"clusterName":"zone-b-1","clusterOverrides":[{"op":"add","path":"/requestAuthentications/0/spec/selector","value":{"matchLabels":{"app":"api"}}},
	   {"path":"/gateway/selector","value":{"app":"edge-b"}}]}]}}`,
	`{"metadata":{"name":"w","namespace":"shop"},"spec":{"hosts":["w.example.com"],"locality":{"mode":"Weighted"},
	 "template":{"virtualServices":[{"name":"w","spec":{"hosts":["w.example.com"],"http":[{"route":[{"destination":{"host":"w"}}]}]}}],
	  "destinationRules":[{"name":"all","spec":{"host":"*.shop.svc.cluster.local","trafficPolicy":{"outlierDetection":{"consecutive5xxErrors":2}}}}]}}}`,
}
