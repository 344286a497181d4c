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
)

// kind is what the agent knows of one kind it applies.
type kind struct {
	resource   string
	namespaced bool
	// order: namespaces first, then what Istio objects refer to, then Istio objects.
	order int
	apply applyFunc
}

type clients struct {
	istio istioclient.Interface
	kube  kubernetes.Interface
}

// applyFunc applies one JSON object in a namespace.
type applyFunc func(ctx context.Context, c clients, namespace string, raw []byte, opts metav1.ApplyOptions) error

// applier is a typed client's Apply method.
type applier[AC, R any] interface {
	Apply(ctx context.Context, ac *AC, opts metav1.ApplyOptions) (R, error)
}

// typed decodes raw into the kind's apply configuration and applies it with the
// typed client of that namespace.
func typed[AC, R any](client func(c clients, namespace string) applier[AC, R]) applyFunc {
	return func(ctx context.Context, c clients, namespace string, raw []byte, opts metav1.ApplyOptions) error {
		ac := new(AC)
		if err := json.Unmarshal(raw, ac); err != nil {
			return err
		}
		_, err := client(c, namespace).Apply(ctx, ac, opts)
		return err
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
)

const (
	istioGroup     = "networking.istio.io"
	securityGroup  = "security.istio.io"
	telemetryGroup = "telemetry.istio.io"
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
