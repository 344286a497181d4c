package validation

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
)

// wantErr is an expected error: its type and field path, e.g.
// {field.ErrorTypeRequired, "spec.hosts"}.
type wantErr struct {
	Type  field.ErrorType
	Field string
}

// expectErrors compares errs with want, ignoring order.
func expectErrors(t *testing.T, errs field.ErrorList, want ...wantErr) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	exp := make([]string, 0, len(want))
	for _, w := range want {
		exp = append(exp, string(w.Type)+" "+w.Field)
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("errors:\n  got  %q\n  want %q\nfull: %v", got, exp, errs)
	}
}

func required(f string) wantErr  { return wantErr{field.ErrorTypeRequired, f} }
func invalid(f string) wantErr   { return wantErr{field.ErrorTypeInvalid, f} }
func duplicate(f string) wantErr { return wantErr{field.ErrorTypeDuplicate, f} }
func forbidden(f string) wantErr { return wantErr{field.ErrorTypeForbidden, f} }
func notSupported(f string) wantErr {
	return wantErr{field.ErrorTypeNotSupported, f}
}

func i32(v int32) *int32                        { return &v }
func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
func object(s string) traffic.JSONObject        { return traffic.JSONObject{Raw: []byte(s)} }
func value(s string) *traffic.JSONValue         { return &traffic.JSONValue{Raw: []byte(s)} }

// validFAP uses every part of the spec, each in a valid way.
func validFAP() *traffic.FederatedAccessPoint {
	gateway := object(`{"selector":{"istio":"ingressgateway"}}`)
	return &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: []string{"shop.example.com", "*.shop.example.com"},
			Placement: &traffic.Placement{
				Clusters:        []traffic.ClusterReference{{Name: "east-1"}, {Name: "west-1"}},
				ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
				Zones:           []string{"zone-a", "zone-b"},
			},
			Template: traffic.AccessPointTemplate{
				Gateway: &gateway,
				VirtualServices: []traffic.NamedTemplate{
					{Name: "web", Spec: object(`{"hosts":["shop.example.com"]}`)},
					{Name: "api", Spec: object(`{"hosts":["api.shop.example.com"]}`)},
				},
				// The same name in another list is fine.
				DestinationRules: []traffic.NamedTemplate{{Name: "web", Spec: object(`{"host":"web"}`)}},
				ServiceEntries:   []traffic.NamedTemplate{{Name: "ext", Spec: object(`{"hosts":["ext.example.com"]}`)}},
				WorkloadEntries:  []traffic.NamedTemplate{{Name: "vm-1", Spec: object(`{"address":"10.0.0.1"}`)}},
				AuthorizationPolicies: []traffic.NamedTemplate{
					{Name: "deny-admin", Spec: object(`{"action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin"]}}]}]}`)}},
				RequestAuthentications: []traffic.NamedTemplate{{Name: "jwt", Spec: object(`{"jwtRules":[{"issuer":"https://issuer"}]}`)}},
				Telemetries:            []traffic.NamedTemplate{{Name: "logs", Spec: object(`{"accessLogging":[{}]}`)}},
			},
			Overrides: []traffic.ClusterOverride{
				{ClusterName: "east-1", ClusterOverrides: []traffic.OverridePatch{
					{Op: traffic.OverrideReplace, Path: "/virtualServices/0/spec/http/0/timeout", Value: value(`"5s"`)},
					{Op: traffic.OverrideAdd, Path: "/destinationRules/0/spec/trafficPolicy", Value: value(`{}`)},
					{Op: traffic.OverrideRemove, Path: "/gateway/servers/0"},
				}},
				{ClusterName: "west-1", ClusterOverrides: []traffic.OverridePatch{
					{Op: traffic.OverrideReplace, Path: "/gateway/servers/0/port/number", Value: value(`8443`)},
				}},
			},
			LoadBalancer: &traffic.LoadBalancerSpec{
				Pool:    "public",
				Address: "203.0.113.10",
				Ports: []traffic.Port{
					{Name: "http", Port: 80, Protocol: traffic.ProtocolTCP},
					{Name: "https", Port: 443, Protocol: traffic.ProtocolTCP},
					{Name: "quic", Port: 443, Protocol: traffic.ProtocolUDP},
				},
				CrossZone: &traffic.CrossZone{LocalWeight: i32(99), RemoteWeight: i32(1), RemoteZones: []string{"zone-b"}},
				HealthCheck: &traffic.HealthCheck{
					Type: traffic.HealthCheckHTTP, Port: 15021, Path: "/healthz/ready",
					Interval: duration(2 * time.Second), Timeout: duration(time.Second),
					HealthyThreshold: i32(2), UnhealthyThreshold: i32(2),
				},
			},
			TLS: &traffic.TLSSpec{IssuerRef: traffic.LocalReference{Name: "letsencrypt"}, Mode: traffic.TLSModeSimple},
			Rollout: &traffic.RolloutSpec{Strategy: traffic.RolloutStaged, Stages: []traffic.RolloutStage{
				{Name: "canary", Clusters: []traffic.ClusterReference{{Name: "east-1"}}, Pause: true},
				{Name: "ring-1", ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ring": "1"}}, SoakSeconds: 60},
				{Name: "rest", Count: i32(2), Zones: []string{"zone-a"}},
			}, AutoRollback: true, RevisionHistoryLimit: i32(5)},
		},
	}
}

type fapTest struct {
	name   string
	mutate func(*traffic.FederatedAccessPoint)
	want   []wantErr
}

func runFAPTests(t *testing.T, tests []fapTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fap := validFAP()
			tt.mutate(fap)
			expectErrors(t, ValidateFederatedAccessPoint(fap), tt.want...)
		})
	}
}

func TestValidateFederatedAccessPointMinimal(t *testing.T) {
	fap := &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec:       traffic.FederatedAccessPointSpec{Hosts: []string{"shop.example.com"}},
	}
	expectErrors(t, ValidateFederatedAccessPoint(fap))
	expectErrors(t, ValidateFederatedAccessPoint(validFAP()))
}

func TestValidateFederatedAccessPointMetadata(t *testing.T) {
	runFAPTests(t, []fapTest{
		{
			name:   "namespaced",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Namespace = "" },
			want:   []wantErr{required("metadata.namespace")},
		},
		{
			name:   "name must be a DNS subdomain",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Name = "Web_1" },
			want:   []wantErr{invalid("metadata.name")},
		},
	})
}

func TestValidateFederatedAccessPointHosts(t *testing.T) {
	runFAPTests(t, []fapTest{
		{
			name:   "hosts required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = nil },
			want:   []wantErr{required("spec.hosts")},
		},
		{
			name:   "hosts must not be empty",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = []string{} },
			want:   []wantErr{required("spec.hosts")},
		},
		{
			name:   "wildcard",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = []string{"*.example.com"} },
		},
		{
			name:   "deep name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = []string{"a.b.c.example.co.uk"} },
		},
		{
			name:   "* alone",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = []string{"*"} },
			want:   []wantErr{invalid("spec.hosts[0]")},
		},
		{
			name:   "no dot",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = []string{"example"} },
			want:   []wantErr{invalid("spec.hosts[0]")},
		},
		{
			name:   "wildcard in the middle",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts[1] = "shop.*.example.com" },
			want:   []wantErr{invalid("spec.hosts[1]")},
		},
		{
			name:   "partial wildcard",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts[1] = "*shop.example.com" },
			want:   []wantErr{invalid("spec.hosts[1]")},
		},
		{
			name:   "upper case",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts[0] = "Shop.example.com" },
			want:   []wantErr{invalid("spec.hosts[0]")},
		},
		{
			name:   "underscore",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts[0] = "my_shop.example.com" },
			want:   []wantErr{invalid("spec.hosts[0]")},
		},
		{
			name:   "empty host",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts[0] = "" },
			want:   []wantErr{invalid("spec.hosts[0]")},
		},
		{
			name:   "URL instead of a name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts[0] = "https://shop.example.com" },
			want:   []wantErr{invalid("spec.hosts[0]")},
		},
		{
			name:   "duplicate",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = append(f.Spec.Hosts, "shop.example.com") },
			want:   []wantErr{duplicate("spec.hosts[2]")},
		},
	})
}

func TestValidateFederatedAccessPointPlacement(t *testing.T) {
	runFAPTests(t, []fapTest{
		{name: "no placement: every cluster", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement = nil }},
		{name: "empty placement", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement = &traffic.Placement{} }},
		{
			name:   "empty cluster list selects nothing",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Clusters = []traffic.ClusterReference{} },
		},
		{
			name:   "cluster name of 47 characters",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Clusters[0].Name = strings.Repeat("c", 47) },
		},
		{
			name:   "cluster name required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Clusters[0].Name = "" },
			want:   []wantErr{required("spec.placement.clusters[0].name")},
		},
		{
			name:   "cluster name must be a member cluster name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Clusters[1].Name = "west.1" },
			want:   []wantErr{invalid("spec.placement.clusters[1].name")},
		},
		{
			name:   "cluster name of 48 characters",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Clusters[0].Name = strings.Repeat("c", 48) },
			want:   []wantErr{invalid("spec.placement.clusters[0].name")},
		},
		{
			name:   "duplicate cluster",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Clusters[1].Name = "east-1" },
			want:   []wantErr{duplicate("spec.placement.clusters[1].name")},
		},
		{
			name: "selector with expressions",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.ClusterSelector.MatchExpressions = []metav1.LabelSelectorRequirement{
					{Key: "topology.portico.dev/region", Operator: metav1.LabelSelectorOpIn, Values: []string{"eu"}},
				}
			},
		},
		{
			name: "selector label key",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.ClusterSelector.MatchLabels = map[string]string{"bad key": "x"}
			},
			want: []wantErr{invalid("spec.placement.clusterSelector.matchLabels")},
		},
		{
			name: "selector operator",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.ClusterSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Like", Values: []string{"p"}}}
			},
			want: []wantErr{invalid("spec.placement.clusterSelector.matchExpressions[0].operator")},
		},
		{
			name: "selector In without values",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.ClusterSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn}}
			},
			want: []wantErr{required("spec.placement.clusterSelector.matchExpressions[0].values")},
		},
		{
			name:   "zone required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Zones[1] = "" },
			want:   []wantErr{required("spec.placement.zones[1]")},
		},
		{
			name:   "zone must be a label value",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Zones[0] = "zone a" },
			want:   []wantErr{invalid("spec.placement.zones[0]")},
		},
		{
			name:   "duplicate zone",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Zones[1] = "zone-a" },
			want:   []wantErr{duplicate("spec.placement.zones[1]")},
		},
		{
			name: "follow a FederatedDeployment",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.Follow = &traffic.FollowReference{APIVersion: "types.kubefed.io/v1beta1", Kind: "FederatedDeployment", Name: "shop", Propagated: true}
			},
		},
		{
			name:   "follow needs apiVersion, kind and name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Placement.Follow = &traffic.FollowReference{} },
			want: []wantErr{required("spec.placement.follow.apiVersion"), required("spec.placement.follow.kind"),
				required("spec.placement.follow.name")},
		},
		{
			name: "follow of a core kind or a bad name",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.Follow = &traffic.FollowReference{APIVersion: "v1", Kind: "Federated Deployment", Name: "Shop_1"}
			},
			want: []wantErr{invalid("spec.placement.follow.apiVersion"), invalid("spec.placement.follow.kind"),
				invalid("spec.placement.follow.name")},
		},
		{
			name: "follow apiVersion with a bad group",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Placement.Follow = &traffic.FollowReference{APIVersion: "a/b/c", Kind: "FederatedDeployment", Name: "shop"}
			},
			want: []wantErr{invalid("spec.placement.follow.apiVersion")},
		},
	})
}

func TestValidateFederatedAccessPointTemplate(t *testing.T) {
	runFAPTests(t, []fapTest{
		{name: "no template", mutate: func(f *traffic.FederatedAccessPoint) {
			f.Spec.Template = traffic.AccessPointTemplate{}
			f.Spec.Overrides = nil
		}},
		{
			name:   "name required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Template.VirtualServices[1].Name = "" },
			want:   []wantErr{required("spec.template.virtualServices[1].name")},
		},
		{
			name:   "name must be a DNS subdomain",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Template.DestinationRules[0].Name = "Web_DR" },
			want:   []wantErr{invalid("spec.template.destinationRules[0].name")},
		},
		{
			name:   "duplicate name in a list",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Template.VirtualServices[1].Name = "web" },
			want:   []wantErr{duplicate("spec.template.virtualServices[1].name")},
		},
		{
			name: "duplicate name in serviceEntries",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.ServiceEntries = append(f.Spec.Template.ServiceEntries, f.Spec.Template.ServiceEntries[0])
			},
			want: []wantErr{duplicate("spec.template.serviceEntries[1].name")},
		},
		{
			name: "duplicate name in authorizationPolicies",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.AuthorizationPolicies = append(f.Spec.Template.AuthorizationPolicies, f.Spec.Template.AuthorizationPolicies[0])
			},
			want: []wantErr{duplicate("spec.template.authorizationPolicies[1].name")},
		},
		{
			name:   "policy name required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Template.Telemetries[0].Name = "" },
			want:   []wantErr{required("spec.template.telemetries[0].name")},
		},
		{
			name: "policy spec required",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.RequestAuthentications[0].Spec = traffic.JSONObject{}
			},
			want: []wantErr{required("spec.template.requestAuthentications[0].spec")},
		},
		{
			name:   "spec required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Template.WorkloadEntries[0].Spec = traffic.JSONObject{} },
			want:   []wantErr{required("spec.template.workloadEntries[0].spec")},
		},
		{
			name:   "empty spec object is present",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Template.WorkloadEntries[0].Spec = object(`{}`) },
		},
	})
}

// gatewayAPIFAP is validFAP with Gateway API objects for its gateway.
func gatewayAPIFAP(f *traffic.FederatedAccessPoint) {
	f.Spec.Template.Gateway, f.Spec.Template.VirtualServices = nil, nil
	f.Spec.Overrides = []traffic.ClusterOverride{{ClusterName: "east-1", ClusterOverrides: []traffic.OverridePatch{
		{Op: traffic.OverrideReplace, Path: "/gatewayAPI/gateways/0/spec/listeners/0/port", Value: value(`8080`)},
		{Op: traffic.OverrideAdd, Path: "/gatewayAPI/httpRoutes/0/spec/hostnames", Value: value(`["shop.example.com"]`)},
	}}}
	f.Spec.Template.GatewayAPI = &traffic.GatewayAPITemplate{
		Gateways:   []traffic.NamedTemplate{{Name: "web", Spec: object(`{"gatewayClassName":"istio"}`)}},
		HTTPRoutes: []traffic.NamedTemplate{{Name: "web", Spec: object(`{}`)}, {Name: "api", Spec: object(`{}`)}},
		GRPCRoutes: []traffic.NamedTemplate{{Name: "web", Spec: object(`{}`)}},
		TLSRoutes:  []traffic.NamedTemplate{{Name: "db", Spec: object(`{}`)}},
		TCPRoutes:  []traffic.NamedTemplate{{Name: "legacy", Spec: object(`{}`)}},
	}
}

func TestValidateFederatedAccessPointGatewayAPI(t *testing.T) {
	runFAPTests(t, []fapTest{
		{name: "Gateway API objects for the gateway", mutate: gatewayAPIFAP},
		{
			name: "an Istio gateway too",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				gw := object(`{}`)
				f.Spec.Template.Gateway = &gw
			},
			want: []wantErr{forbidden("spec.template.gateway")},
		},
		{
			name: "VirtualServices too",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Template.VirtualServices = []traffic.NamedTemplate{{Name: "web", Spec: object(`{}`)}}
			},
			want: []wantErr{forbidden("spec.template.virtualServices")},
		},
		{
			name: "no Gateway",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Template.GatewayAPI.Gateways = nil
			},
			want: []wantErr{required("spec.template.gatewayAPI.gateways")},
		},
		{
			name: "duplicate route name",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Template.GatewayAPI.HTTPRoutes[1].Name = "web"
			},
			want: []wantErr{duplicate("spec.template.gatewayAPI.httpRoutes[1].name")},
		},
		{
			name: "route name and spec required",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Template.GatewayAPI.TCPRoutes[0] = traffic.NamedTemplate{}
			},
			want: []wantErr{required("spec.template.gatewayAPI.tcpRoutes[0].name"), required("spec.template.gatewayAPI.tcpRoutes[0].spec")},
		},
		{
			name: "Gateway names may not be patched",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Overrides[0].ClusterOverrides[0].Path = "/gatewayAPI/gateways/0/name"
			},
			want: []wantErr{forbidden("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name: "patches go into a list of gatewayAPI",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Overrides[0].ClusterOverrides[0].Path = "/gatewayAPI/udpRoutes/0/spec"
			},
			want: []wantErr{invalid("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name: "too many routes",
			mutate: func(f *traffic.FederatedAccessPoint) {
				gatewayAPIFAP(f)
				f.Spec.Template.GatewayAPI.HTTPRoutes = nil
				for i := range MaxTemplatesPerKind + 1 {
					f.Spec.Template.GatewayAPI.HTTPRoutes = append(f.Spec.Template.GatewayAPI.HTTPRoutes,
						traffic.NamedTemplate{Name: fmt.Sprintf("r%d", i), Spec: object(`{}`)})
				}
			},
			want: []wantErr{{field.ErrorTypeTooMany, "spec.template.gatewayAPI.httpRoutes"}},
		},
	})
}

func TestValidateFederatedAccessPointOverrides(t *testing.T) {
	patch := func(f *traffic.FederatedAccessPoint) *traffic.OverridePatch {
		return &f.Spec.Overrides[0].ClusterOverrides[0]
	}
	runFAPTests(t, []fapTest{
		{
			name:   "cluster name required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides[1].ClusterName = "" },
			want:   []wantErr{required("spec.overrides[1].clusterName")},
		},
		{
			name:   "cluster name must be a member cluster name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides[1].ClusterName = strings.Repeat("w", 48) },
			want:   []wantErr{invalid("spec.overrides[1].clusterName")},
		},
		{
			name:   "duplicate cluster",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides[1].ClusterName = "east-1" },
			want:   []wantErr{duplicate("spec.overrides[1].clusterName")},
		},
		{
			name:   "duplicate path",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides[0].ClusterOverrides[1].Path = patch(f).Path },
			want:   []wantErr{duplicate("spec.overrides[0].clusterOverrides[1].path")},
		},
		{
			name: "the same path for two clusters",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Overrides[1].ClusterOverrides[0].Path = patch(f).Path
			},
		},
		{
			name:   "op move",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Op = "move" },
			want:   []wantErr{notSupported("spec.overrides[0].clusterOverrides[0].op")},
		},
		{
			name:   "op upper case",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Op = "Replace" },
			want:   []wantErr{notSupported("spec.overrides[0].clusterOverrides[0].op")},
		},
		{
			name:   "op empty (v1alpha1 defaults it)",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Op = "" },
			want:   []wantErr{required("spec.overrides[0].clusterOverrides[0].op")},
		},
		{
			name:   "remove with a value",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides[0].ClusterOverrides[2].Value = value(`1`) },
			want:   []wantErr{forbidden("spec.overrides[0].clusterOverrides[2].value")},
		},
		{
			name: "remove with an empty value",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Overrides[0].ClusterOverrides[2].Value = &traffic.JSONValue{}
			},
		},
		{
			name:   "replace without a value",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Value = nil },
			want:   []wantErr{required("spec.overrides[0].clusterOverrides[0].value")},
		},
		{
			name: "add without a value",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Overrides[0].ClusterOverrides[1].Value = &traffic.JSONValue{}
			},
			want: []wantErr{required("spec.overrides[0].clusterOverrides[1].value")},
		},
		{
			name:   "value of any JSON type",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Value = value(`[1,"a",null]`) },
		},
		{
			name:   "path required",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "" },
			want:   []wantErr{required("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name:   "path must start with /",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "virtualServices/0/spec" },
			want:   []wantErr{invalid("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name:   "path / alone",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "/" },
			want:   []wantErr{notSupported("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name:   "path outside the template lists",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "/loadBalancer/pool" },
			want:   []wantErr{notSupported("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name:   "path names the list with its Go name",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "/VirtualServices/0/spec" },
			want:   []wantErr{notSupported("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name: "every template list",
			mutate: func(f *traffic.FederatedAccessPoint) {
				f.Spec.Overrides[1].ClusterOverrides = []traffic.OverridePatch{
					{Op: traffic.OverrideReplace, Path: "/gateway", Value: value(`{}`)},
					{Op: traffic.OverrideAdd, Path: "/virtualServices/-", Value: value(`{"name":"extra","spec":{}}`)},
					{Op: traffic.OverrideRemove, Path: "/destinationRules/0/spec/trafficPolicy"},
					{Op: traffic.OverrideReplace, Path: "/serviceEntries/0/spec/hosts/0", Value: value(`"b.example.com"`)},
					{Op: traffic.OverrideReplace, Path: "/workloadEntries/0/spec/address", Value: value(`"10.0.0.2"`)},
					{Op: traffic.OverrideReplace, Path: "/authorizationPolicies/0/spec/action", Value: value(`"AUDIT"`)},
					{Op: traffic.OverrideAdd, Path: "/requestAuthentications/0/spec/selector", Value: value(`{"matchLabels":{"app":"a"}}`)},
					{Op: traffic.OverrideRemove, Path: "/telemetries/0"},
				}
			},
		},
		{
			name:   "policy names may not be patched",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "/authorizationPolicies/0/name" },
			want:   []wantErr{forbidden("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name:   "names may not be patched",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "/virtualServices/0/name" },
			want:   []wantErr{forbidden("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name: "names may not be removed",
			mutate: func(f *traffic.FederatedAccessPoint) {
				*patch(f) = traffic.OverridePatch{Op: "remove", Path: "/workloadEntries/0/name"}
			},
			want: []wantErr{forbidden("spec.overrides[0].clusterOverrides[0].path")},
		},
		{
			name:   "a spec field called name may be patched",
			mutate: func(f *traffic.FederatedAccessPoint) { patch(f).Path = "/serviceEntries/0/spec/ports/0/name" },
		},
	})
}

func TestValidateFederatedAccessPointLoadBalancer(t *testing.T) {
	lb := func(f *traffic.FederatedAccessPoint) *traffic.LoadBalancerSpec { return f.Spec.LoadBalancer }
	runFAPTests(t, []fapTest{
		{name: "no load balancer", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.LoadBalancer = nil }},
		{name: "pool only", mutate: func(f *traffic.FederatedAccessPoint) {
			f.Spec.LoadBalancer = &traffic.LoadBalancerSpec{Pool: "public"}
		}},
		{
			name:   "pool required",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Pool = "" },
			want:   []wantErr{required("spec.loadBalancer.pool")},
		},
		{
			name:   "pool must be a name",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Pool = "Public Pool" },
			want:   []wantErr{invalid("spec.loadBalancer.pool")},
		},
		{
			name:   "address must be IPv4",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Address = "2001:db8::10" },
			want:   []wantErr{invalid("spec.loadBalancer.address")},
		},
		{
			name:   "address must be an address",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Address = "203.0.113.0/24" },
			want:   []wantErr{invalid("spec.loadBalancer.address")},
		},
		{
			name:   "address is optional",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Address = "" },
		},
		{
			name: "ports 1 and 65535",
			mutate: func(f *traffic.FederatedAccessPoint) {
				lb(f).Ports = []traffic.Port{{Port: 1, Protocol: "TCP"}, {Port: 65535, Protocol: "UDP"}}
			},
		},
		{
			name:   "port 0",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[0].Port = 0 },
			want:   []wantErr{invalid("spec.loadBalancer.ports[0].port")},
		},
		{
			name:   "port 65536",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[1].Port = 65536 },
			want:   []wantErr{invalid("spec.loadBalancer.ports[1].port")},
		},
		{
			name:   "negative port",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[1].Port = -443 },
			want:   []wantErr{invalid("spec.loadBalancer.ports[1].port")},
		},
		{
			name:   "duplicate name",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[2].Name = "https" },
			want:   []wantErr{duplicate("spec.loadBalancer.ports[2].name")},
		},
		{
			name:   "invalid name",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[0].Name = "http_80" },
			want:   []wantErr{invalid("spec.loadBalancer.ports[0].name")},
		},
		{
			name: "unnamed ports",
			mutate: func(f *traffic.FederatedAccessPoint) {
				for i := range lb(f).Ports {
					lb(f).Ports[i].Name = ""
				}
			},
		},
		{
			name:   "duplicate port and protocol",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[2].Protocol = traffic.ProtocolTCP },
			want:   []wantErr{duplicate("spec.loadBalancer.ports[2].port")},
		},
		{
			name:   "protocol SCTP",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[0].Protocol = "SCTP" },
			want:   []wantErr{notSupported("spec.loadBalancer.ports[0].protocol")},
		},
		{
			name:   "protocol lower case",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[0].Protocol = "tcp" },
			want:   []wantErr{notSupported("spec.loadBalancer.ports[0].protocol")},
		},
		{
			name:   "protocol empty (v1alpha1 defaults it)",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).Ports[0].Protocol = "" },
			want:   []wantErr{required("spec.loadBalancer.ports[0].protocol")},
		},
		{
			name: "crossZone weight bounds",
			mutate: func(f *traffic.FederatedAccessPoint) {
				lb(f).CrossZone.LocalWeight, lb(f).CrossZone.RemoteWeight = i32(65535), i32(0)
			},
		},
		{
			name:   "crossZone localWeight negative",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.LocalWeight = i32(-1) },
			want:   []wantErr{invalid("spec.loadBalancer.crossZone.localWeight")},
		},
		{
			name:   "crossZone remoteWeight above 65535",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.RemoteWeight = i32(65536) },
			want:   []wantErr{invalid("spec.loadBalancer.crossZone.remoteWeight")},
		},
		{
			name: "crossZone both weights 0",
			mutate: func(f *traffic.FederatedAccessPoint) {
				lb(f).CrossZone.LocalWeight, lb(f).CrossZone.RemoteWeight = i32(0), i32(0)
			},
			want: []wantErr{invalid("spec.loadBalancer.crossZone")},
		},
		{
			name:   "crossZone remote zone must be a label value",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.RemoteZones = []string{"zone/b"} },
			want:   []wantErr{invalid("spec.loadBalancer.crossZone.remoteZones[0]")},
		},
		{
			name:   "crossZone duplicate remote zone",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.RemoteZones = []string{"zone-b", "zone-b"} },
			want:   []wantErr{duplicate("spec.loadBalancer.crossZone.remoteZones[1]")},
		},
		{
			name:   "crossZone drained zones",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.DrainedZones = []string{"zone-a", "zone-c"} },
		},
		{
			name:   "crossZone drained zone must be a label value",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.DrainedZones = []string{"zone-a", "zone a"} },
			want:   []wantErr{invalid("spec.loadBalancer.crossZone.drainedZones[1]")},
		},
		{
			name:   "crossZone duplicate drained zone",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).CrossZone.DrainedZones = []string{"zone-a", "zone-a"} },
			want:   []wantErr{duplicate("spec.loadBalancer.crossZone.drainedZones[1]")},
		},
		{
			name: "healthCheck tcp",
			mutate: func(f *traffic.FederatedAccessPoint) {
				lb(f).HealthCheck.Type, lb(f).HealthCheck.Path, lb(f).HealthCheck.Port = traffic.HealthCheckTCP, "", 0
			},
		},
		{
			name:   "healthCheck type",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Type = "grpc" },
			want:   []wantErr{notSupported("spec.loadBalancer.healthCheck.type")},
		},
		{
			name:   "healthCheck type empty (v1alpha1 defaults it)",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Type, lb(f).HealthCheck.Path = "", "" },
			want:   []wantErr{required("spec.loadBalancer.healthCheck.type")},
		},
		{
			name:   "healthCheck port",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Port = 70000 },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.port")},
		},
		{
			name:   "healthCheck http without path",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Path = "" },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.path")},
		},
		{
			name:   "healthCheck http relative path",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Path = "healthz" },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.path")},
		},
		{
			name:   "healthCheck tcp with path",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Type = traffic.HealthCheckTCP },
			want:   []wantErr{forbidden("spec.loadBalancer.healthCheck.path")},
		},
		{
			name: "healthCheck interval 0",
			mutate: func(f *traffic.FederatedAccessPoint) {
				lb(f).HealthCheck.Interval, lb(f).HealthCheck.Timeout = duration(0), nil
			},
			want: []wantErr{invalid("spec.loadBalancer.healthCheck.interval")},
		},
		{
			name:   "healthCheck timeout negative",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Timeout = duration(-time.Second) },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.timeout")},
		},
		{
			name:   "healthCheck timeout equal to interval",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Timeout = duration(2 * time.Second) },
		},
		{
			name:   "healthCheck timeout above interval",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.Timeout = duration(3 * time.Second) },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.timeout")},
		},
		{
			name:   "healthCheck healthyThreshold 0",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.HealthyThreshold = i32(0) },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.healthyThreshold")},
		},
		{
			name:   "healthCheck unhealthyThreshold negative",
			mutate: func(f *traffic.FederatedAccessPoint) { lb(f).HealthCheck.UnhealthyThreshold = i32(-2) },
			want:   []wantErr{invalid("spec.loadBalancer.healthCheck.unhealthyThreshold")},
		},
		{
			name: "healthCheck thresholds 1",
			mutate: func(f *traffic.FederatedAccessPoint) {
				lb(f).HealthCheck.HealthyThreshold, lb(f).HealthCheck.UnhealthyThreshold = i32(1), i32(1)
			},
		},
	})
}

func TestValidateFederatedAccessPointTLS(t *testing.T) {
	runFAPTests(t, []fapTest{
		{name: "no tls", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS = nil }},
		{name: "MUTUAL", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.Mode = traffic.TLSModeMutual }},
		{
			name:   "issuer required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.IssuerRef.Name = "" },
			want:   []wantErr{required("spec.tls.issuerRef.name")},
		},
		{
			name:   "issuer must be a name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.IssuerRef.Name = "Lets_Encrypt" },
			want:   []wantErr{invalid("spec.tls.issuerRef.name")},
		},
		{
			name:   "mode PASSTHROUGH",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.Mode = "PASSTHROUGH" },
			want:   []wantErr{notSupported("spec.tls.mode")},
		},
		{
			name:   "mode empty (v1alpha1 defaults it)",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.Mode = "" },
			want:   []wantErr{required("spec.tls.mode")},
		},
		{name: "secretNamespace istio-system (the old default)", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.SecretNamespace = "istio-system" }},
		{
			name:   "a tenant does not choose where the key goes",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.TLS.SecretNamespace = "kube-system" },
			want:   []wantErr{forbidden("spec.tls.secretNamespace")},
		},
	})
}

func TestValidateFederatedAccessPointLocality(t *testing.T) {
	mode := func(m string) func(*traffic.FederatedAccessPoint) {
		return func(f *traffic.FederatedAccessPoint) { f.Spec.Locality = &traffic.LocalitySpec{Mode: m} }
	}
	runFAPTests(t, []fapTest{
		{name: "no locality", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Locality = nil }},
		{name: "None", mutate: mode(traffic.LocalityNone)},
		{name: "Failover", mutate: mode(traffic.LocalityFailover)},
		{name: "Weighted without a load balancer", mutate: func(f *traffic.FederatedAccessPoint) {
			mode(traffic.LocalityWeighted)(f)
			f.Spec.LoadBalancer = nil
		}},
		{name: "unknown mode", mutate: mode("failover"), want: []wantErr{notSupported("spec.locality.mode")}},
		{name: "mode empty (v1alpha1 defaults it)", mutate: mode(""), want: []wantErr{required("spec.locality.mode")}},
	})
}

func TestValidateFederatedAccessPointRollout(t *testing.T) {
	stage := func(f *traffic.FederatedAccessPoint, i int) *traffic.RolloutStage { return &f.Spec.Rollout.Stages[i] }
	runFAPTests(t, []fapTest{
		{name: "no rollout", mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout = nil }},
		{name: "AllAtOnce", mutate: func(f *traffic.FederatedAccessPoint) {
			f.Spec.Rollout = &traffic.RolloutSpec{Strategy: traffic.RolloutAllAtOnce}
		}},
		{
			name:   "strategy",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout.Strategy = "Canary" },
			want:   []wantErr{notSupported("spec.rollout.strategy"), forbidden("spec.rollout.stages")},
		},
		{
			name:   "strategy empty (v1alpha1 defaults it)",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout = &traffic.RolloutSpec{} },
			want:   []wantErr{required("spec.rollout.strategy")},
		},
		{
			name:   "stages only for Staged",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout.Strategy = traffic.RolloutAllAtOnce },
			want:   []wantErr{forbidden("spec.rollout.stages")},
		},
		{
			name:   "Staged without stages",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout.Stages = nil },
			want:   []wantErr{required("spec.rollout.stages")},
		},
		{
			name:   "a stage without selection takes the rest",
			mutate: func(f *traffic.FederatedAccessPoint) { *stage(f, 2) = traffic.RolloutStage{Name: "rest", Pause: true} },
		},
		{
			name: "selection terms intersect",
			mutate: func(f *traffic.FederatedAccessPoint) {
				stage(f, 0).ClusterSelector, stage(f, 0).Count = &metav1.LabelSelector{}, i32(1)
			},
		},
		{
			name:   "stage name required",
			mutate: func(f *traffic.FederatedAccessPoint) { stage(f, 1).Name = "" },
			want:   []wantErr{required("spec.rollout.stages[1].name")},
		},
		{
			name:   "stage names unique",
			mutate: func(f *traffic.FederatedAccessPoint) { stage(f, 2).Name = "canary" },
			want:   []wantErr{duplicate("spec.rollout.stages[2].name")},
		},
		{
			name:   "stage name is a DNS label",
			mutate: func(f *traffic.FederatedAccessPoint) { stage(f, 2).Name = "Rest Of World" },
			want:   []wantErr{invalid("spec.rollout.stages[2].name")},
		},
		{
			name:   "stage zones",
			mutate: func(f *traffic.FederatedAccessPoint) { stage(f, 2).Zones = []string{"zone-a", "zone-a"} },
			want:   []wantErr{duplicate("spec.rollout.stages[2].zones[1]")},
		},
		{
			name:   "soakSeconds",
			mutate: func(f *traffic.FederatedAccessPoint) { stage(f, 1).SoakSeconds = -1 },
			want:   []wantErr{invalid("spec.rollout.stages[1].soakSeconds")},
		},
		{
			name:   "revisionHistoryLimit",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout.RevisionHistoryLimit = i32(-1) },
			want:   []wantErr{invalid("spec.rollout.revisionHistoryLimit")},
		},
		{
			name:   "stage count 0",
			mutate: func(f *traffic.FederatedAccessPoint) { stage(f, 2).Count = i32(0) },
			want:   []wantErr{invalid("spec.rollout.stages[2].count")},
		},
		{
			name: "stage selector",
			mutate: func(f *traffic.FederatedAccessPoint) {
				stage(f, 1).ClusterSelector.MatchLabels = map[string]string{"ring": "not valid"}
			},
			want: []wantErr{invalid("spec.rollout.stages[1].clusterSelector.matchLabels")},
		},
	})
}

func TestValidateFederatedAccessPointUpdate(t *testing.T) {
	old := validFAP()
	old.ResourceVersion = "7"
	fap := old.DeepCopy()
	fap.Spec.Hosts = []string{"other.example.com"}
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old))

	fap.Spec.Hosts = nil
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old), required("spec.hosts"))

	fap = old.DeepCopy()
	fap.Namespace = "other"
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old), invalid("metadata.namespace"))
}

func condition(typ string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: "Pending", LastTransitionTime: metav1.Now()}
}

func TestValidateStatusConditions(t *testing.T) {
	bad := []metav1.Condition{condition(traffic.ConditionReady), condition(traffic.ConditionReady)}
	good := []metav1.Condition{condition(traffic.AccessPointPlaced), condition(traffic.ConditionReady)}

	fap := validFAP()
	fap.Status.Conditions = good
	expectErrors(t, ValidateFederatedAccessPointStatus(fap))
	fap.Status.Conditions = bad
	expectErrors(t, ValidateFederatedAccessPointStatus(fap), duplicate("status.conditions[1]"))

	pool := validVIPPool()
	pool.Status.Conditions = bad
	expectErrors(t, ValidateVIPPoolStatus(pool), duplicate("status.conditions[1]"))

	vip := validVirtualIP()
	vip.Status.Conditions = []metav1.Condition{condition("")}
	expectErrors(t, ValidateVirtualIPStatus(vip), required("status.conditions[0].type"))

	ns := validNameService()
	ns.Status.Conditions = []metav1.Condition{condition(traffic.NameServicePublished)}
	ns.Status.Conditions[0].Status = "Yes"
	expectErrors(t, ValidateNameServiceStatus(ns), notSupported("status.conditions[0].status"))

	probe := &traffic.ProbeStatus{Conditions: good}
	expectErrors(t, ValidateProbeStatus(probe))
	probe.Conditions = bad
	expectErrors(t, ValidateProbeStatus(probe), duplicate("status.conditions[1]"))
}

func validCAP() *traffic.ClusterAccessPoint {
	return &traffic.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "shop.web", Namespace: "portico-cluster-east-1"},
		Spec: traffic.ClusterAccessPointSpec{
			AccessPointRef: traffic.AccessPointReference{Namespace: "shop", Name: "web", UID: "1234"},
			Revision:       "abc123",
			Manifests: []traffic.JSONObject{
				object(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"shop"},"spec":{}}`),
				object(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"web-tls"},"data":{}}`),
			},
		},
	}
}

func TestValidateClusterAccessPoint(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*traffic.ClusterAccessPoint)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*traffic.ClusterAccessPoint) {}},
		{name: "no manifests", mutate: func(c *traffic.ClusterAccessPoint) { c.Spec.Manifests = nil }},
		{
			name:   "namespaced",
			mutate: func(c *traffic.ClusterAccessPoint) { c.Namespace = "" },
			want:   []wantErr{required("metadata.namespace")},
		},
		{
			name: "apiVersion required",
			mutate: func(c *traffic.ClusterAccessPoint) {
				c.Spec.Manifests[1] = object(`{"kind":"Secret","metadata":{"name":"x"}}`)
			},
			want: []wantErr{required("spec.manifests[1].apiVersion")},
		},
		{
			name: "kind required",
			mutate: func(c *traffic.ClusterAccessPoint) {
				c.Spec.Manifests[0] = object(`{"apiVersion":"v1","metadata":{"name":"x"}}`)
			},
			want: []wantErr{required("spec.manifests[0].kind")},
		},
		{
			name: "metadata.name required",
			mutate: func(c *traffic.ClusterAccessPoint) {
				c.Spec.Manifests[0] = object(`{"apiVersion":"v1","kind":"Secret","metadata":{}}`)
			},
			want: []wantErr{required("spec.manifests[0].metadata.name")},
		},
		{
			name:   "empty object",
			mutate: func(c *traffic.ClusterAccessPoint) { c.Spec.Manifests[0] = object(`{}`) },
			want: []wantErr{
				required("spec.manifests[0].apiVersion"), required("spec.manifests[0].kind"), required("spec.manifests[0].metadata.name"),
			},
		},
		{
			name:   "not an object",
			mutate: func(c *traffic.ClusterAccessPoint) { c.Spec.Manifests[0] = object(`[1]`) },
			want:   []wantErr{invalid("spec.manifests[0]")},
		},
		{
			name:   "empty manifest",
			mutate: func(c *traffic.ClusterAccessPoint) { c.Spec.Manifests[0] = traffic.JSONObject{} },
			want:   []wantErr{invalid("spec.manifests[0]")},
		},
		{
			name: "kind of the wrong type",
			mutate: func(c *traffic.ClusterAccessPoint) {
				c.Spec.Manifests[0] = object(`{"apiVersion":"v1","kind":1,"metadata":{"name":"x"}}`)
			},
			want: []wantErr{invalid("spec.manifests[0]")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCAP()
			tt.mutate(c)
			expectErrors(t, ValidateClusterAccessPoint(c), tt.want...)
		})
	}
}

func TestValidateClusterAccessPointUpdateAndStatus(t *testing.T) {
	old := validCAP()
	old.ResourceVersion = "3"
	c := old.DeepCopy()
	c.Spec.Revision = "def456"
	expectErrors(t, ValidateClusterAccessPointUpdate(c, old))
	c.Spec.Manifests = append(c.Spec.Manifests, object(`{}`))
	expectErrors(t, ValidateClusterAccessPointUpdate(c, old),
		required("spec.manifests[2].apiVersion"), required("spec.manifests[2].kind"), required("spec.manifests[2].metadata.name"))

	c = validCAP()
	c.Status.Conditions = []metav1.Condition{condition(traffic.ClusterAccessPointApplied), condition(traffic.ClusterAccessPointDegraded)}
	c.Status.Gateway.Endpoints = []traffic.GatewayEndpoint{{Address: "10.1.2.3", Ready: true}, {Address: "fd00::3"}}
	expectErrors(t, ValidateClusterAccessPointStatus(c))
	c.Status.Gateway.Endpoints[1].Address = "gw.example.com"
	expectErrors(t, ValidateClusterAccessPointStatus(c), invalid("status.gateway.endpoints[1].address"))
}

func validVIPPool() *traffic.VIPPool {
	return &traffic.VIPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "public"},
		Spec: traffic.VIPPoolSpec{
			CIDRs: []string{"203.0.113.0/25", "203.0.113.128-203.0.113.200", "198.51.100.7/32"},
			Zones: []string{"zone-a", "zone-b"},
		},
	}
}

func TestValidateVIPPool(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*traffic.VIPPool)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*traffic.VIPPool) {}},
		{name: "adjacent ranges", mutate: func(p *traffic.VIPPool) {
			p.Spec.CIDRs = []string{"203.0.113.0/25", "203.0.113.128/25"}
		}},
		{
			name:   "cluster-scoped",
			mutate: func(p *traffic.VIPPool) { p.Namespace = "default" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "cidrs required",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs = nil },
			want:   []wantErr{required("spec.cidrs")},
		},
		{
			name:   "invalid CIDR",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs[0] = "203.0.113.0/33" },
			want:   []wantErr{invalid("spec.cidrs[0]")},
		},
		{
			name:   "IPv6 CIDR",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs[2] = "2001:db8::/64" },
			want:   []wantErr{invalid("spec.cidrs[2]")},
		},
		{
			name:   "host bits set",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs[0] = "203.0.113.1/25" },
			want:   []wantErr{invalid("spec.cidrs[0]")},
		},
		{
			name:   "range reversed",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs[1] = "203.0.113.200-203.0.113.128" },
			want:   []wantErr{invalid("spec.cidrs[1]")},
		},
		{
			name:   "overlapping CIDRs",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs[2] = "203.0.113.64/26" },
			want:   []wantErr{invalid("spec.cidrs[2]")},
		},
		{
			name:   "range overlapping a CIDR",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs[1] = "203.0.113.127-203.0.113.200" },
			want:   []wantErr{invalid("spec.cidrs[1]")},
		},
		{
			name:   "the same CIDR twice",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs = append(p.Spec.CIDRs, "198.51.100.7/32") },
			want:   []wantErr{invalid("spec.cidrs[3]")},
		},
		{
			name:   "overlapping two earlier ranges",
			mutate: func(p *traffic.VIPPool) { p.Spec.CIDRs = append(p.Spec.CIDRs, "203.0.113.0/24") },
			want:   []wantErr{invalid("spec.cidrs[3]"), invalid("spec.cidrs[3]")},
		},
		{
			name:   "zone must be a label value",
			mutate: func(p *traffic.VIPPool) { p.Spec.Zones[0] = "zone a" },
			want:   []wantErr{invalid("spec.zones[0]")},
		},
		{
			name:   "duplicate zone",
			mutate: func(p *traffic.VIPPool) { p.Spec.Zones[1] = "zone-a" },
			want:   []wantErr{duplicate("spec.zones[1]")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validVIPPool()
			tt.mutate(p)
			expectErrors(t, ValidateVIPPool(p), tt.want...)
		})
	}
}

// The overlap message must name the CIDR that is overlapped, also when an earlier
// entry of the list did not parse.
func TestValidateVIPPoolOverlapNamesTheOverlappedEntry(t *testing.T) {
	p := validVIPPool()
	p.Spec.CIDRs = []string{"bogus", "203.0.113.0/24", "203.0.113.0/25"}
	errs := ValidateVIPPool(p)
	expectErrors(t, errs, invalid("spec.cidrs[0]"), invalid("spec.cidrs[2]"))
	for _, e := range errs {
		if e.Field == "spec.cidrs[2]" && !strings.Contains(e.Detail, "overlaps 203.0.113.0/24") {
			t.Errorf("spec.cidrs[2]: detail %q does not name 203.0.113.0/24", e.Detail)
		}
	}
}

func TestValidateVIPPoolUpdateAndRanges(t *testing.T) {
	old := validVIPPool()
	old.ResourceVersion = "1"
	p := old.DeepCopy()
	p.Spec.CIDRs = append(p.Spec.CIDRs, "192.0.2.0/24")
	expectErrors(t, ValidateVIPPoolUpdate(p, old))
	p.Spec.CIDRs = nil
	expectErrors(t, ValidateVIPPoolUpdate(p, old), required("spec.cidrs"))

	p = validVIPPool()
	p.Spec.CIDRs = append(p.Spec.CIDRs, "bogus")
	ranges := PoolRanges(p)
	if len(ranges) != 3 || ranges[1].String() != "203.0.113.128-203.0.113.200" {
		t.Errorf("PoolRanges = %v", ranges)
	}
}

func validVirtualIP() *traffic.VirtualIP {
	return &traffic.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "203.0.113.10"},
		Spec: traffic.VirtualIPSpec{
			Address:    "203.0.113.10",
			Pool:       "public",
			Owner:      &traffic.AccessPointReference{Namespace: "shop", Name: "web", UID: "1234"},
			Ports:      []traffic.Port{{Name: "https", Port: 443, Protocol: traffic.ProtocolTCP}},
			Scheduler:  traffic.SchedulerMaglev,
			Forwarding: traffic.ForwardingTunnel,
			Backends: []traffic.Backend{
				{Address: "10.1.0.10", Cluster: "east-1", Zone: "zone-a"},
				{Address: "10.2.0.10", Cluster: "west-1", Zone: "zone-b"},
			},
			CrossZone:   &traffic.CrossZone{LocalWeight: i32(99), RemoteWeight: i32(1)},
			HealthCheck: &traffic.HealthCheck{Type: traffic.HealthCheckTCP, Interval: duration(2 * time.Second), Timeout: duration(time.Second)},
			Groups:      []string{"zone-a", "zone-b"},
		},
	}
}

func TestValidateVirtualIP(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*traffic.VirtualIP)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*traffic.VirtualIP) {}},
		{name: "minimal", mutate: func(v *traffic.VirtualIP) {
			v.Spec = traffic.VirtualIPSpec{Address: v.Name, Pool: "public", Scheduler: "sh", Forwarding: "route"}
		}},
		{
			name:   "name must equal spec.address",
			mutate: func(v *traffic.VirtualIP) { v.Name = "203.0.113.11" },
			want:   []wantErr{invalid("metadata.name")},
		},
		{
			name:   "cluster-scoped",
			mutate: func(v *traffic.VirtualIP) { v.Namespace = "default" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "address must be IPv4",
			mutate: func(v *traffic.VirtualIP) { v.Name, v.Spec.Address = "2001-db8--10", "2001:db8::10" },
			want:   []wantErr{invalid("spec.address")},
		},
		{
			name:   "address required",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Address = "" },
			want:   []wantErr{invalid("spec.address")},
		},
		{
			name:   "pool required",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Pool = "" },
			want:   []wantErr{required("spec.pool")},
		},
		{
			name: "ports are checked",
			mutate: func(v *traffic.VirtualIP) {
				v.Spec.Ports = append(v.Spec.Ports, traffic.Port{Port: 443, Protocol: "TCP"})
			},
			want: []wantErr{duplicate("spec.ports[1].port")},
		},
		{
			name:   "scheduler",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Scheduler = "maglev" },
			want:   []wantErr{notSupported("spec.scheduler")},
		},
		{
			name:   "scheduler empty (v1alpha1 defaults it)",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Scheduler = "" },
			want:   []wantErr{required("spec.scheduler")},
		},
		{
			name:   "forwarding",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Forwarding = "masq" },
			want:   []wantErr{notSupported("spec.forwarding")},
		},
		{
			name:   "forwarding empty (v1alpha1 defaults it)",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Forwarding = "" },
			want:   []wantErr{required("spec.forwarding")},
		},
		{
			name:   "backend address",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Backends[1].Address = "gw.example.com" },
			want:   []wantErr{invalid("spec.backends[1].address")},
		},
		{
			name:   "duplicate backend",
			mutate: func(v *traffic.VirtualIP) { v.Spec.Backends[1].Address = "10.1.0.10" },
			want:   []wantErr{duplicate("spec.backends[1].address")},
		},
		{
			name: "crossZone is checked",
			mutate: func(v *traffic.VirtualIP) {
				v.Spec.CrossZone.LocalWeight = i32(0)
				v.Spec.CrossZone.RemoteWeight = i32(0)
			},
			want: []wantErr{invalid("spec.crossZone")},
		},
		{
			name:   "healthCheck is checked",
			mutate: func(v *traffic.VirtualIP) { v.Spec.HealthCheck.Type = "icmp" },
			want:   []wantErr{notSupported("spec.healthCheck.type")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := validVirtualIP()
			tt.mutate(v)
			expectErrors(t, ValidateVirtualIP(v), tt.want...)
		})
	}
}

func TestValidateVirtualIPUpdate(t *testing.T) {
	old := validVirtualIP()
	old.ResourceVersion = "5"

	v := old.DeepCopy()
	v.Spec.Backends = v.Spec.Backends[:1]
	v.Spec.Groups = nil
	expectErrors(t, ValidateVirtualIPUpdate(v, old))

	v = old.DeepCopy()
	v.Spec.Address = "203.0.113.11"
	expectErrors(t, ValidateVirtualIPUpdate(v, old), invalid("spec.address"), invalid("metadata.name"))

	v = old.DeepCopy()
	v.Spec.Pool = "private"
	expectErrors(t, ValidateVirtualIPUpdate(v, old), invalid("spec.pool"))
}

func validNameService() *traffic.NameService {
	return &traffic.NameService{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "shop"},
		Spec: traffic.NameServiceSpec{
			FQDN:        "shop.example.com",
			TTL:         i32(30),
			ProviderRef: traffic.LocalReference{Name: "bind"},
			Target:      traffic.NameServiceTarget{AccessPointRef: &traffic.LocalReference{Name: "web"}},
		},
	}
}

func TestValidateNameService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*traffic.NameService)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*traffic.NameService) {}},
		{name: "addresses", mutate: func(n *traffic.NameService) {
			n.Spec.Target = traffic.NameServiceTarget{Addresses: []string{"203.0.113.10", "2001:db8::10"}}
		}},
		{name: "cname", mutate: func(n *traffic.NameService) {
			n.Spec.Target = traffic.NameServiceTarget{CNAME: "lb.example.net"}
		}},
		{name: "wildcard fqdn", mutate: func(n *traffic.NameService) { n.Spec.FQDN = "*.shop.example.com" }},
		{name: "ttl bounds", mutate: func(n *traffic.NameService) { n.Spec.TTL = i32(1) }},
		{name: "ttl upper bound", mutate: func(n *traffic.NameService) { n.Spec.TTL = i32(604800) }},
		{name: "ttl unset", mutate: func(n *traffic.NameService) { n.Spec.TTL = nil }},
		{
			name:   "namespaced",
			mutate: func(n *traffic.NameService) { n.Namespace = "" },
			want:   []wantErr{required("metadata.namespace")},
		},
		{
			name:   "fqdn required",
			mutate: func(n *traffic.NameService) { n.Spec.FQDN = "" },
			want:   []wantErr{required("spec.fqdn")},
		},
		{
			name:   "fqdn without a dot",
			mutate: func(n *traffic.NameService) { n.Spec.FQDN = "shop" },
			want:   []wantErr{invalid("spec.fqdn")},
		},
		{
			name:   "fqdn with an underscore",
			mutate: func(n *traffic.NameService) { n.Spec.FQDN = "my_shop.example.com" },
			want:   []wantErr{invalid("spec.fqdn")},
		},
		{
			name:   "ttl 0",
			mutate: func(n *traffic.NameService) { n.Spec.TTL = i32(0) },
			want:   []wantErr{invalid("spec.ttl")},
		},
		{
			name:   "ttl above a week",
			mutate: func(n *traffic.NameService) { n.Spec.TTL = i32(604801) },
			want:   []wantErr{invalid("spec.ttl")},
		},
		{
			name:   "provider required",
			mutate: func(n *traffic.NameService) { n.Spec.ProviderRef.Name = "" },
			want:   []wantErr{required("spec.providerRef.name")},
		},
		{
			name:   "no target",
			mutate: func(n *traffic.NameService) { n.Spec.Target = traffic.NameServiceTarget{} },
			want:   []wantErr{invalid("spec.target")},
		},
		{
			name:   "two targets",
			mutate: func(n *traffic.NameService) { n.Spec.Target.CNAME = "lb.example.net" },
			want:   []wantErr{invalid("spec.target")},
		},
		{
			name: "three targets",
			mutate: func(n *traffic.NameService) {
				n.Spec.Target.CNAME, n.Spec.Target.Addresses = "lb.example.net", []string{"203.0.113.10"}
			},
			want: []wantErr{invalid("spec.target")},
		},
		{
			name:   "accessPointRef name required",
			mutate: func(n *traffic.NameService) { n.Spec.Target.AccessPointRef.Name = "" },
			want:   []wantErr{required("spec.target.accessPointRef.name")},
		},
		{
			name: "address must be an IP",
			mutate: func(n *traffic.NameService) {
				n.Spec.Target = traffic.NameServiceTarget{Addresses: []string{"203.0.113.10", "shop.example.com"}}
			},
			want: []wantErr{invalid("spec.target.addresses[1]")},
		},
		{
			name:   "cname must be a DNS name",
			mutate: func(n *traffic.NameService) { n.Spec.Target = traffic.NameServiceTarget{CNAME: "lb"} },
			want:   []wantErr{invalid("spec.target.cname")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := validNameService()
			tt.mutate(n)
			expectErrors(t, ValidateNameService(n), tt.want...)
		})
	}
}

func TestValidateNameServiceUpdate(t *testing.T) {
	old := validNameService()
	old.ResourceVersion = "2"
	n := old.DeepCopy()
	n.Spec.TTL = i32(300)
	expectErrors(t, ValidateNameServiceUpdate(n, old))
	n.Spec.Target.AccessPointRef = nil
	expectErrors(t, ValidateNameServiceUpdate(n, old), invalid("spec.target"))
}

func validDNSProvider() *traffic.DNSProvider {
	return &traffic.DNSProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "bind"},
		Spec: traffic.DNSProviderSpec{RFC2136: &traffic.RFC2136Provider{
			Server:        "192.0.2.53:53",
			Zone:          "example.com.",
			TSIGKeyName:   "portico.",
			TSIGAlgorithm: "hmac-sha256",
			TSIGSecretRef: &traffic.SecretKeyReference{Name: "tsig", Key: "secret"},
		}},
	}
}

func TestValidateDNSProvider(t *testing.T) {
	rfc := func(p *traffic.DNSProvider) *traffic.RFC2136Provider { return p.Spec.RFC2136 }
	tests := []struct {
		name   string
		mutate func(*traffic.DNSProvider)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*traffic.DNSProvider) {}},
		{name: "server by name", mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "ns1.example.com:5353" }},
		{name: "IPv6 server", mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "[2001:db8::53]:53" }},
		{name: "zone without the final dot", mutate: func(p *traffic.DNSProvider) { rfc(p).Zone = "example.com" }},
		{name: "no TSIG", mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGKeyName, rfc(p).TSIGSecretRef = "", nil }},
		{name: "hmac-sha512", mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGAlgorithm = "hmac-sha512" }},
		{
			name:   "cluster-scoped",
			mutate: func(p *traffic.DNSProvider) { p.Namespace = "portico-system" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "provider required",
			mutate: func(p *traffic.DNSProvider) { p.Spec.RFC2136 = nil },
			want:   []wantErr{required("spec.rfc2136")},
		},
		{
			name:   "server without port",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "192.0.2.53" },
			want:   []wantErr{invalid("spec.rfc2136.server")},
		},
		{
			name:   "server without host",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Server = ":53" },
			want:   []wantErr{invalid("spec.rfc2136.server")},
		},
		{
			name:   "server with a path",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "ns1.example.com:53/x" },
			want:   []wantErr{invalid("spec.rfc2136.server")},
		},
		{
			name:   "server with a named port",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "ns1.example.com:domain" },
			want:   []wantErr{invalid("spec.rfc2136.server")},
		},
		{
			name:   "server as URL",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "dns://ns1.example.com:53" },
			want:   []wantErr{invalid("spec.rfc2136.server")},
		},
		{
			name:   "server required",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Server = "" },
			want:   []wantErr{required("spec.rfc2136.server")},
		},
		{
			name:   "zone required",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Zone = "" },
			want:   []wantErr{required("spec.rfc2136.zone")},
		},
		{
			name:   "zone must be a DNS name",
			mutate: func(p *traffic.DNSProvider) { rfc(p).Zone = "example..com" },
			want:   []wantErr{invalid("spec.rfc2136.zone")},
		},
		{
			name:   "tsig key name without secret",
			mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGSecretRef = nil },
			want:   []wantErr{invalid("spec.rfc2136.tsigKeyName")},
		},
		{
			name:   "tsig secret without key name",
			mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGKeyName = "" },
			want:   []wantErr{invalid("spec.rfc2136.tsigKeyName")},
		},
		{
			name:   "tsig secret name required",
			mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGSecretRef.Name = "" },
			want:   []wantErr{required("spec.rfc2136.tsigSecretRef.name")},
		},
		{
			name:   "tsig algorithm",
			mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGAlgorithm = "hmac-sha3" },
			want:   []wantErr{notSupported("spec.rfc2136.tsigAlgorithm")},
		},
		{
			name:   "tsig algorithm empty (v1alpha1 defaults it)",
			mutate: func(p *traffic.DNSProvider) { rfc(p).TSIGAlgorithm = "" },
			want:   []wantErr{required("spec.rfc2136.tsigAlgorithm")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validDNSProvider()
			tt.mutate(p)
			expectErrors(t, ValidateDNSProvider(p), tt.want...)
		})
	}
}

// A port is a number from 1 to 65535.
func TestValidateDNSProviderServerPortRange(t *testing.T) {
	for _, server := range []string{"192.0.2.53:0", "192.0.2.53:65536", "192.0.2.53:99999"} {
		p := validDNSProvider()
		p.Spec.RFC2136.Server = server
		t.Run(server, func(t *testing.T) {
			expectErrors(t, ValidateDNSProvider(p), invalid("spec.rfc2136.server"))
		})
	}
}

func TestValidateDNSProviderUpdate(t *testing.T) {
	old := validDNSProvider()
	old.ResourceVersion = "1"
	p := old.DeepCopy()
	p.Spec.RFC2136.Zone = "example.org"
	expectErrors(t, ValidateDNSProviderUpdate(p, old))
	p.Spec.RFC2136.Zone = ""
	expectErrors(t, ValidateDNSProviderUpdate(p, old), required("spec.rfc2136.zone"))
}

func validACMEIssuer() *traffic.CertificateIssuer {
	return &traffic.CertificateIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "letsencrypt"},
		Spec: traffic.CertificateIssuerSpec{ACME: &traffic.ACMEIssuer{
			Server:              "https://acme-v02.api.letsencrypt.org/directory",
			Email:               "ops@example.com",
			PrivateKeySecretRef: traffic.SecretKeyReference{Name: "acme-account"},
			DNS01:               traffic.DNS01Solver{ProviderRef: traffic.LocalReference{Name: "bind"}},
		}},
	}
}

func TestValidateCertificateIssuer(t *testing.T) {
	ca := &traffic.CAIssuer{SecretRef: traffic.LocalReference{Name: "portico-ca"}}
	tests := []struct {
		name   string
		mutate func(*traffic.CertificateIssuer)
		want   []wantErr
	}{
		{name: "acme", mutate: func(*traffic.CertificateIssuer) {}},
		{name: "ca", mutate: func(ci *traffic.CertificateIssuer) { ci.Spec = traffic.CertificateIssuerSpec{CA: ca} }},
		{name: "plain http ACME server", mutate: func(ci *traffic.CertificateIssuer) {
			ci.Spec.ACME.Server = "http://pebble.portico-system:14000/dir"
		}},
		{
			name:   "cluster-scoped",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Namespace = "portico-system" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "neither ca nor acme",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec = traffic.CertificateIssuerSpec{} },
			want:   []wantErr{invalid("spec")},
		},
		{
			name: "ca duration under a minute",
			mutate: func(ci *traffic.CertificateIssuer) {
				ci.Spec = traffic.CertificateIssuerSpec{CA: &traffic.CAIssuer{SecretRef: ca.SecretRef, Duration: &metav1.Duration{Duration: time.Second}}}
			},
			want: []wantErr{invalid("spec.ca.duration")},
		},
		{
			name:   "acme caBundle not PEM",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.CABundle = []byte("not a certificate") },
			want:   []wantErr{invalid("spec.acme.caBundle")},
		},
		{
			name:   "both ca and acme",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.CA = ca },
			want:   []wantErr{invalid("spec")},
		},
		{
			name: "ca secret required",
			mutate: func(ci *traffic.CertificateIssuer) {
				ci.Spec = traffic.CertificateIssuerSpec{CA: &traffic.CAIssuer{}}
			},
			want: []wantErr{required("spec.ca.secretRef.name")},
		},
		{
			name:   "acme server required",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.Server = "" },
			want:   []wantErr{required("spec.acme.server")},
		},
		{
			name:   "acme server scheme",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.Server = "ftp://acme.example.com/directory" },
			want:   []wantErr{invalid("spec.acme.server")},
		},
		{
			name:   "acme server without scheme",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.Server = "acme.example.com/directory" },
			want:   []wantErr{invalid("spec.acme.server")},
		},
		{
			name:   "acme server without host",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.Server = "https:///directory" },
			want:   []wantErr{invalid("spec.acme.server")},
		},
		{
			name:   "acme account key required",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.PrivateKeySecretRef.Name = "" },
			want:   []wantErr{required("spec.acme.privateKeySecretRef.name")},
		},
		{
			name:   "acme dns01 provider required",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.DNS01.ProviderRef.Name = "" },
			want:   []wantErr{required("spec.acme.dns01.providerRef.name")},
		},
		{
			name:   "acme dns01 provider must be a name",
			mutate: func(ci *traffic.CertificateIssuer) { ci.Spec.ACME.DNS01.ProviderRef.Name = "BIND" },
			want:   []wantErr{invalid("spec.acme.dns01.providerRef.name")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci := validACMEIssuer()
			tt.mutate(ci)
			expectErrors(t, ValidateCertificateIssuer(ci), tt.want...)
		})
	}
}

func TestValidateCertificateIssuerUpdate(t *testing.T) {
	old := validACMEIssuer()
	old.ResourceVersion = "1"
	ci := old.DeepCopy()
	ci.Spec.ACME.Email = "sre@example.com"
	expectErrors(t, ValidateCertificateIssuerUpdate(ci, old))
	ci.Spec.CA = &traffic.CAIssuer{SecretRef: traffic.LocalReference{Name: "ca"}}
	expectErrors(t, ValidateCertificateIssuerUpdate(ci, old), invalid("spec"))
}

func TestValidateHostname(t *testing.T) {
	p := field.NewPath("h")
	for h, ok := range map[string]bool{
		"example.com":           true,
		"*.example.com":         true,
		"a-b.example.io":        true,
		"xn--bcher-kva.example": true,
		"*":                     false,
		"example":               false,
		"*.":                    false,
		"*.*.example.com":       false,
		"example.com.":          false,
		".example.com":          false,
		"-a.example.com":        false,
	} {
		if got := len(ValidateHostname(h, p)) == 0; got != ok {
			t.Errorf("ValidateHostname(%q) ok = %v, want %v", h, got, ok)
		}
	}
}

// A DNS label has at most 63 characters (RFC 1035); such a host can be neither
// published nor put in a certificate.
func TestValidateHostnameLabelLength(t *testing.T) {
	p := field.NewPath("h")
	expectErrors(t, ValidateHostname(strings.Repeat("a", 63)+".example.com", p))
	expectErrors(t, ValidateHostname(strings.Repeat("a", 64)+".example.com", p), invalid("h"))
	expectErrors(t, ValidateHostname("*."+strings.Repeat("a", 64)+".com", p), invalid("h"))
}

// A rollout stage names member clusters like spec.placement does.
func TestValidateRolloutStageClusterNames(t *testing.T) {
	runFAPTests(t, []fapTest{
		{
			name:   "stage cluster name required",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout.Stages[0].Clusters[0].Name = "" },
			want:   []wantErr{required("spec.rollout.stages[0].clusters[0].name")},
		},
		{
			name:   "stage cluster name must be a member cluster name",
			mutate: func(f *traffic.FederatedAccessPoint) { f.Spec.Rollout.Stages[0].Clusters[0].Name = "East_1" },
			want:   []wantErr{invalid("spec.rollout.stages[0].clusters[0].name")},
		},
	})
}
