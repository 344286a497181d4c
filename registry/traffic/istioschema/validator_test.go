package istioschema

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var vsPath = field.NewPath("spec", "template", "virtualServices").Index(0).Child("spec")

const (
	validGateway = `{
  "selector": {"istio": "ingressgateway"},
  "servers": [
    {"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
     "hosts": ["shop/shop.example.com", "./*.example.org", "*/api.example.com", "plain.example.net"],
     "tls": {"mode": "SIMPLE", "credentialName": "shop-cert"}},
    {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
     "hosts": ["*"],
     "tls": {"httpsRedirect": true}}
  ]
}`
	validVirtualService = `{
  "hosts": ["reviews", "reviews.shop.svc.cluster.local", "*.example.com"],
  "gateways": ["shop/shop-gateway", "mesh"],
  "http": [
    {"name": "v2-for-jason",
     "match": [{"headers": {"end-user": {"exact": "jason"}}, "uri": {"prefix": "/api"}, "port": 8080}],
     "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}, "weight": 100}],
     "timeout": "10s",
     "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"}},
    {"route": [
       {"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
       {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10}],
     "mirror": {"host": "reviews-shadow", "port": {"number": 9080}},
     "mirrorPercentage": {"value": 5.5}}
  ],
  "tcp": [{"match": [{"port": 27017}], "route": [{"destination": {"host": "mongo.backend.svc.cluster.local", "port": {"number": 5555}}}]}]
}`
	validDestinationRule = `{
  "host": "reviews.shop.svc.cluster.local",
  "trafficPolicy": {
    "connectionPool": {"tcp": {"maxConnections": 100, "connectTimeout": "30ms"}, "http": {"idleTimeout": "1m"}},
    "loadBalancer": {"simple": "LEAST_REQUEST"},
    "outlierDetection": {"consecutive5xxErrors": 7, "interval": "5m", "baseEjectionTime": "15m"},
    "portLevelSettings": [{"port": {"number": 9080}, "loadBalancer": {"simple": "ROUND_ROBIN"}}]
  },
  "subsets": [
    {"name": "v1", "labels": {"version": "v1"}},
    {"name": "v2", "labels": {"version": "v2"}, "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}}
  ]
}`
	validServiceEntry = `{
  "hosts": ["api.example.com", "*.googleapis.com"],
  "location": "MESH_EXTERNAL",
  "ports": [{"number": 443, "name": "https", "protocol": "TLS"}, {"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8080}],
  "resolution": "DNS"
}`
	validWorkloadEntry = `{
  "address": "10.0.0.7",
  "labels": {"app": "legacy", "version": "v1"},
  "ports": {"http": 8080, "grpc": 9090},
  "serviceAccount": "legacy",
  "network": "vm-network"
}`
	validWorkloadGroup = `{
  "metadata": {"labels": {"app": "legacy"}},
  "template": {"ports": {"http": 8080}, "serviceAccount": "legacy", "network": "vm-network"},
  "probe": {"periodSeconds": 5, "httpGet": {"path": "/ready", "port": 8080}}
}`
	validAuthorizationPolicy = `{
  "selector": {"matchLabels": {"istio": "ingressgateway"}},
  "action": "DENY",
  "rules": [
    {"from": [{"source": {"notRequestPrincipals": ["*"]}}],
     "to": [{"operation": {"hosts": ["shop.example.com"], "paths": ["/admin/*"], "ports": ["8443"]}}],
     "when": [{"key": "request.auth.claims[groups]", "notValues": ["admins"]}]}
  ]
}`
	validRequestAuthentication = `{
  "selector": {"matchLabels": {"istio": "ingressgateway"}},
  "jwtRules": [
    {"issuer": "https://issuer.example.com", "jwksUri": "https://issuer.example.com/keys",
     "audiences": ["shop"], "forwardOriginalToken": true,
     "fromHeaders": [{"name": "Authorization", "prefix": "Bearer "}]}
  ]
}`
	validTelemetry = `{
  "selector": {"matchLabels": {"istio": "ingressgateway"}},
  "accessLogging": [{"providers": [{"name": "envoy"}], "filter": {"expression": "response.code >= 400"}}],
  "tracing": [{"randomSamplingPercentage": 10.5}],
  "metrics": [{"overrides": [{"match": {"metric": "REQUEST_COUNT", "mode": "SERVER"}, "tagOverrides": {"request_host": {"operation": "REMOVE"}}}]}]
}`
)

var validSpecs = map[string]string{
	"Gateway":         validGateway,
	"VirtualService":  validVirtualService,
	"DestinationRule": validDestinationRule,
	"ServiceEntry":    validServiceEntry,
	"WorkloadEntry":   validWorkloadEntry,
	"WorkloadGroup":   validWorkloadGroup,

	"AuthorizationPolicy":   validAuthorizationPolicy,
	"RequestAuthentication": validRequestAuthentication,
	"Telemetry":             validTelemetry,
}

// patch returns the JSON of spec after applying edit to its decoded form.
func patch(t testing.TB, spec string, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(spec), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at returns the value at a path of keys (string) and indices (int).
func at(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = v.(map[string]any)[p]
		case int:
			v = v.([]any)[p]
		}
	}
	return v
}

func obj(v any, path ...any) map[string]any { return at(v, path...).(map[string]any) }

func dump(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s (%s)", e.Error(), e.Type)
	}
	return b.String()
}

func findErr(errs field.ErrorList, path string, typ field.ErrorType) *field.Error {
	for _, e := range errs {
		if e.Field == path && e.Type == typ {
			return e
		}
	}
	return nil
}

func TestKindsMatchGeneratedSchemas(t *testing.T) {
	got := slices.Sorted(maps.Keys(specSchemas))
	want := slices.Sorted(slices.Values(Kinds))
	if !slices.Equal(got, want) {
		t.Fatalf("generated schemas for %v, Kinds is %v", got, want)
	}
	for _, k := range Kinds {
		if err := validators.Kind(k).Compile(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	// Every one of the schemas has x-kubernetes-validations rules.
	for _, k := range Kinds {
		if !validators.Kind(k).HasCEL() {
			t.Errorf("%s: no CEL validator compiled", k)
		}
	}
}

func TestValidSpecs(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			if errs := ValidateSpec(context.Background(), kind, []byte(validSpecs[kind]), field.NewPath("spec")); len(errs) > 0 {
				t.Fatalf("unexpected errors:%s", dump(errs))
			}
		})
	}
}

func TestValidateSpecErrors(t *testing.T) {
	type wantErr struct {
		path   string // full path
		typ    field.ErrorType
		detail string // substring of the detail, if not empty
	}
	p := vsPath.String()
	tests := []struct {
		name string
		kind string
		spec []byte
		want []wantErr
		// exact: the errors must be exactly want (otherwise want must be contained)
		exact bool
	}{{
		name:  "CEL rule: timeout 0s",
		kind:  "VirtualService",
		spec:  patch(t, validVirtualService, func(m map[string]any) { obj(m, "http", 0)["timeout"] = "0s" }),
		want:  []wantErr{{p + ".http[0].timeout", field.ErrorTypeInvalid, "must be a valid duration greater than 1ms"}},
		exact: true,
	}, {
		name: "CEL rule: unparsable duration",
		kind: "DestinationRule",
		spec: patch(t, validDestinationRule, func(m map[string]any) {
			obj(m, "trafficPolicy", "connectionPool", "tcp")["connectTimeout"] = "soon"
		}),
		want:  []wantErr{{p + ".trafficPolicy.connectionPool.tcp.connectTimeout", field.ErrorTypeInvalid, ""}},
		exact: true,
	}, {
		name: "missing required destination host",
		kind: "VirtualService",
		spec: patch(t, validVirtualService, func(m map[string]any) {
			delete(obj(m, "http", 0, "route", 0, "destination"), "host")
		}),
		want: []wantErr{
			{p + ".http[0].route[0].destination.host", field.ErrorTypeRequired, ""},
			{p, field.ErrorTypeInvalid, "some validation rules were not checked"},
		},
		exact: true,
	}, {
		name: "string where a number is expected",
		kind: "VirtualService",
		spec: patch(t, validVirtualService, func(m map[string]any) {
			obj(m, "http", 0, "route", 0, "destination", "port")["number"] = "9080"
		}),
		want: []wantErr{{p + ".http[0].route[0].destination.port.number", field.ErrorTypeTypeInvalid, ""}},
	}, {
		name: "number where a string is expected",
		kind: "DestinationRule",
		spec: patch(t, validDestinationRule, func(m map[string]any) { m["host"] = 42 }),
		want: []wantErr{{p + ".host", field.ErrorTypeTypeInvalid, ""}},
	}, {
		name: "enum",
		kind: "DestinationRule",
		spec: patch(t, validDestinationRule, func(m map[string]any) {
			obj(m, "trafficPolicy", "loadBalancer")["simple"] = "FASTEST"
		}),
		want: []wantErr{{p + ".trafficPolicy.loadBalancer.simple", field.ErrorTypeNotSupported, ""}},
	}, {
		name: "unknown fields",
		kind: "VirtualService",
		spec: patch(t, validVirtualService, func(m map[string]any) {
			obj(m, "http", 0, "route", 0, "destination")["hots"] = "reviews"
			m["metadata"] = map[string]any{"name": "x"}
		}),
		want: []wantErr{
			{p + ".http[0].route[0].destination.hots", field.ErrorTypeForbidden, "unknown field"},
			{p + ".metadata", field.ErrorTypeForbidden, "unknown field"},
		},
		exact: true,
	}, {
		name:  "duplicate field",
		kind:  "VirtualService",
		spec:  []byte(`{"hosts": ["a.example.com"], "http": [{"timeout": "1s", "timeout": "2s", "route": [{"destination": {"host": "a"}}]}]}`),
		want:  []wantErr{{p + ".http[0].timeout", field.ErrorTypeInvalid, "duplicate field"}},
		exact: true,
	}, {
		name:  "gateway port 99999",
		kind:  "Gateway",
		spec:  patch(t, validGateway, func(m map[string]any) { obj(m, "servers", 1, "port")["number"] = 99999 }),
		want:  []wantErr{{p + ".servers[1].port.number", field.ErrorTypeInvalid, "between 1 and 65535"}},
		exact: true,
	}, {
		name: "virtual service ports out of range",
		kind: "VirtualService",
		spec: patch(t, validVirtualService, func(m map[string]any) {
			obj(m, "http", 0, "route", 0, "destination", "port")["number"] = 99999
			obj(m, "http", 0, "match", 0)["port"] = 70000
			obj(m, "tcp", 0, "route", 0, "destination", "port")["number"] = 0
		}),
		want: []wantErr{
			{p + ".http[0].match[0].port", field.ErrorTypeInvalid, "between 1 and 65535"},
			{p + ".http[0].route[0].destination.port.number", field.ErrorTypeInvalid, "between 1 and 65535"},
			{p + ".tcp[0].route[0].destination.port.number", field.ErrorTypeInvalid, "between 1 and 65535"},
		},
		exact: true,
	}, {
		name: "destination rule port level setting out of range",
		kind: "DestinationRule",
		spec: patch(t, validDestinationRule, func(m map[string]any) {
			obj(m, "trafficPolicy", "portLevelSettings", 0, "port")["number"] = 65536
		}),
		want:  []wantErr{{p + ".trafficPolicy.portLevelSettings[0].port.number", field.ErrorTypeInvalid, "between 1 and 65535"}},
		exact: true,
	}, {
		// Istio's schema has its own rule here; the port is reported once.
		name:  "service entry port out of range",
		kind:  "ServiceEntry",
		spec:  patch(t, validServiceEntry, func(m map[string]any) { obj(m, "ports", 0)["number"] = 99999 }),
		want:  []wantErr{{p + ".ports[0].number", field.ErrorTypeInvalid, "port must be between 1-65535"}},
		exact: true,
	}, {
		name:  "workload entry port out of range",
		kind:  "WorkloadEntry",
		spec:  patch(t, validWorkloadEntry, func(m map[string]any) { obj(m, "ports")["http"] = 99999 }),
		want:  []wantErr{{p + ".ports[http]", field.ErrorTypeInvalid, "port must be between 1-65535"}},
		exact: true,
	}, {
		name: "bad virtual service hosts",
		kind: "VirtualService",
		spec: patch(t, validVirtualService, func(m map[string]any) {
			m["hosts"] = []any{"bad_host!", "foo.*.com", "*example.com", "a..b", "-a.com", "example.com.", "1.2.3"}
		}),
		want: []wantErr{
			{p + ".hosts[0]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".hosts[1]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".hosts[2]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".hosts[3]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".hosts[4]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".hosts[5]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".hosts[6]", field.ErrorTypeInvalid, "must not be all digits"},
		},
		exact: true,
	}, {
		name:  "bad destination rule host",
		kind:  "DestinationRule",
		spec:  patch(t, validDestinationRule, func(m map[string]any) { m["host"] = "reviews svc" }),
		want:  []wantErr{{p + ".host", field.ErrorTypeInvalid, "must be a DNS name"}},
		exact: true,
	}, {
		name: "bad gateway hosts",
		kind: "Gateway",
		spec: patch(t, validGateway, func(m map[string]any) {
			obj(m, "servers", 0)["hosts"] = []any{"Bad_NS/shop.example.com", "shop/", "shop/bad host", "/shop.example.com"}
		}),
		want: []wantErr{
			{p + ".servers[0].hosts[0]", field.ErrorTypeInvalid, "namespace"},
			{p + ".servers[0].hosts[1]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".servers[0].hosts[2]", field.ErrorTypeInvalid, "must be a DNS name"},
			{p + ".servers[0].hosts[3]", field.ErrorTypeInvalid, "namespace"},
		},
		exact: true,
	}, {
		name: "bad service entry host",
		kind: "ServiceEntry",
		spec: patch(t, validServiceEntry, func(m map[string]any) {
			m["hosts"] = []any{"api.example.com", "*", "api.*"}
		}),
		want: []wantErr{
			{p + ".hosts[1]", field.ErrorTypeInvalid, "hostname cannot be wildcard"},
			{p + ".hosts[2]", field.ErrorTypeInvalid, "must be a DNS name"},
		},
		exact: true,
	}, {
		name:  "unknown kind",
		kind:  "Sidecar",
		spec:  []byte(`{}`),
		want:  []wantErr{{p, field.ErrorTypeNotSupported, ""}},
		exact: true,
	}, {
		name:  "invalid JSON",
		kind:  "VirtualService",
		spec:  []byte(`{"hosts": [`),
		want:  []wantErr{{p, field.ErrorTypeInvalid, "must be a JSON object"}},
		exact: true,
	}, {
		name:  "trailing data",
		kind:  "VirtualService",
		spec:  []byte(`{"hosts": ["a.example.com"]} {}`),
		want:  []wantErr{{p, field.ErrorTypeInvalid, "must be a JSON object"}},
		exact: true,
	}, {
		name:  "array",
		kind:  "VirtualService",
		spec:  []byte(`[]`),
		want:  []wantErr{{p, field.ErrorTypeInvalid, "not an array"}},
		exact: true,
	}, {
		name:  "null",
		kind:  "Gateway",
		spec:  []byte(`null`),
		want:  []wantErr{{p, field.ErrorTypeInvalid, "not null"}},
		exact: true,
	}, {
		name:  "empty",
		kind:  "Gateway",
		spec:  nil,
		want:  []wantErr{{p, field.ErrorTypeInvalid, "must be a JSON object"}},
		exact: true,
	}, {
		name: "top-level CEL rule",
		kind: "WorkloadEntry",
		spec: patch(t, validWorkloadEntry, func(m map[string]any) {
			delete(m, "address")
			delete(m, "network")
		}),
		want:  []wantErr{{p, field.ErrorTypeInvalid, "Address is required"}},
		exact: true,
	}, {
		name: "authorization policy action",
		kind: "AuthorizationPolicy",
		spec: patch(t, validAuthorizationPolicy, func(m map[string]any) { m["action"] = "NOPE" }),
		want: []wantErr{
			{p + ".action", field.ErrorTypeNotSupported, `"ALLOW", "DENY", "AUDIT", "CUSTOM"`},
			{p, field.ErrorTypeInvalid, "some validation rules were not checked"},
		},
		exact: true,
	}, {
		name: "authorization policy selector and targetRefs",
		kind: "AuthorizationPolicy",
		spec: patch(t, validAuthorizationPolicy, func(m map[string]any) {
			m["targetRefs"] = []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}}
		}),
		want:  []wantErr{{p, field.ErrorTypeInvalid, "only one of targetRefs or selector can be set"}},
		exact: true,
	}, {
		name: "authorization policy ports",
		kind: "AuthorizationPolicy",
		spec: patch(t, validAuthorizationPolicy, func(m map[string]any) {
			obj(m, "rules", 0, "to", 0, "operation")["ports"] = []any{"443", "http", "70000"}
			obj(m, "rules", 0, "to", 0, "operation")["notPorts"] = []any{"0"}
		}),
		want: []wantErr{
			{p + ".rules[0].to[0].operation.ports[1]", field.ErrorTypeInvalid, "between 1 and 65535"},
			{p + ".rules[0].to[0].operation.ports[2]", field.ErrorTypeInvalid, "between 1 and 65535"},
			{p + ".rules[0].to[0].operation.notPorts[0]", field.ErrorTypeInvalid, "between 1 and 65535"},
		},
		exact: true,
	}, {
		name: "request authentication jwksUri without scheme",
		kind: "RequestAuthentication",
		spec: patch(t, validRequestAuthentication, func(m map[string]any) {
			obj(m, "jwtRules", 0)["jwksUri"] = "issuer.example.com/keys"
		}),
		want:  []wantErr{{p + ".jwtRules[0].jwksUri", field.ErrorTypeInvalid, "url must have scheme http:// or https://"}},
		exact: true,
	}, {
		name: "telemetry sampling above 100",
		kind: "Telemetry",
		spec: patch(t, validTelemetry, func(m map[string]any) {
			obj(m, "tracing", 0)["randomSamplingPercentage"] = 150
		}),
		want:  []wantErr{{p + ".tracing[0].randomSamplingPercentage", field.ErrorTypeInvalid, "less than or equal to 100"}},
		exact: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateSpec(context.Background(), tc.kind, tc.spec, vsPath)
			t.Logf("errors:%s", dump(errs))
			for _, w := range tc.want {
				e := findErr(errs, w.path, w.typ)
				if e == nil {
					t.Errorf("missing %s error at %s; got:%s", w.typ, w.path, dump(errs))
					continue
				}
				if !strings.Contains(e.Detail, w.detail) {
					t.Errorf("error at %s: detail %q does not contain %q", w.path, e.Detail, w.detail)
				}
			}
			if tc.exact && len(errs) != len(tc.want) {
				t.Errorf("got %d errors, want %d:%s", len(errs), len(tc.want), dump(errs))
			}
		})
	}
}

func TestMissingHostPathSuffix(t *testing.T) {
	spec := patch(t, validVirtualService, func(m map[string]any) {
		delete(obj(m, "http", 1, "route", 0, "destination"), "host")
	})
	errs := ValidateSpec(context.Background(), "VirtualService", spec, vsPath)
	for _, e := range errs {
		if e.Type == field.ErrorTypeRequired && strings.HasSuffix(e.Field, "route[0].destination.host") {
			if e.Field != "spec.template.virtualServices[0].spec.http[1].route[0].destination.host" {
				t.Errorf("unexpected full path %s", e.Field)
			}
			return
		}
	}
	t.Fatalf("no Required error ending in route[0].destination.host:%s", dump(errs))
}

func TestValidHosts(t *testing.T) {
	tests := []struct {
		kind  string
		hosts []any
	}{
		{"VirtualService", []any{"*.example.com", "*", "reviews", "Reviews.Example.COM", "10.1.2.3", "2001:db8::1", "x-1.a-b.example"}},
		{"ServiceEntry", []any{"*.example.com", "api.example.com"}},
		{"Gateway", []any{"*.example.com", "*", "ns/*.example.com", "*/*", "./foo.example.com", "my-ns/*"}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			spec := patch(t, validSpecs[tc.kind], func(m map[string]any) {
				if tc.kind == "Gateway" {
					obj(m, "servers", 0)["hosts"] = tc.hosts
				} else {
					m["hosts"] = tc.hosts
				}
			})
			if errs := ValidateSpec(context.Background(), tc.kind, spec, vsPath); len(errs) > 0 {
				t.Fatalf("unexpected errors:%s", dump(errs))
			}
		})
	}
	spec := patch(t, validDestinationRule, func(m map[string]any) { m["host"] = "*.example.com" })
	if errs := ValidateSpec(context.Background(), "DestinationRule", spec, vsPath); len(errs) > 0 {
		t.Fatalf("DestinationRule: unexpected errors:%s", dump(errs))
	}
}

func TestNullsOfNonNullableFieldsAreDropped(t *testing.T) {
	// As in the API server, which drops them when decoding.
	spec := patch(t, validVirtualService, func(m map[string]any) { obj(m, "http", 0)["timeout"] = nil })
	if errs := ValidateSpec(context.Background(), "VirtualService", spec, vsPath); len(errs) > 0 {
		t.Fatalf("unexpected errors:%s", dump(errs))
	}
}

func TestInputNotModified(t *testing.T) {
	spec := patch(t, validVirtualService, func(m map[string]any) { m["unknown"] = true })
	orig := string(spec)
	ValidateSpec(context.Background(), "VirtualService", spec, vsPath)
	if string(spec) != orig {
		t.Fatal("ValidateSpec modified its input")
	}
}

func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		for _, kind := range Kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs := ValidateSpec(context.Background(), kind, []byte(validSpecs[kind]), vsPath); len(errs) > 0 {
					t.Errorf("%s: unexpected errors:%s", kind, dump(errs))
				}
			}()
		}
	}
	wg.Wait()
}

func TestVisit(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(`{"a": [{"b": {"x": 1, "y": 2}}, {"b": null}, {"c": 3}, "junk"], "s": "v"}`), &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	collect := func(v any, p *field.Path) { got = append(got, fmt.Sprintf("%s=%v", p, v)) }
	visit(m, "a[].b{}", field.NewPath("spec"), collect)
	visit(m, "s", field.NewPath("spec"), collect)
	visit(m, "missing[].x", field.NewPath("spec"), collect)
	visit(m, "s[]", field.NewPath("spec"), collect)
	want := []string{"spec.a[0].b[x]=1", "spec.a[0].b[y]=2", "spec.s=v"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func BenchmarkValidateVirtualService(b *testing.B) {
	ctx := context.Background()
	spec := []byte(validVirtualService)
	if errs := ValidateSpec(ctx, "VirtualService", spec, vsPath); len(errs) > 0 {
		b.Fatalf("unexpected errors:%s", dump(errs))
	}
	b.ReportAllocs()
	for b.Loop() {
		ValidateSpec(ctx, "VirtualService", spec, vsPath)
	}
}
