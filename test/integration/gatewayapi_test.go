//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
	"github.com/portico-dev/portico/member-agent/apply"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// An access point whose gateway is a Gateway API Gateway: HTTP and HTTPS
// listeners (the HTTPS one leaves its certificate to Portico) and an
// HTTPRoute without parentRefs.
const (
	gwAPIHost    = "www.gwapi.example.com"
	gwAPIGateway = `{"gatewayClassName":"istio","listeners":[
	  {"name":"http","port":80,"protocol":"HTTP","hostname":"www.gwapi.example.com"},
	  {"name":"https","port":443,"protocol":"HTTPS","hostname":"www.gwapi.example.com","tls":{"mode":"Terminate"}}]}`
	gwAPIRoute = `{"hostnames":["www.gwapi.example.com"],"rules":[
	  {"matches":[{"path":{"type":"PathPrefix","value":"/shop"}}],"backendRefs":[{"name":"shop","port":8080}]}]}`
)

// TestGatewayAPI: an access point with a Gateway API Gateway and HTTPRoute
// (templates validated against the Gateway API CRDs of the pinned
// sigs.k8s.io/gateway-api: an invalid HTTPRoute, and an access point with an
// Istio gateway too, are rejected naming the field inside the template)
// reaches both member clusters through the member-agent's Gateway API typed
// client: the Gateway names the cluster's gateway Service (Istio's manual
// deployment), its HTTPS listener references the certificate Secret
// delivered to the gateway namespace, which a ReferenceGrant there opens to
// it, and the route is attached to the Gateway. The gateway endpoints are
// those of that Service. A status written on a member's Gateway and route,
// as an implementation would write it, shows up in the access point's
// per-cluster status, and the GatewayReady condition (and Ready) follow it.
func TestGatewayAPI(t *testing.T) {
	f := newGatewayAPIFederation(t, map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"})
	ctx := context.Background()
	waitAllAvailable(t, f)
	const ns, name = "gwapi", "www"
	createHubNamespace(t, f.hub, ns)
	createCAIssuer(t, f, "gwapi-ca")

	nt := func(name, spec string) traffic.NamedTemplate {
		return traffic.NamedTemplate{Name: name, Spec: traffic.JSONObject{Raw: []byte(spec)}}
	}
	fap := &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: []string{gwAPIHost},
			TLS:   &traffic.TLSSpec{IssuerRef: traffic.LocalReference{Name: "gwapi-ca"}},
			Template: traffic.AccessPointTemplate{GatewayAPI: &traffic.GatewayAPITemplate{
				Gateways:   []traffic.NamedTemplate{nt("web", gwAPIGateway)},
				HTTPRoutes: []traffic.NamedTemplate{nt("shop", gwAPIRoute)},
			}},
		},
	}

	// Rejected at write time, at the field inside the template: a path match
	// type the HTTPRoute CRD does not know, a path the CRD's CEL rule
	// refuses, and an Istio gateway next to the Gateway API one.
	rejected := []struct {
		what, want string
		edit       func(*traffic.FederatedAccessPoint)
	}{
		{"an HTTPRoute with path match type Nope", "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path.type: Unsupported value: \"Nope\"",
			func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.GatewayAPI.HTTPRoutes[0].Spec.Raw = []byte(strings.Replace(gwAPIRoute, "PathPrefix", "Nope", 1))
			}},
		{"an HTTPRoute with a relative path (a CEL rule)", "spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path: Invalid value",
			func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.GatewayAPI.HTTPRoutes[0].Spec.Raw = []byte(strings.Replace(gwAPIRoute, `"/shop"`, `"shop"`, 1))
			}},
		{"an Istio gateway too", "spec.template.gateway: Forbidden",
			func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.Gateway = &traffic.JSONObject{Raw: []byte(`{"selector":{"istio":"ingressgateway"}}`)}
			}},
	}
	for _, r := range rejected {
		bad := fap.DeepCopy()
		r.edit(bad)
		_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, bad, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), r.want) {
			t.Fatalf("an access point with %s: %v; want Invalid with %q", r.what, err, r.want)
		}
	}

	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Applied in both clusters with the certificate: the Secret, the
	// ReferenceGrant, the Gateway and the HTTPRoute.
	fap = waitFAP(t, f.pc, ns, name, 90*time.Second, "applied in both clusters with its certificate", func(fap *traffic.FederatedAccessPoint) bool {
		if !appliedEverywhere(fap, 2) || fap.Status.Certificate == nil || len(fap.Status.Certificate.InstalledClusters) != 2 {
			return false
		}
		for _, s := range fap.Status.Clusters {
			if s.Objects.Total != 4 || s.Objects.Applied != 4 {
				return false
			}
		}
		return true
	})
	credential := certsecret.CredentialName(ns, name)
	for cluster, m := range f.members {
		gc := gatewayclient.NewForConfigOrDie(m.RestConfig)
		gw, err := gc.GatewayV1().Gateways(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: Gateway %s/web: %v", cluster, ns, err)
		}
		if gw.Spec.GatewayClassName != "istio" || gw.Labels[apply.Label] != apply.LabelValue(ns+"."+name) {
			t.Errorf("%s: Gateway class %q labels %v", cluster, gw.Spec.GatewayClassName, gw.Labels)
		}
		wantAddr := []gatewayv1.GatewaySpecAddress{{Type: ptrTo(gatewayv1.HostnameAddressType), Value: "istio-ingressgateway.istio-system.svc.cluster.local"}}
		if !reflect.DeepEqual(gw.Spec.Addresses, wantAddr) {
			t.Errorf("%s: Gateway addresses %s, want the gateway Service %s", cluster, mustJSON(gw.Spec.Addresses), mustJSON(wantAddr))
		}
		// The HTTPS listener's certificate is the Secret delivered to the
		// gateway namespace, and the ReferenceGrant there allows it.
		if len(gw.Spec.Listeners) != 2 || gw.Spec.Listeners[1].TLS == nil || len(gw.Spec.Listeners[1].TLS.CertificateRefs) != 1 {
			t.Fatalf("%s: listeners %s", cluster, mustJSON(gw.Spec.Listeners))
		}
		ref := gw.Spec.Listeners[1].TLS.CertificateRefs[0]
		if ref.Name != gatewayv1.ObjectName(credential) || ref.Namespace == nil || *ref.Namespace != localfed.IstioNamespace ||
			ref.Kind == nil || *ref.Kind != "Secret" {
			t.Errorf("%s: certificateRefs %s, want Secret %s/%s", cluster, mustJSON(ref), localfed.IstioNamespace, credential)
		}
		secret, err := kubernetes.NewForConfigOrDie(m.RestConfig).CoreV1().Secrets(localfed.IstioNamespace).Get(ctx, credential, metav1.GetOptions{})
		if err != nil || secret.Type != corev1.SecretTypeTLS || len(secret.Data[corev1.TLSCertKey]) == 0 {
			t.Errorf("%s: the delivered Secret %s/%s: %v", cluster, localfed.IstioNamespace, credential, err)
		}
		grant, err := gc.GatewayV1().ReferenceGrants(localfed.IstioNamespace).Get(ctx, credential, metav1.GetOptions{})
		if err != nil || len(grant.Spec.From) != 1 || string(grant.Spec.From[0].Namespace) != ns || string(grant.Spec.From[0].Kind) != "Gateway" ||
			len(grant.Spec.To) != 1 || grant.Spec.To[0].Name == nil || string(*grant.Spec.To[0].Name) != credential {
			t.Errorf("%s: ReferenceGrant %s, err %v", cluster, mustJSON(grant), err)
		}
		route, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: HTTPRoute: %v", cluster, err)
		}
		if len(route.Spec.ParentRefs) != 1 || route.Spec.ParentRefs[0].Name != "web" {
			t.Errorf("%s: HTTPRoute parentRefs %s, want the Gateway web", cluster, mustJSON(route.Spec.ParentRefs))
		}
	}
	// The endpoints of the gateway Service serve the access point; without
	// an implementation's word the Gateway's conditions are the CRD's
	// defaults (Pending), so GatewayReady is Unknown and Ready waits.
	for _, s := range fap.Status.Clusters {
		if s.GatewayEndpoints != 2 {
			t.Errorf("%s: gatewayEndpoints %d, want the 2 of istio-system/istio-ingressgateway", s.Name, s.GatewayEndpoints)
		}
		if s.GatewayAPI == nil || len(s.GatewayAPI.Gateways) != 1 || s.GatewayAPI.Gateways[0].Name != "web" || len(s.GatewayAPI.Routes) != 1 {
			t.Errorf("%s: gatewayAPI %s, want the Gateway web and the HTTPRoute shop", s.Name, mustJSON(s.GatewayAPI))
		}
	}
	if c := condOf(fap, traffic.AccessPointGatewayReady); c.Status != metav1.ConditionUnknown || c.Reason != "NotReported" {
		t.Errorf("GatewayReady %+v before any implementation's status; want Unknown NotReported", c)
	}

	// An implementation's status on zone-a-1: all accepted and programmed;
	// on zone-b-1: the Gateway not programmed.
	writeGatewayStatus(t, f.members["zone-a-1"], ns, "web", metav1.ConditionTrue, "Programmed", "10.96.0.42")
	writeRouteStatus(t, f.members["zone-a-1"], ns, "shop", "web")
	writeGatewayStatus(t, f.members["zone-b-1"], ns, "web", metav1.ConditionFalse, "AddressNotUsable", "")
	writeRouteStatus(t, f.members["zone-b-1"], ns, "shop", "web")
	// The Gateway's and the route's statuses may reach the hub in two
	// reports: wait for both.
	fap = waitFAP(t, f.pc, ns, name, 60*time.Second, "the implementation's status in the per-cluster status", func(fap *traffic.FederatedAccessPoint) bool {
		a, b := clusterOf(fap, "zone-a-1"), clusterOf(fap, "zone-b-1")
		return programmedIs(a, metav1.ConditionTrue) && programmedIs(b, metav1.ConditionFalse) && routeParents(a) == 1 &&
			condOf(fap, traffic.AccessPointGatewayReady).Status == metav1.ConditionFalse
	})
	a := clusterOf(fap, "zone-a-1").GatewayAPI
	if gw := a.Gateways[0]; strings.Join(gw.Addresses, ",") != "10.96.0.42" || !meta.IsStatusConditionTrue(gw.Conditions, "Accepted") ||
		len(gw.Listeners) != 2 || !meta.IsStatusConditionTrue(gw.Listeners[1].Conditions, "ResolvedRefs") {
		t.Errorf("zone-a-1: Gateway status %s", mustJSON(gw))
	}
	if r := a.Routes[0]; r.Kind != "HTTPRoute" || r.Name != "shop" || len(r.Parents) != 1 || r.Parents[0].ParentRef != "web" ||
		r.Parents[0].ControllerName != "istio.io/gateway-controller" || !meta.IsStatusConditionTrue(r.Parents[0].Conditions, "ResolvedRefs") {
		t.Errorf("zone-a-1: HTTPRoute status %s", mustJSON(r))
	}
	c := condOf(fap, traffic.AccessPointGatewayReady)
	if c.Reason != "Rejected" || !strings.Contains(c.Message, "zone-b-1: Gateway web: Programmed=False (AddressNotUsable)") {
		t.Errorf("GatewayReady %+v; want Rejected naming zone-b-1's Gateway", c)
	}
	if r := condOf(fap, traffic.ConditionReady); r.Status != metav1.ConditionFalse || !strings.Contains(r.Message, "GatewayReady (Rejected)") {
		t.Errorf("Ready %+v; want False for GatewayReady", r)
	}

	// zone-b-1's implementation programs it too: GatewayReady, then Ready.
	writeGatewayStatus(t, f.members["zone-b-1"], ns, "web", metav1.ConditionTrue, "Programmed", "10.96.0.43")
	waitFAP(t, f.pc, ns, name, 60*time.Second, "GatewayReady and Ready", func(fap *traffic.FederatedAccessPoint) bool {
		return condOf(fap, traffic.AccessPointGatewayReady).Status == metav1.ConditionTrue &&
			condOf(fap, traffic.ConditionReady).Status == metav1.ConditionTrue
	})
}

// newGatewayAPIFederation is newFederation with member clusters that have the
// Gateway API CRDs of the pinned sigs.k8s.io/gateway-api besides Istio's.
func newGatewayAPIFederation(t *testing.T, zones map[string]string) *federation {
	t.Helper()
	f := &federation{members: map[string]*framework.MemberCluster{}, agents: map[string]*framework.MemberAgent{}}
	f.hub = framework.NewHubCluster(t)
	f.portico = framework.NewPorticoHub(t, f.hub, framework.PorticoHubOptions{
		ExtraArgs: []string{"--cluster-lease-grace=" + leaseGrace.String()},
	})
	f.pc = versioned.NewForConfigOrDie(f.hub.RestConfig)
	for name, zone := range zones {
		f.members[name] = framework.NewMemberClusterWithOptions(t, framework.MemberClusterOptions{Name: name, GatewayAPICRDs: true})
		f.agents[name] = framework.NewMemberAgent(t, f.hub, f.members[name], framework.MemberAgentOptions{
			Zone: zone, Region: "r1", HeartbeatInterval: time.Second,
		})
	}
	return f
}

func ptrTo[T any](v T) *T { return &v }

func clusterOf(fap *traffic.FederatedAccessPoint, name string) traffic.ClusterStatus {
	for _, s := range fap.Status.Clusters {
		if s.Name == name {
			return s
		}
	}
	return traffic.ClusterStatus{}
}

// routeParents is how many parents a cluster reports for its first route.
func routeParents(s traffic.ClusterStatus) int {
	if s.GatewayAPI == nil || len(s.GatewayAPI.Routes) == 0 {
		return 0
	}
	return len(s.GatewayAPI.Routes[0].Parents)
}

// programmedIs tells whether a cluster reports its Gateway's Programmed
// condition with status.
func programmedIs(s traffic.ClusterStatus, status metav1.ConditionStatus) bool {
	if s.GatewayAPI == nil || len(s.GatewayAPI.Gateways) == 0 {
		return false
	}
	c := meta.FindStatusCondition(s.GatewayAPI.Gateways[0].Conditions, "Programmed")
	return c != nil && c.Status == status
}

// writeGatewayStatus writes a Gateway's status in a member cluster as Istio's
// implementation would: Accepted, Programmed with status and reason, the
// listeners' conditions, and the address when given.
func writeGatewayStatus(t *testing.T, m *framework.MemberCluster, ns, name string, programmed metav1.ConditionStatus, reason, address string) {
	t.Helper()
	gc := gatewayclient.NewForConfigOrDie(m.RestConfig)
	framework.Eventually(t, 10*time.Second, fmt.Sprintf("%s: status of Gateway %s/%s written", m.Name, ns, name), func() (bool, string) {
		ctx := context.Background()
		gw, err := gc.GatewayV1().Gateways(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		now, gen := metav1.Now(), gw.Generation
		cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
			return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: typ + " by the test's stand-in implementation",
				ObservedGeneration: gen, LastTransitionTime: now}
		}
		gw.Status = gatewayv1.GatewayStatus{Conditions: []metav1.Condition{
			cond("Accepted", metav1.ConditionTrue, "Accepted"), cond("Programmed", programmed, reason)}}
		if address != "" {
			gw.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: ptrTo(gatewayv1.IPAddressType), Value: address}}
		}
		for _, l := range gw.Spec.Listeners {
			gw.Status.Listeners = append(gw.Status.Listeners, gatewayv1.ListenerStatus{Name: l.Name, AttachedRoutes: 1,
				SupportedKinds: []gatewayv1.RouteGroupKind{{Kind: "HTTPRoute"}},
				Conditions: []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted"),
					cond("Programmed", programmed, reason), cond("ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")}})
		}
		_, err = gc.GatewayV1().Gateways(ns).UpdateStatus(ctx, gw, metav1.UpdateOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// writeRouteStatus writes an HTTPRoute's status for its parent Gateway as
// Istio's implementation would: Accepted and ResolvedRefs.
func writeRouteStatus(t *testing.T, m *framework.MemberCluster, ns, name, gateway string) {
	t.Helper()
	gc := gatewayclient.NewForConfigOrDie(m.RestConfig)
	framework.Eventually(t, 10*time.Second, fmt.Sprintf("%s: status of HTTPRoute %s/%s written", m.Name, ns, name), func() (bool, string) {
		ctx := context.Background()
		r, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		now := metav1.Now()
		cond := func(typ string) metav1.Condition {
			return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: typ, ObservedGeneration: r.Generation, LastTransitionTime: now}
		}
		r.Status.Parents = []gatewayv1.RouteParentStatus{{
			ParentRef:      gatewayv1.ParentReference{Name: gatewayv1.ObjectName(gateway)},
			ControllerName: "istio.io/gateway-controller",
			Conditions:     []metav1.Condition{cond("Accepted"), cond("ResolvedRefs")},
		}}
		_, err = gc.GatewayV1().HTTPRoutes(ns).UpdateStatus(ctx, r, metav1.UpdateOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// createCAIssuer creates a CertificateIssuer named name, signing with a new
// CA whose certificate and key are in a Secret of the hub's portico-system,
// and waits until it is Ready.
func createCAIssuer(t *testing.T, f *federation, name string) {
	t.Helper()
	ctx := context.Background()
	ca, err := localfed.NewCA("portico test CA " + name)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(f.hub.RestConfig)
	if _, err := kube.CoreV1().Secrets(certsecret.SecretNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pc.TrafficV1alpha1().CertificateIssuers().Create(ctx, &traffic.CertificateIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       traffic.CertificateIssuerSpec{CA: &traffic.CAIssuer{SecretRef: traffic.LocalReference{Name: name}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "CertificateIssuer "+name+" Ready", func() (bool, string) {
		ci, err := f.pc.TrafficV1alpha1().CertificateIssuers().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(ci.Status.Conditions, traffic.ConditionReady), ""
	})
}

// TestKubectlApplyGatewayAPITemplate: an access point with Gateway API
// templates is applied with client-side kubectl apply, again, and from a
// second file that changes a listener and a route, without a word on stderr
// (the OpenAPI published for gatewayAPI lets kubectl compute its patch), and
// what is stored is what the file says.
func TestKubectlApplyGatewayAPITemplate(t *testing.T) {
	e := hubEnv(t)
	ns := e.newNamespace(t, "csa-gwapi")
	dir := t.TempDir()
	a := fapWithTemplate(ns, "shop", `
    gatewayAPI:
      gateways:
      - name: web
        spec:
          gatewayClassName: istio
          listeners:
          - {name: http, port: 80, protocol: HTTP, hostname: shop.tmpl.example.com}
      httpRoutes:
      - name: shop
        spec:
          hostnames: [shop.tmpl.example.com]
          rules:
          - matches: [{path: {type: PathPrefix, value: /shop}}]
            backendRefs: [{name: shop, port: 8080, weight: 90}, {name: shop-canary, port: 8080, weight: 10}]
      - name: admin
        spec:
          hostnames: [admin.tmpl.example.com]
          rules: [{backendRefs: [{name: admin, port: 8080}]}]
`)
	b := strings.NewReplacer("port: 80,", "port: 8080,", "weight: 90", "weight: 80", "weight: 10", "weight: 20").Replace(a)
	files := map[string]string{"a.yaml": a, "b.yaml": b}
	for name, doc := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"a.yaml", "a.yaml", "b.yaml", "b.yaml", "a.yaml"} {
		out, stderr, err := e.kubectl(t, "apply", "-f", filepath.Join(dir, file))
		if err != nil || stderr != "" {
			t.Fatalf("kubectl apply -f %s: err=%v\nstdout:\n%s\nstderr:\n%s", file, err, out, stderr)
		}
		fap, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(context.Background(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := jsonNormalize(t, fap.Spec).(map[string]any)
		if want := specOf(t, files[file]); !reflect.DeepEqual(got["template"], want["template"]) {
			t.Errorf("after kubectl apply -f %s, spec.template is\n%s\nwant\n%s", file, mustJSON(got["template"]), mustJSON(want["template"]))
		}
	}
}
