//go:build integration

package integration

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// An API gateway's policies: admin paths denied, JWTs checked, access logs
// on, all on the gateway workload (no selector in the templates); and one
// policy with a selector of its own, for the application's workloads.
const (
	policyVS = `{"hosts":["api.gwpolicy.example.com"],
	  "http":[{"route":[{"destination":{"host":"api.gwpolicy.svc.cluster.local","port":{"number":8080}}}]}]}`
	policyDR        = `{"host":"api.gwpolicy.svc.cluster.local","trafficPolicy":{"loadBalancer":{"simple":"LEAST_REQUEST"}}}`
	policyDenyAdmin = `{"action":"DENY","rules":[{"to":[{"operation":{"hosts":["api.gwpolicy.example.com"],"paths":["/admin/*"]}}]}]}`
	policyJWT       = `{"jwtRules":[{"issuer":"https://issuer.gwpolicy.example.com","jwksUri":"https://issuer.gwpolicy.example.com/keys","forwardOriginalToken":true}]}`
	policyLogs      = `{"accessLogging":[{"providers":[{"name":"envoy"}]}],"tracing":[{"randomSamplingPercentage":10}]}`
	// The member-agent applies a spec as the template writes it: action
	// ALLOW, Istio's default, included.
	policyAppOnly = `{"selector":{"matchLabels":{"app":"api"}},"action":"ALLOW","rules":[{"from":[{"source":{"namespaces":["istio-system"]}}]}]}`
	// The gateway workload's labels in the member clusters (the default
	// Gateway selector istio: ingressgateway).
	gatewayMatchLabels = `{"matchLabels":{"istio":"ingressgateway"}}`
)

// policyObject is one policy of the access point in member clusters: where
// it is, the spec it must have there, and a valid edit of it.
type policyObject struct {
	gvr             schema.GroupVersionResource
	namespace, name string
	spec            string
	editPath        []string
	editValue       any
}

// withGatewaySelector is a policy spec with the gateway workload's selector.
func withGatewaySelector(spec string) string {
	return `{"selector":` + gatewayMatchLabels + `,` + strings.TrimPrefix(spec, "{")
}

var (
	apGVR  = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}
	raGVR  = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "requestauthentications"}
	telGVR = schema.GroupVersionResource{Group: "telemetry.istio.io", Version: "v1", Resource: "telemetries"}

	policyObjects = []policyObject{
		{apGVR, localfed.IstioNamespace, "gwpolicy.api.deny-admin", withGatewaySelector(policyDenyAdmin), []string{"action"}, "AUDIT"},
		{raGVR, localfed.IstioNamespace, "gwpolicy.api.jwt", withGatewaySelector(policyJWT), []string{"selector", "matchLabels", "istio"}, "other"},
		{telGVR, localfed.IstioNamespace, "gwpolicy.api.logs", withGatewaySelector(policyLogs), []string{"tracing"}, []any{}},
		{apGVR, "gwpolicy", "app-only", policyAppOnly, []string{"selector", "matchLabels", "app"}, "other"},
	}
)

// TestGatewayPolicies: an access point's AuthorizationPolicies,
// RequestAuthentications and Telemetries reach both member clusters; those
// without a scope of their own apply to the gateway workload (the Gateway's
// selector, in the gateway namespace istio-system), the one with a selector
// stays in the access point's namespace as written. An invalid
// AuthorizationPolicy is rejected at write time naming the field. An edit or
// a deletion in a member cluster is repaired; removing the policies from the
// template prunes them from both clusters. The rendered VirtualService is
// bound to the rendered Gateway and exported to the gateway namespace only,
// the DestinationRule to the access point's and the gateway's namespaces.
func TestGatewayPolicies(t *testing.T) {
	zones := map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"}
	f := newFederation(t, zones)
	ctx := context.Background()
	waitAllAvailable(t, f)
	const ns, name = "gwpolicy", "api"
	createHubNamespace(t, f.hub, ns)

	nt := func(name, spec string) traffic.NamedTemplate {
		return traffic.NamedTemplate{Name: name, Spec: traffic.JSONObject{Raw: []byte(spec)}}
	}
	fap := &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: []string{"api.gwpolicy.example.com"},
			Template: traffic.AccessPointTemplate{
				VirtualServices:        []traffic.NamedTemplate{nt(name, policyVS)},
				DestinationRules:       []traffic.NamedTemplate{nt(name, policyDR)},
				AuthorizationPolicies:  []traffic.NamedTemplate{nt("deny-admin", policyDenyAdmin), nt("app-only", policyAppOnly)},
				RequestAuthentications: []traffic.NamedTemplate{nt("jwt", policyJWT)},
				Telemetries:            []traffic.NamedTemplate{nt("logs", policyLogs)},
			},
		},
	}
	bad := fap.DeepCopy()
	bad.Spec.Template.AuthorizationPolicies[0].Spec.Raw = []byte(strings.Replace(policyDenyAdmin, `"DENY"`, `"NOPE"`, 1))
	_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, bad, metav1.CreateOptions{})
	if want := "spec.template.authorizationPolicies[0].spec.action"; !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("an access point with an AuthorizationPolicy of action NOPE: %v; want Invalid naming %s", err, want)
	}
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fap = waitFAP(t, f.pc, ns, name, 60*time.Second, "applied in both clusters", func(fap *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(fap, 2)
	})
	// The Gateway, the VirtualService, the DestinationRule and the policies.
	for _, s := range fap.Status.Clusters {
		if want := int32(3 + len(policyObjects)); s.Objects.Total != want || s.Objects.Applied != want {
			t.Errorf("%s: objects %+v, want %d applied", s.Name, s.Objects, want)
		}
	}

	members := map[string]dynamic.Interface{}
	for cluster := range zones {
		members[cluster] = dynamic.NewForConfigOrDie(f.members[cluster].RestConfig)
		for _, o := range policyObjects {
			u, err := members[cluster].Resource(o.gvr).Namespace(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %s %s/%s: %v", cluster, o.gvr.Resource, o.namespace, o.name, err)
			}
			if got, want := jsonNormalize(t, u.Object["spec"]), specValue(t, o.spec); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s %s/%s spec\n%s\nwant\n%s", cluster, o.gvr.Resource, o.namespace, o.name, mustJSON(got), mustJSON(want))
			}
			if got := u.GetLabels()[apply.Label]; got != apply.LabelValue(ns+"."+name) {
				t.Errorf("%s: %s %s label %s=%q", cluster, o.gvr.Resource, o.name, apply.Label, got)
			}
		}
		// The typed Istio clients read them too (what istiod would see).
		ic := f.istio(t, cluster)
		ap, err := ic.SecurityV1().AuthorizationPolicies(localfed.IstioNamespace).Get(ctx, "gwpolicy.api.deny-admin", metav1.GetOptions{})
		if err != nil || ap.Spec.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" || ap.Spec.GetAction().String() != "DENY" {
			t.Errorf("%s: AuthorizationPolicy %v, err %v; want DENY on istio: ingressgateway", cluster, ap, err)
		}
		ra, err := ic.SecurityV1().RequestAuthentications(localfed.IstioNamespace).Get(ctx, "gwpolicy.api.jwt", metav1.GetOptions{})
		if err != nil || ra.Spec.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" || len(ra.Spec.GetJwtRules()) != 1 {
			t.Errorf("%s: RequestAuthentication %v, err %v; want one JWT rule on istio: ingressgateway", cluster, ra, err)
		}
		tel, err := ic.TelemetryV1().Telemetries(localfed.IstioNamespace).Get(ctx, "gwpolicy.api.logs", metav1.GetOptions{})
		if err != nil || tel.Spec.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" {
			t.Errorf("%s: Telemetry %v, err %v; want it on istio: ingressgateway", cluster, tel, err)
		}

		// The VirtualService is bound to the Gateway, which the gateway's
		// proxies (in istio-system) alone see; the DestinationRule is for
		// them and for the application's namespace.
		vs, err := ic.NetworkingV1().VirtualServices(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: VirtualService: %v", cluster, err)
		}
		if !reflect.DeepEqual(vs.Spec.GetGateways(), []string{ns + "/" + name}) || !reflect.DeepEqual(vs.Spec.GetExportTo(), []string{localfed.IstioNamespace}) {
			t.Errorf("%s: VirtualService gateways %v exportTo %v; want [%s/%s] and [%s]", cluster,
				vs.Spec.GetGateways(), vs.Spec.GetExportTo(), ns, name, localfed.IstioNamespace)
		}
		if _, err := ic.NetworkingV1().Gateways(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: the Gateway %s/%s the VirtualService is bound to: %v", cluster, ns, name, err)
		}
		dr, err := ic.NetworkingV1().DestinationRules(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || !reflect.DeepEqual(dr.Spec.GetExportTo(), []string{".", localfed.IstioNamespace}) {
			t.Errorf("%s: DestinationRule %v, err %v; want exportTo [. %s]", cluster, dr, err, localfed.IstioNamespace)
		}
	}

	// Drift: each policy edited in one cluster and deleted in the other.
	for i, o := range policyObjects {
		edited, deleted := "zone-a-1", "zone-b-1"
		if i%2 == 1 {
			edited, deleted = deleted, edited
		}
		c := members[edited].Resource(o.gvr).Namespace(o.namespace)
		u, err := c.Get(ctx, o.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		path := append([]string{"spec"}, o.editPath...)
		if err := unstructured.SetNestedField(u.Object, o.editValue, path...); err != nil {
			t.Fatal(err)
		}
		u, err = c.Update(ctx, u, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("%s: editing %s %s: %v", edited, o.gvr.Resource, o.name, err)
		}
		if v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...); !reflect.DeepEqual(v, o.editValue) {
			t.Fatalf("%s: %s %s stored %v at %v, want the edit %v", edited, o.gvr.Resource, o.name, v, path, o.editValue)
		}
		if err := members[deleted].Resource(o.gvr).Namespace(o.namespace).Delete(ctx, o.name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("%s: deleting %s %s: %v", deleted, o.gvr.Resource, o.name, err)
		}
	}
	for cluster, dc := range members {
		for _, o := range policyObjects {
			want := specValue(t, o.spec)
			framework.Eventually(t, 30*time.Second, fmt.Sprintf("%s: %s %s/%s repaired", cluster, o.gvr.Resource, o.namespace, o.name), func() (bool, string) {
				u, err := dc.Resource(o.gvr).Namespace(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				got := jsonNormalize(t, u.Object["spec"])
				return reflect.DeepEqual(got, want), "spec " + mustJSON(got)
			})
		}
	}

	// Removed from the template: pruned from both clusters; the Gateway, the
	// VirtualService and the DestinationRule stay.
	updateFAP(t, f.pc, ns, name, func(fap *traffic.FederatedAccessPoint) {
		fap.Spec.Template.AuthorizationPolicies, fap.Spec.Template.RequestAuthentications, fap.Spec.Template.Telemetries = nil, nil, nil
	})
	waitFAP(t, f.pc, ns, name, 60*time.Second, "the policies' removal applied in both clusters", func(fap *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(fap, 2) && fap.Status.Clusters[0].Objects.Total == 3 && fap.Status.Clusters[1].Objects.Total == 3
	})
	for cluster, dc := range members {
		for _, o := range policyObjects {
			framework.Eventually(t, 30*time.Second, fmt.Sprintf("%s: %s %s/%s pruned", cluster, o.gvr.Resource, o.namespace, o.name), func() (bool, string) {
				_, err := dc.Resource(o.gvr).Namespace(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), fmt.Sprint(err)
			})
		}
		if gw, vs, dr := istioObjectsIn(t, f, cluster, ns, name); !gw || !vs || !dr {
			t.Errorf("%s: Gateway %v, VirtualService %v, DestinationRule %v after the policies were removed; want all three", cluster, gw, vs, dr)
		}
	}
}
