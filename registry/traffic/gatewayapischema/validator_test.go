package gatewayapischema

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	validGateway = `{
  "gatewayClassName": "istio",
  "addresses": [{"type": "Hostname", "value": "istio-ingressgateway.istio-system.svc.cluster.local"}],
  "listeners": [
    {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "shop.example.com"},
    {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.example.com",
     "tls": {"certificateRefs": [{"name": "shop.checkout-tls", "namespace": "istio-system"}]}}
  ]
}`
	validHTTPRoute = `{
  "parentRefs": [{"name": "web"}],
  "hostnames": ["shop.example.com"],
  "rules": [
    {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
     "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-portico", "value": "1"}]}}],
     "backendRefs": [{"name": "api", "port": 8080, "weight": 90}, {"name": "api-canary", "port": 8080, "weight": 10}]},
    {"backendRefs": [{"name": "web", "port": 80}]}
  ]
}`
	validGRPCRoute = `{
  "parentRefs": [{"name": "web", "sectionName": "https"}],
  "hostnames": ["grpc.example.com"],
  "rules": [{"matches": [{"method": {"service": "shop.Cart", "method": "Add"}}], "backendRefs": [{"name": "cart", "port": 9090}]}]
}`
	validTLSRoute = `{
  "parentRefs": [{"name": "passthrough"}],
  "hostnames": ["db.example.com"],
  "rules": [{"backendRefs": [{"name": "db", "port": 5432}]}]
}`
	validTCPRoute = `{
  "parentRefs": [{"name": "tcp", "port": 9000}],
  "rules": [{"backendRefs": [{"name": "legacy", "port": 9000}]}]
}`
)

var validSpecs = map[string]string{
	"Gateway": validGateway, "HTTPRoute": validHTTPRoute, "GRPCRoute": validGRPCRoute,
	"TLSRoute": validTLSRoute, "TCPRoute": validTCPRoute,
}

var routePath = field.NewPath("spec", "template", "gatewayAPI", "httpRoutes").Index(0).Child("spec")

func TestKindsMatchGeneratedSchemas(t *testing.T) {
	if got, want := slices.Sorted(maps.Keys(specSchemas)), slices.Sorted(slices.Values(Kinds)); !slices.Equal(got, want) {
		t.Fatalf("generated schemas for %v, Kinds is %v", got, want)
	}
	for _, k := range Kinds {
		if err := validators.Kind(k).Compile(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		if !validators.Kind(k).HasCEL() {
			t.Errorf("%s: no CEL rules compiled", k)
		}
	}
	if gatewayAPIVersion != "v1.6.3" {
		t.Errorf("schemas from sigs.k8s.io/gateway-api %s, want the pinned v1.6.3", gatewayAPIVersion)
	}
}

func TestValidSpecs(t *testing.T) {
	for _, kind := range Kinds {
		if errs := ValidateSpec(context.Background(), kind, []byte(validSpecs[kind]), routePath); len(errs) > 0 {
			t.Errorf("%s: unexpected errors: %v", kind, errs)
		}
	}
}

func TestValidateSpecErrors(t *testing.T) {
	cases := []struct {
		name, kind, spec string
		// path and a fragment of the detail of one of the errors.
		path, detail string
		typ          field.ErrorType
	}{
		{
			name: "path match type not in the enum", kind: "HTTPRoute",
			spec: strings.Replace(validHTTPRoute, `"PathPrefix"`, `"Nope"`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path.type", typ: field.ErrorTypeNotSupported,
		},
		{
			// A CEL rule of the HTTPRoute CRD: a path prefix must start with "/".
			name: "CEL: path value must be absolute", kind: "HTTPRoute",
			spec: strings.Replace(validHTTPRoute, `"/api"`, `"api"`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path", detail: "must be an absolute path", typ: field.ErrorTypeInvalid,
		},
		{
			name: "unknown field", kind: "HTTPRoute",
			spec: strings.Replace(validHTTPRoute, `"hostnames"`, `"hostname"`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.hostname", typ: field.ErrorTypeForbidden,
		},
		{
			name: "backend weight over the maximum", kind: "HTTPRoute",
			spec: strings.Replace(validHTTPRoute, `"weight": 90`, `"weight": 1000001`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].backendRefs[0].weight", typ: field.ErrorTypeInvalid,
		},
		{
			name: "gatewayClassName required", kind: "Gateway",
			spec: strings.Replace(validGateway, `"gatewayClassName": "istio",`, ``, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.gatewayClassName", typ: field.ErrorTypeRequired,
		},
		{
			// CEL: a terminating HTTPS listener needs certificateRefs.
			name: "CEL: HTTPS without certificateRefs", kind: "Gateway",
			spec: strings.Replace(validGateway, `"certificateRefs": [{"name": "shop.checkout-tls", "namespace": "istio-system"}]`, `"mode": "Terminate"`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.listeners[1].tls", detail: "certificateRefs or options must be specified", typ: field.ErrorTypeInvalid,
		},
		{
			name: "CEL: duplicate listener names", kind: "Gateway",
			spec: strings.Replace(validGateway, `"name": "https"`, `"name": "http"`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.listeners", detail: "Listener name must be unique", typ: field.ErrorTypeInvalid,
		},
		{
			name: "port out of range", kind: "TCPRoute",
			spec: strings.Replace(validTCPRoute, `"port": 9000}]}]`, `"port": 70000}]}]`, 1),
			path: "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].backendRefs[0].port", typ: field.ErrorTypeInvalid,
		},
		{
			name: "not an object", kind: "TLSRoute", spec: `[]`,
			path: "spec.template.gatewayAPI.httpRoutes[0].spec", typ: field.ErrorTypeInvalid,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateSpec(context.Background(), tc.kind, []byte(tc.spec), routePath)
			for _, e := range errs {
				if e.Field == tc.path && e.Type == tc.typ && strings.Contains(e.Detail, tc.detail) {
					return
				}
			}
			t.Fatalf("errors %v\nwant a %s at %s (%q)", errs, tc.typ, tc.path, tc.detail)
		})
	}
}

// Defaults apply before the CEL rules, as in the API server: a route
// without matches gets the default PathPrefix / match, and a listener's tls
// mode defaults to Terminate.
func TestDefaultsBeforeRules(t *testing.T) {
	spec := `{"gatewayClassName":"istio","listeners":[{"name":"https","port":443,"protocol":"HTTPS","hostname":"a.example.com","tls":{}}]}`
	errs := ValidateSpec(context.Background(), "Gateway", []byte(spec), routePath)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "certificateRefs or options must be specified when mode is Terminate") {
		t.Fatalf("errors %v; want the Terminate rule (mode defaulted)", errs)
	}
}

func TestUnsupportedKind(t *testing.T) {
	errs := ValidateSpec(context.Background(), "UDPRoute", []byte(`{}`), routePath)
	if len(errs) != 1 || errs[0].Type != field.ErrorTypeNotSupported {
		t.Fatalf("errors %v; want NotSupported", errs)
	}
}
