package reconciler

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
)

// GatewayAPIReaders read what the member cluster holds of the Gateway API
// objects the reconciler applied: the status their gateway implementation
// (istiod, for Istio) writes, and the endpoints of the Service that serves a
// Gateway. Without them (nil functions) the reconciler reports neither.
type GatewayAPIReaders struct {
	// Observed returns the generation and the status of an applied object
	// as the member cluster last returned them (apply.Client.Observed).
	Observed func(apply.Ref) (apply.Observed, bool)
	// ServiceEndpoints returns the endpoints of the Service namespace/name.
	ServiceEndpoints func(namespace, name string) ([]trafficv1alpha1.GatewayEndpoint, error)
}

// SetGatewayAPI makes the reconciler report the status of Gateway API
// objects and the endpoints of Gateway API Gateways with g.
func (r *Reconciler) SetGatewayAPI(g GatewayAPIReaders) { r.gatewayAPI = g }

const gatewayAPIGroup = trafficv1alpha1.GatewayAPIGroup

// maxConditionMessage bounds the messages of the implementation's conditions
// that the status carries: they travel to the hub for every cluster.
const maxConditionMessage = 1024

// gatewayAPIStatus is the status of the applied Gateway API Gateways and
// routes (nil when there are none): what the implementation wrote on them, an
// object without a status of its own listed with no conditions.
func (r *Reconciler) gatewayAPIStatus(objects []apply.Object) *trafficv1alpha1.GatewayAPIStatus {
	var out trafficv1alpha1.GatewayAPIStatus
	found := false
	for _, o := range objects {
		if o.GVK.Group != gatewayAPIGroup || o.GVK.Kind == "ReferenceGrant" {
			continue
		}
		found = true
		var observed apply.Observed
		if r.gatewayAPI.Observed != nil {
			observed, _ = r.gatewayAPI.Observed(o.Ref)
		}
		if o.GVK.Kind == "Gateway" {
			out.Gateways = append(out.Gateways, gatewayStatus(o.Name, observed))
		} else {
			out.Routes = append(out.Routes, routeStatus(o.GVK.Kind, o.Name, observed))
		}
	}
	if !found {
		return nil
	}
	return &out
}

func gatewayStatus(name string, o apply.Observed) trafficv1alpha1.GatewayAPIGatewayStatus {
	s := trafficv1alpha1.GatewayAPIGatewayStatus{Name: name, Generation: o.Generation}
	var st struct {
		Addresses []struct {
			Value string `json:"value"`
		} `json:"addresses"`
		Conditions []metav1.Condition `json:"conditions"`
		Listeners  []struct {
			Name           string             `json:"name"`
			AttachedRoutes int32              `json:"attachedRoutes"`
			Conditions     []metav1.Condition `json:"conditions"`
		} `json:"listeners"`
	}
	if len(o.Status) == 0 || json.Unmarshal(o.Status, &st) != nil {
		return s
	}
	for _, a := range st.Addresses {
		s.Addresses = append(s.Addresses, a.Value)
	}
	s.Conditions = bounded(st.Conditions)
	for _, l := range st.Listeners {
		s.Listeners = append(s.Listeners, trafficv1alpha1.GatewayAPIListenerStatus{
			Name: l.Name, AttachedRoutes: l.AttachedRoutes, Conditions: bounded(l.Conditions)})
	}
	return s
}

func routeStatus(kind, name string, o apply.Observed) trafficv1alpha1.GatewayAPIRouteStatus {
	s := trafficv1alpha1.GatewayAPIRouteStatus{Kind: kind, Name: name, Generation: o.Generation}
	var st struct {
		Parents []struct {
			ParentRef      parentRef          `json:"parentRef"`
			ControllerName string             `json:"controllerName"`
			Conditions     []metav1.Condition `json:"conditions"`
		} `json:"parents"`
	}
	if len(o.Status) == 0 || json.Unmarshal(o.Status, &st) != nil {
		return s
	}
	for _, p := range st.Parents {
		s.Parents = append(s.Parents, trafficv1alpha1.GatewayAPIRouteParentStatus{
			ParentRef: p.ParentRef.String(), ControllerName: p.ControllerName, Conditions: bounded(p.Conditions)})
	}
	return s
}

// parentRef is a route's reference to its parent.
type parentRef struct {
	Kind        string `json:"kind"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	SectionName string `json:"sectionName"`
	Port        int32  `json:"port"`
}

// String is [Kind ][namespace/]name[:sectionName][@port]; the kind only when
// it is not Gateway.
func (p parentRef) String() string {
	var b strings.Builder
	if p.Kind != "" && p.Kind != "Gateway" {
		b.WriteString(p.Kind + " ")
	}
	if p.Namespace != "" {
		b.WriteString(p.Namespace + "/")
	}
	b.WriteString(p.Name)
	if p.SectionName != "" {
		b.WriteString(":" + p.SectionName)
	}
	if p.Port != 0 {
		fmt.Fprintf(&b, "@%d", p.Port)
	}
	return b.String()
}

// bounded returns the conditions with their messages cut to
// maxConditionMessage bytes.
func bounded(conds []metav1.Condition) []metav1.Condition {
	for i := range conds {
		if m := conds[i].Message; len(m) > maxConditionMessage {
			cut := maxConditionMessage - len("…")
			for cut > 0 && !utf8.RuneStart(m[cut]) {
				cut--
			}
			conds[i].Message = m[:cut] + "…"
		}
	}
	return conds
}

// gatewayAPIService is the Service that serves a Gateway API Gateway in
// Istio's implementation: with a single Hostname address (manual
// deployment), the Service it names (<name>.<namespace>.svc[.<domain>], or a
// short name in the Gateway's namespace); otherwise the Service istiod
// deploys for it, <name>-<gatewayClassName> in the Gateway's namespace. ok is
// false for a hostname outside the cluster.
func gatewayAPIService(o apply.Object) (namespace, name string, ok bool) {
	var gw struct {
		Spec struct {
			GatewayClassName string `json:"gatewayClassName"`
			Addresses        []struct {
				Type  *string `json:"type"`
				Value string  `json:"value"`
			} `json:"addresses"`
		} `json:"spec"`
	}
	if json.Unmarshal(o.Raw, &gw) != nil {
		return "", "", false
	}
	addrs := gw.Spec.Addresses
	if len(addrs) == 1 && addrs[0].Type != nil && *addrs[0].Type == "Hostname" {
		host := addrs[0].Value
		if !strings.Contains(host, ".") {
			return o.Namespace, host, true
		}
		parts := strings.Split(host, ".")
		if len(parts) >= 3 && parts[2] == "svc" {
			return parts[1], parts[0], true
		}
		return "", "", false
	}
	return o.Namespace, o.Name + "-" + gw.Spec.GatewayClassName, true
}
