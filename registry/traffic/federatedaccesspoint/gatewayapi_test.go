package federatedaccesspoint

import (
	"context"
	"strings"
	"testing"

	"github.com/portico-dev/portico/apis/traffic"
)

const (
	// A Gateway whose HTTPS listener leaves certificateRefs to Portico (it
	// gets the delivered certificate with spec.tls), and no addresses (it
	// gets the gateway Service).
	gwWeb = `{"gatewayClassName":"istio","listeners":[
	  {"name":"http","port":80,"protocol":"HTTP","hostname":"shop.example.com"},
	  {"name":"https","port":443,"protocol":"HTTPS","hostname":"shop.example.com","tls":{"mode":"Terminate"}}]}`
	// A route without parentRefs: attached to the only Gateway.
	routeWeb = `{"hostnames":["shop.example.com"],"rules":[
	  {"matches":[{"path":{"type":"PathPrefix","value":"/api"}}],"backendRefs":[{"name":"api","port":8080}]}]}`
)

func gatewayAPISpec() *traffic.FederatedAccessPointSpec {
	return &traffic.FederatedAccessPointSpec{
		Hosts: []string{"shop.example.com"},
		TLS:   &traffic.TLSSpec{IssuerRef: traffic.LocalReference{Name: "ca"}, Mode: traffic.TLSModeSimple},
		Template: traffic.AccessPointTemplate{GatewayAPI: &traffic.GatewayAPITemplate{
			Gateways:   []traffic.NamedTemplate{named("web", gwWeb)},
			HTTPRoutes: []traffic.NamedTemplate{named("web", routeWeb)},
		}},
	}
}

// TestGatewayAPITemplatesValidatedAgainstTheirCRDs: the Gateway API templates
// are checked against the Gateway API CRDs' schemas and CEL rules as the
// renderer fills them; an invalid one is rejected at its path inside the
// template, also when a cluster's override makes it invalid; listeners and
// routes may claim only the access point's hosts.
func TestGatewayAPITemplatesValidatedAgainstTheirCRDs(t *testing.T) {
	ctx := context.Background()
	if errs := ValidateTemplates(ctx, gatewayAPISpec()); len(errs) > 0 {
		t.Fatalf("valid Gateway API templates rejected: %v", errs)
	}
	route := func(s *traffic.FederatedAccessPointSpec, spec string) {
		s.Template.GatewayAPI.HTTPRoutes[0].Spec.Raw = []byte(spec)
	}
	tests := []struct {
		name         string
		edit         func(s *traffic.FederatedAccessPointSpec)
		path, detail string
	}{{
		name: "path match type not in the schema's enum",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			route(s, strings.Replace(routeWeb, "PathPrefix", "Nope", 1))
		},
		path:   "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path.type",
		detail: `Unsupported value: "Nope"`,
	}, {
		name:   "a CEL rule of the HTTPRoute CRD",
		edit:   func(s *traffic.FederatedAccessPointSpec) { route(s, strings.Replace(routeWeb, `"/api"`, `"api"`, 1)) },
		path:   "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path",
		detail: "must be an absolute path",
	}, {
		name:   "without spec.tls the HTTPS listener has no certificate (CEL)",
		edit:   func(s *traffic.FederatedAccessPointSpec) { s.TLS = nil },
		path:   "spec.template.gatewayAPI.gateways[0].spec.listeners[1].tls",
		detail: "certificateRefs or options must be specified when mode is Terminate",
	}, {
		name: "a listener without hostname would take every host",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.GatewayAPI.Gateways[0].Spec.Raw = []byte(strings.Replace(gwWeb, `"protocol":"HTTP","hostname":"shop.example.com"`, `"protocol":"HTTP"`, 1))
		},
		path:   "spec.template.gatewayAPI.gateways[0].spec.listeners[0].hostname",
		detail: "a listener without hostname takes every host",
	}, {
		name: "a listener of another host",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.GatewayAPI.Gateways[0].Spec.Raw = []byte(strings.Replace(gwWeb, `"shop.example.com"`, `"bank.example.com"`, 1))
		},
		path:   "spec.template.gatewayAPI.gateways[0].spec.listeners[0].hostname",
		detail: "must be within spec.hosts",
	}, {
		name: "a route of another host",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			route(s, strings.Replace(routeWeb, "shop.example.com", "*.example.com", 1))
		},
		path:   "spec.template.gatewayAPI.httpRoutes[0].spec.hostnames[0]",
		detail: "must be within spec.hosts",
	}, {
		name: "two Gateways: a route must name its parent",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.GatewayAPI.Gateways = append(s.Template.GatewayAPI.Gateways, named("other", gwWeb))
		},
		path:   "spec.template.gatewayAPI.httpRoutes[0].spec.parentRefs",
		detail: "the access point has 2 Gateways",
	}, {
		name: "a TCPRoute against its schema",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.GatewayAPI.TCPRoutes = []traffic.NamedTemplate{named("db", `{"rules":[{"backendRefs":[{"name":"db","port":0}]}]}`)}
		},
		path:   "spec.template.gatewayAPI.tcpRoutes[0].spec.rules[0].backendRefs[0].port",
		detail: "should be greater than or equal to 1",
	}, {
		name: "an override that breaks a route",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
				{Op: "replace", Path: "/gatewayAPI/httpRoutes/0/spec/rules/0/matches/0/path/type", Value: &traffic.JSONValue{Raw: []byte(`"Nope"`)}}}}}
		},
		path:   "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path.type",
		detail: `with the overrides of cluster "zone-b-1"`,
	}, {
		name: "an override that adds a route",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
				{Op: "add", Path: "/gatewayAPI/httpRoutes/-", Value: &traffic.JSONValue{Raw: []byte(`{"name":"extra","spec":{}}`)}}}}}
		},
		path:   "spec.overrides[0].clusterOverrides",
		detail: `gatewayAPI.httpRoutes "extra" is not in spec.template`,
	}, {
		name: "an override that adds an Istio gateway",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
				{Op: "add", Path: "/gateway", Value: &traffic.JSONValue{Raw: []byte(`{"selector":{"istio":"ingressgateway"}}`)}}}}}
		},
		path:   "spec.template.gateway",
		detail: "Istio networking or the Gateway API for its gateway, not both",
	}, {
		name: "an override that removes the Gateway",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
				{Op: "remove", Path: "/gatewayAPI/gateways/0"}}}}
		},
		path:   "spec.template.gatewayAPI.gateways",
		detail: "Required value",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := gatewayAPISpec()
			tt.edit(spec)
			if errs := ValidateTemplates(ctx, spec); !hasErr(errs, tt.path, tt.detail) {
				t.Fatalf("errors %v\nwant one at %s saying %q", errs, tt.path, tt.detail)
			}
		})
	}

	// A valid per-cluster override: another port for one cluster's listener.
	spec := gatewayAPISpec()
	spec.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
		{Op: "replace", Path: "/gatewayAPI/gateways/0/spec/listeners/1/port", Value: &traffic.JSONValue{Raw: []byte(`8443`)}}}}}
	if errs := ValidateTemplates(ctx, spec); len(errs) > 0 {
		t.Fatalf("a valid override rejected: %v", errs)
	}
}
