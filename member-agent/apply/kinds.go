package apply

import (
	"context"
	"encoding/json"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	networkingv1ac "istio.io/client-go/pkg/applyconfiguration/networking/v1"
	securityv1ac "istio.io/client-go/pkg/applyconfiguration/security/v1"
	telemetryv1ac "istio.io/client-go/pkg/applyconfiguration/telemetry/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1ac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// kind is what the agent knows of one kind it applies.
type kind struct {
	resource   string
	namespaced bool
	// order: namespaces first, then what Istio and Gateway API objects refer
	// to, then those objects.
	order int
	apply applyFunc
}

type clients struct {
	istio   istioclient.Interface
	kube    kubernetes.Interface
	gateway gatewayclient.Interface
}

// applyFunc applies one JSON object in a namespace and returns the object
// the member cluster holds then (typed).
type applyFunc func(ctx context.Context, c clients, namespace string, raw []byte, opts metav1.ApplyOptions) (any, error)

// applier is a typed client's Apply method.
type applier[AC, R any] interface {
	Apply(ctx context.Context, ac *AC, opts metav1.ApplyOptions) (R, error)
}

// typed decodes raw into the kind's apply configuration and applies it with the
// typed client of that namespace.
func typed[AC, R any](client func(c clients, namespace string) applier[AC, R]) applyFunc {
	return func(ctx context.Context, c clients, namespace string, raw []byte, opts metav1.ApplyOptions) (any, error) {
		ac := new(AC)
		if err := json.Unmarshal(raw, ac); err != nil {
			return nil, err
		}
		return client(c, namespace).Apply(ctx, ac, opts)
	}
}

type (
	nsAC  = corev1ac.NamespaceApplyConfiguration
	secAC = corev1ac.SecretApplyConfiguration
	svcAC = corev1ac.ServiceApplyConfiguration
	gwAC  = networkingv1ac.GatewayApplyConfiguration
	vsAC  = networkingv1ac.VirtualServiceApplyConfiguration
	drAC  = networkingv1ac.DestinationRuleApplyConfiguration
	seAC  = networkingv1ac.ServiceEntryApplyConfiguration
	weAC  = networkingv1ac.WorkloadEntryApplyConfiguration
	wgAC  = networkingv1ac.WorkloadGroupApplyConfiguration
	apAC  = securityv1ac.AuthorizationPolicyApplyConfiguration
	raAC  = securityv1ac.RequestAuthenticationApplyConfiguration
	telAC = telemetryv1ac.TelemetryApplyConfiguration
	kgwAC = gatewayv1ac.GatewayApplyConfiguration
	hrAC  = gatewayv1ac.HTTPRouteApplyConfiguration
	grAC  = gatewayv1ac.GRPCRouteApplyConfiguration
	tlsAC = gatewayv1ac.TLSRouteApplyConfiguration
	tcpAC = gatewayv1ac.TCPRouteApplyConfiguration
	rgAC  = gatewayv1ac.ReferenceGrantApplyConfiguration
)

const (
	istioGroup      = "networking.istio.io"
	securityGroup   = "security.istio.io"
	telemetryGroup  = "telemetry.istio.io"
	gatewayAPIGroup = "gateway.networking.k8s.io"
)

var kinds = map[schema.GroupKind]kind{
	{Kind: "Namespace"}: {"namespaces", false, 0, typed(func(c clients, _ string) applier[nsAC, *corev1.Namespace] {
		return c.kube.CoreV1().Namespaces()
	})},
	{Kind: "Secret"}: {"secrets", true, 1, typed(func(c clients, ns string) applier[secAC, *corev1.Secret] {
		return c.kube.CoreV1().Secrets(ns)
	})},
	{Kind: "Service"}: {"services", true, 1, typed(func(c clients, ns string) applier[svcAC, *corev1.Service] {
		return c.kube.CoreV1().Services(ns)
	})},
	{Group: istioGroup, Kind: "Gateway"}: {"gateways", true, 2, typed(func(c clients, ns string) applier[gwAC, *networkingv1.Gateway] {
		return c.istio.NetworkingV1().Gateways(ns)
	})},
	{Group: istioGroup, Kind: "VirtualService"}: {"virtualservices", true, 2, typed(func(c clients, ns string) applier[vsAC, *networkingv1.VirtualService] {
		return c.istio.NetworkingV1().VirtualServices(ns)
	})},
	{Group: istioGroup, Kind: "DestinationRule"}: {"destinationrules", true, 2, typed(func(c clients, ns string) applier[drAC, *networkingv1.DestinationRule] {
		return c.istio.NetworkingV1().DestinationRules(ns)
	})},
	{Group: istioGroup, Kind: "ServiceEntry"}: {"serviceentries", true, 2, typed(func(c clients, ns string) applier[seAC, *networkingv1.ServiceEntry] {
		return c.istio.NetworkingV1().ServiceEntries(ns)
	})},
	{Group: istioGroup, Kind: "WorkloadEntry"}: {"workloadentries", true, 2, typed(func(c clients, ns string) applier[weAC, *networkingv1.WorkloadEntry] {
		return c.istio.NetworkingV1().WorkloadEntries(ns)
	})},
	{Group: istioGroup, Kind: "WorkloadGroup"}: {"workloadgroups", true, 2, typed(func(c clients, ns string) applier[wgAC, *networkingv1.WorkloadGroup] {
		return c.istio.NetworkingV1().WorkloadGroups(ns)
	})},
	{Group: securityGroup, Kind: "AuthorizationPolicy"}: {"authorizationpolicies", true, 2, typed(func(c clients, ns string) applier[apAC, *securityv1.AuthorizationPolicy] {
		return c.istio.SecurityV1().AuthorizationPolicies(ns)
	})},
	{Group: securityGroup, Kind: "RequestAuthentication"}: {"requestauthentications", true, 2, typed(func(c clients, ns string) applier[raAC, *securityv1.RequestAuthentication] {
		return c.istio.SecurityV1().RequestAuthentications(ns)
	})},
	{Group: telemetryGroup, Kind: "Telemetry"}: {"telemetries", true, 2, typed(func(c clients, ns string) applier[telAC, *telemetryv1.Telemetry] {
		return c.istio.TelemetryV1().Telemetries(ns)
	})},
	// The Gateway API kinds, with the Gateway API's typed client; the
	// ReferenceGrant that lets Gateways read the certificate goes with it.
	{Group: gatewayAPIGroup, Kind: "ReferenceGrant"}: {"referencegrants", true, 1, typed(func(c clients, ns string) applier[rgAC, *gatewayv1.ReferenceGrant] {
		return c.gateway.GatewayV1().ReferenceGrants(ns)
	})},
	{Group: gatewayAPIGroup, Kind: "Gateway"}: {"gateways", true, 2, typed(func(c clients, ns string) applier[kgwAC, *gatewayv1.Gateway] {
		return c.gateway.GatewayV1().Gateways(ns)
	})},
	{Group: gatewayAPIGroup, Kind: "HTTPRoute"}: {"httproutes", true, 2, typed(func(c clients, ns string) applier[hrAC, *gatewayv1.HTTPRoute] {
		return c.gateway.GatewayV1().HTTPRoutes(ns)
	})},
	{Group: gatewayAPIGroup, Kind: "GRPCRoute"}: {"grpcroutes", true, 2, typed(func(c clients, ns string) applier[grAC, *gatewayv1.GRPCRoute] {
		return c.gateway.GatewayV1().GRPCRoutes(ns)
	})},
	{Group: gatewayAPIGroup, Kind: "TLSRoute"}: {"tlsroutes", true, 2, typed(func(c clients, ns string) applier[tlsAC, *gatewayv1.TLSRoute] {
		return c.gateway.GatewayV1().TLSRoutes(ns)
	})},
	{Group: gatewayAPIGroup, Kind: "TCPRoute"}: {"tcproutes", true, 2, typed(func(c clients, ns string) applier[tcpAC, *gatewayv1.TCPRoute] {
		return c.gateway.GatewayV1().TCPRoutes(ns)
	})},
}

// Observed is what the member cluster holds of an applied object whose
// status the gateway implementation writes: its generation and its status.
type Observed struct {
	Generation int64
	// Status is the object's status as JSON.
	Status json.RawMessage
}

// observers read the Observed of the kinds whose status Portico reports
// from the object an apply returned.
var observers = map[schema.GroupKind]func(applied any) (Observed, bool){
	{Group: gatewayAPIGroup, Kind: "Gateway"}:   statusOf(func(o *gatewayv1.Gateway) any { return o.Status }),
	{Group: gatewayAPIGroup, Kind: "HTTPRoute"}: statusOf(func(o *gatewayv1.HTTPRoute) any { return o.Status }),
	{Group: gatewayAPIGroup, Kind: "GRPCRoute"}: statusOf(func(o *gatewayv1.GRPCRoute) any { return o.Status }),
	{Group: gatewayAPIGroup, Kind: "TLSRoute"}:  statusOf(func(o *gatewayv1.TLSRoute) any { return o.Status }),
	{Group: gatewayAPIGroup, Kind: "TCPRoute"}:  statusOf(func(o *gatewayv1.TCPRoute) any { return o.Status }),
}

// statusOf is the observer of objects of type R, whose status status
// returns. It observes nothing in what is not such an object.
func statusOf[T any, R interface {
	*T
	metav1.Object
}](status func(R) any) func(applied any) (Observed, bool) {
	return func(applied any) (Observed, bool) {
		o, ok := applied.(R)
		if !ok || o == nil {
			return Observed{}, false
		}
		raw, err := json.Marshal(status(o))
		return Observed{Generation: o.GetGeneration(), Status: raw}, err == nil
	}
}

// Order is the position of a kind in the apply order.
func Order(gk schema.GroupKind) int { return kinds[gk].order }

// Resources are the resources of every kind the agent applies, for drift watches
// and pruning.
func Resources() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for gk, k := range kinds {
		out = append(out, schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: k.resource})
	}
	return out
}

// Prunable tells whether the agent deletes objects of a kind when they are no
// longer wanted: every kind but Namespace, since a namespace holds more than
// what the agent put there.
func Prunable(gk schema.GroupKind) bool { return gk != schema.GroupKind{Kind: "Namespace"} }
