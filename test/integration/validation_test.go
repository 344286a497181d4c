//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var fapGVR = schema.GroupVersionResource{Group: trafficGroup, Version: "v1alpha1", Resource: "federatedaccesspoints"}

// validTemplate exercises every kind of template with nested objects, lists,
// numbers, booleans and durations.
const validTemplate = `
    gateway:
      selector:
        istio: ingressgateway
        topology: edge
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: [shop.tmpl.example.com]
        tls: {mode: SIMPLE, credentialName: shop-cert}
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [shop.tmpl.example.com]
        tls: {httpsRedirect: true}
    virtualServices:
    - name: shop
      spec:
        hosts: [shop.tmpl.example.com]
        gateways: [shop]
        http:
        - name: api
          match:
          - uri: {prefix: /api}
            headers:
              x-canary: {exact: "true"}
          timeout: 2.5s
          retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure"}
          route:
          - destination: {host: api.shop.svc.cluster.local, port: {number: 8080}, subset: v2}
            weight: 10
          - destination: {host: api.shop.svc.cluster.local, port: {number: 8080}, subset: v1}
            weight: 90
        - route:
          - destination: {host: web.shop.svc.cluster.local}
    - name: admin
      spec:
        hosts: [admin.tmpl.example.com]
        http:
        - route:
          - destination: {host: admin.shop.svc.cluster.local}
    destinationRules:
    - name: api
      spec:
        host: api.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp: {maxConnections: 100}
            http: {http2MaxRequests: 1000, maxRequestsPerConnection: 10}
          outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m}
        subsets:
        - name: v1
          labels: {version: v1}
        - name: v2
          labels: {version: v2}
    serviceEntries:
    - name: payments
      spec:
        hosts: [payments.external.example.com]
        location: MESH_EXTERNAL
        resolution: DNS
        ports:
        - {number: 443, name: https, protocol: TLS}
    workloadEntries:
    - name: legacy
      spec:
        address: 192.0.2.50
        labels: {app: legacy}
        ports: {http: 8080}
`

func fapWithTemplate(ns, name, template string) string {
	return fapYAML(ns, name, "shop.tmpl.example.com", "admin.tmpl.example.com") + "  template:" + template
}

// TestTemplateValidation: Istio templates are validated against Istio's
// schema at write time with errors that name the field inside the template,
// on create and update, for a cluster's overrides too; a rejected object is
// not stored; a valid template is stored exactly as sent.
func TestTemplateValidation(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "tmpl")
	faps := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns)

	vs := func(http string) string {
		return `
    virtualServices:
    - name: vs
      spec:
        hosts: [shop.tmpl.example.com]
        http:` + http
	}
	rejected := []struct {
		name, template, wantField, wantDetail string
	}{
		{
			name: "zero-timeout",
			template: vs(`
        - timeout: 0s
          route:
          - destination: {host: shop.svc.cluster.local}
`),
			wantField: "spec.template.virtualServices[0].spec.http[0].timeout", wantDetail: "0s",
		},
		{
			name: "no-destination-host",
			template: vs(`
        - route:
          - destination: {port: {number: 80}}
`),
			wantField: "spec.template.virtualServices[0].spec.http[0].route[0].destination.host", wantDetail: "Required value",
		},
		{
			name: "unknown-field",
			template: vs(`
        - route:
          - destination: {host: shop.svc.cluster.local}
            wieght: 3
`),
			wantField: "spec.template.virtualServices[0].spec.http[0].route[0].wieght", wantDetail: "unknown field",
		},
		{
			name: "gateway-port",
			template: `
    gateway:
      servers:
      - port: {number: 99999, name: http, protocol: HTTP}
        hosts: ["*"]
`,
			wantField: "spec.template.gateway.servers[0].port.number", wantDetail: "99999",
		},
		{
			name: "second-destination-rule",
			template: `
    destinationRules:
    - name: ok
      spec: {host: a.svc.cluster.local}
    - name: bad
      spec: {host: b.svc.cluster.local, trafficPolicy: {loadBalancer: {simple: FASTEST}}}
`,
			wantField: "spec.template.destinationRules[1].spec.trafficPolicy.loadBalancer.simple", wantDetail: "FASTEST",
		},
		{
			name: "override-breaks-template",
			template: vs(`
        - timeout: 5s
          route:
          - destination: {host: shop.svc.cluster.local}
`) + `  overrides:
  - clusterName: zone-x-1
    clusterOverrides:
    - path: /virtualServices/0/spec/http/0/timeout
      value: 0s
`,
			wantField: "spec.template.virtualServices[0].spec.http[0].timeout", wantDetail: `cluster "zone-x-1"`,
		},
	}
	for _, tc := range rejected {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			out, stderr, err := e.applyYAML(t, fapWithTemplate(ns, tc.name, tc.template), "apply")
			if err == nil {
				t.Fatalf("accepted: %s", out)
			}
			if !strings.Contains(stderr, tc.wantField) || !strings.Contains(stderr, tc.wantDetail) {
				t.Errorf("the error does not name %s (%s):\n%s", tc.wantField, tc.wantDetail, stderr)
			}
			if !strings.Contains(stderr, `The FederatedAccessPoint "`+tc.name+`" is invalid`) {
				t.Errorf("not reported as an invalid object:\n%s", stderr)
			}
			if _, err := faps.Get(ctx, tc.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the rejected access point exists (err=%v)", err)
			}
		})
	}

	t.Run("stores a valid template unchanged", func(t *testing.T) {
		doc := fapWithTemplate(ns, "valid", validTemplate)
		e.mustApplyYAML(t, doc, "apply", "--server-side")
		var sent map[string]any
		if err := yaml.Unmarshal([]byte(doc), &sent); err != nil {
			t.Fatal(err)
		}
		wantTemplate := jsonNormalize(t, sent["spec"].(map[string]any)["template"])

		// As kubectl shows it, as the dynamic client reads it and as the typed
		// client reads it.
		var shown map[string]any
		if err := json.Unmarshal([]byte(e.mustKubectl(t, "get", "fap", "valid", "-n", ns, "-o", "json")), &shown); err != nil {
			t.Fatal(err)
		}
		if got := jsonNormalize(t, shown["spec"].(map[string]any)["template"]); !reflect.DeepEqual(got, wantTemplate) {
			t.Errorf("kubectl get shows another template:\n got %s\nwant %s", mustJSON(got), mustJSON(wantTemplate))
		}
		u, err := e.dyn.Resource(fapGVR).Namespace(ns).Get(ctx, "valid", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonNormalize(t, u.Object["spec"].(map[string]any)["template"]); !reflect.DeepEqual(got, wantTemplate) {
			t.Errorf("the dynamic client reads another template:\n got %s\nwant %s", mustJSON(got), mustJSON(wantTemplate))
		}
		fap, err := faps.Get(ctx, "valid", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonNormalize(t, fap.Spec.Template); !reflect.DeepEqual(got, wantTemplate) {
			t.Errorf("the typed client reads another template:\n got %s\nwant %s", mustJSON(got), mustJSON(wantTemplate))
		}

		// An invalid update is refused and the stored template stays.
		broken := strings.Replace(doc, "timeout: 2.5s", "timeout: 0s", 1)
		if out, stderr, err := e.applyYAML(t, broken, "apply", "--server-side"); err == nil {
			t.Errorf("invalid update accepted: %s", out)
		} else if !strings.Contains(stderr, "spec.template.virtualServices[0].spec.http[0].timeout") {
			t.Errorf("invalid update error: %s", stderr)
		}
		after, err := faps.Get(ctx, "valid", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != fap.ResourceVersion || !reflect.DeepEqual(jsonNormalize(t, after.Spec.Template), wantTemplate) {
			t.Errorf("the refused update changed the object")
		}
	})
}

// normalize round-trips v through JSON so that values of different Go types
// compare equal when their JSON is equal.
func jsonNormalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
