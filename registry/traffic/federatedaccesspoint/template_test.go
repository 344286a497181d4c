package federatedaccesspoint

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
)

const (
	denyAdmin = `{"action":"DENY","rules":[{"to":[{"operation":{"hosts":["shop.example.com"],"paths":["/admin/*"]}}]}]}`
	jwt       = `{"jwtRules":[{"issuer":"https://issuer.example.com","jwksUri":"https://issuer.example.com/keys"}]}`
	logs      = `{"accessLogging":[{"providers":[{"name":"envoy"}]}]}`
)

func named(name, spec string) traffic.NamedTemplate {
	return traffic.NamedTemplate{Name: name, Spec: traffic.JSONObject{Raw: []byte(spec)}}
}

func policySpec() *traffic.FederatedAccessPointSpec {
	return &traffic.FederatedAccessPointSpec{
		Hosts: []string{"shop.example.com"},
		Template: traffic.AccessPointTemplate{
			AuthorizationPolicies:  []traffic.NamedTemplate{named("deny-admin", denyAdmin)},
			RequestAuthentications: []traffic.NamedTemplate{named("jwt", jwt)},
			Telemetries:            []traffic.NamedTemplate{named("logs", logs)},
		},
	}
}

// hasErr tells whether errs has an error at path whose message contains detail.
func hasErr(errs field.ErrorList, path, detail string) bool {
	for _, e := range errs {
		if e.Field == path && strings.Contains(e.Error(), detail) {
			return true
		}
	}
	return false
}

// TestPolicyTemplatesValidatedAgainstIstioSchema: the gateway policies are
// checked against Istio's security and telemetry schemas, and an invalid one
// is rejected at its path inside the template, also when a cluster's
// override makes it invalid.
func TestPolicyTemplatesValidatedAgainstIstioSchema(t *testing.T) {
	ctx := context.Background()
	if errs := ValidateTemplates(ctx, policySpec()); len(errs) > 0 {
		t.Fatalf("valid policies rejected: %v", errs)
	}
	tests := []struct {
		name         string
		edit         func(s *traffic.FederatedAccessPointSpec)
		path, detail string
	}{{
		name: "unknown action",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.AuthorizationPolicies[0] = named("deny-admin", strings.Replace(denyAdmin, `"DENY"`, `"NOPE"`, 1))
		},
		path:   "spec.template.authorizationPolicies[0].spec.action",
		detail: `Unsupported value: "NOPE"`,
	}, {
		name: "selector and targetRefs",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.AuthorizationPolicies = append(s.Template.AuthorizationPolicies, named("both",
				`{"selector":{"matchLabels":{"app":"shop"}},"targetRefs":[{"kind":"Gateway","group":"gateway.networking.k8s.io","name":"shop"}]}`))
		},
		path:   "spec.template.authorizationPolicies[1].spec",
		detail: "only one of targetRefs or selector can be set",
	}, {
		name: "port of a rule",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.AuthorizationPolicies[0] = named("deny-admin", `{"action":"DENY","rules":[{"to":[{"operation":{"ports":["99999"]}}]}]}`)
		},
		path:   "spec.template.authorizationPolicies[0].spec.rules[0].to[0].operation.ports[0]",
		detail: "between 1 and 65535",
	}, {
		name: "jwksUri without scheme",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.RequestAuthentications[0] = named("jwt", strings.Replace(jwt, "https://issuer.example.com/keys", "issuer.example.com/keys", 1))
		},
		path:   "spec.template.requestAuthentications[0].spec.jwtRules[0].jwksUri",
		detail: "url must have scheme http:// or https://",
	}, {
		name: "unknown telemetry field",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.Telemetries[0] = named("logs", `{"accessLogs":[{}]}`)
		},
		path:   "spec.template.telemetries[0].spec.accessLogs",
		detail: "unknown field",
	}, {
		name: "override making a policy invalid",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-b-1", ClusterOverrides: []traffic.OverridePatch{
				{Op: traffic.OverrideReplace, Path: "/authorizationPolicies/0/spec/action", Value: &traffic.JSONValue{Raw: []byte(`"NOPE"`)}},
			}}}
		},
		path:   "spec.template.authorizationPolicies[0].spec.action",
		detail: `with the overrides of cluster "zone-b-1"`,
	}, {
		name: "gateway-scoped policy with an empty Gateway selector",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.Gateway = &traffic.JSONObject{Raw: []byte(`{"selector":{}}`)}
		},
		path:   "spec.template.gateway.selector",
		detail: "spec.template.authorizationPolicies[0] has no selector, targetRef or targetRefs",
	}, {
		name: "gateway-scoped policy with a null Gateway selector through an override",
		edit: func(s *traffic.FederatedAccessPointSpec) {
			s.Template.AuthorizationPolicies = nil
			s.Template.Gateway = &traffic.JSONObject{Raw: []byte(`{"selector":{"app":"edge"}}`)}
			s.Overrides = []traffic.ClusterOverride{{ClusterName: "zone-a-1", ClusterOverrides: []traffic.OverridePatch{
				{Op: traffic.OverrideReplace, Path: "/gateway/selector", Value: &traffic.JSONValue{Raw: []byte(`null`)}},
			}}}
		},
		path:   "spec.template.gateway.selector",
		detail: "spec.template.requestAuthentications[0] has no selector",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := policySpec()
			tc.edit(spec)
			errs := ValidateTemplates(ctx, spec)
			if !hasErr(errs, tc.path, tc.detail) {
				t.Fatalf("errors %v; want one at %s saying %q", errs, tc.path, tc.detail)
			}
		})
	}
}

// TestPoliciesWithTheirOwnScopeNeedNoGatewaySelector: an empty Gateway
// selector is refused only when a policy would take it.
func TestPoliciesWithTheirOwnScopeNeedNoGatewaySelector(t *testing.T) {
	spec := policySpec()
	spec.Template.Gateway = &traffic.JSONObject{Raw: []byte(`{"selector":{}}`)}
	spec.Template.AuthorizationPolicies[0] = named("deny-admin",
		strings.Replace(denyAdmin, `"action"`, `"selector":{"matchLabels":{"app":"shop"}},"action"`, 1))
	spec.Template.RequestAuthentications[0] = named("jwt",
		strings.Replace(jwt, `"jwtRules"`, `"targetRefs":[{"kind":"Service","group":"","name":"shop"}],"jwtRules"`, 1))
	spec.Template.Telemetries[0] = named("logs",
		strings.Replace(logs, `"accessLogging"`, `"targetRef":{"kind":"Service","group":"","name":"shop"},"accessLogging"`, 1))
	if errs := ValidateTemplates(context.Background(), spec); len(errs) > 0 {
		t.Fatalf("policies with their own scope rejected: %v", errs)
	}
}
