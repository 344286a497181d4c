package accesspoint

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/traffic/gatewayapi"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
)

// An access point with spec.template.gatewayAPI has Gateway API objects for
// its gateway instead of an Istio Gateway and VirtualServices. Each cluster
// gets them in the access point's namespace, filled in as package gatewayapi
// says: a Gateway without addresses names the cluster's gateway Service in
// its gateway namespace (Istio's manual deployment, so the gateway workload
// that already runs there, behind the VIP, serves it); with spec.tls, its
// terminating listeners without certificateRefs reference the delivered
// certificate Secret in the gateway namespace, which a ReferenceGrant there
// lets the Gateways of the access point's namespace read (the Gateway API
// forbids a cross-namespace reference without one); a route without
// parentRefs is attached to the access point's only Gateway.
func gatewayAPIObjects(fap *trafficv1alpha1.FederatedAccessPoint, t *trafficv1alpha1.GatewayAPITemplate, gatewayNamespace string) ([]trafficv1alpha1.JSONObject, error) {
	if t == nil {
		return nil, nil
	}
	if gatewayNamespace == "" {
		gatewayNamespace = certsecret.DeliveryNamespace(nil)
	}
	var cert *gatewayapi.SecretRef
	if fap.Spec.TLS != nil {
		cert = &gatewayapi.SecretRef{Name: certsecret.CredentialName(fap.Namespace, fap.Name), Namespace: gatewayNamespace}
	}
	var parent string
	if len(t.Gateways) == 1 {
		parent = t.Gateways[0].Name
	}
	var out []trafficv1alpha1.JSONObject
	usesCert := false
	lists := t.Lists()
	for _, k := range trafficv1alpha1.GatewayAPIKinds {
		for _, item := range lists[k.List] {
			spec, err := decodeObject(item.Spec.Raw)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", k.Kind, item.Name, err)
			}
			if k.Kind == "Gateway" {
				usesCert = gatewayapi.FillGateway(spec, gatewayapi.ServiceHostname(gatewayNamespace), cert) || usesCert
			} else {
				gatewayapi.FillRoute(spec, parent)
			}
			obj, err := gatewayAPIObject(k.Kind, item.Name, fap.Namespace, spec)
			if err != nil {
				return nil, err
			}
			out = append(out, obj)
		}
	}
	if usesCert && gatewayNamespace != fap.Namespace {
		grant, err := certificateGrant(fap, *cert)
		if err != nil {
			return nil, err
		}
		out = append([]trafficv1alpha1.JSONObject{grant}, out...)
	}
	return out, nil
}

// certificateGrant is the ReferenceGrant, next to the certificate Secret,
// that lets the Gateways of the access point's namespace reference it, and
// nothing else.
func certificateGrant(fap *trafficv1alpha1.FederatedAccessPoint, cert gatewayapi.SecretRef) (trafficv1alpha1.JSONObject, error) {
	return gatewayAPIObject("ReferenceGrant", cert.Name, cert.Namespace, map[string]any{
		"from": []any{map[string]any{"group": trafficv1alpha1.GatewayAPIGroup, "kind": "Gateway", "namespace": fap.Namespace}},
		"to":   []any{map[string]any{"group": "", "kind": "Secret", "name": cert.Name}},
	})
}

// gatewayAPIObject is a Gateway API object of gateway.networking.k8s.io/v1.
func gatewayAPIObject(kind, name, namespace string, spec map[string]any) (trafficv1alpha1.JSONObject, error) {
	raw, err := json.Marshal(map[string]any{
		"apiVersion": trafficv1alpha1.GatewayAPIGroup + "/v1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       spec,
	})
	return trafficv1alpha1.JSONObject{Raw: raw}, err
}

// Reasons of the GatewayReady condition (with NotReported and NotObserved).
const (
	// ReasonProgrammed: the implementation accepted and programmed every
	// Gateway and accepted every route, its references resolved, on every
	// cluster that applied them.
	ReasonProgrammed = "Programmed"
	// ReasonGatewayRejected: a condition says otherwise (a Gateway not
	// Programmed, a listener or a route's references not resolved, ...).
	ReasonGatewayRejected = "Rejected"
)

// gatewayConditions are the conditions that must be True on a Gateway, on
// its listeners when present, and on each parent of a route; a listener's
// Conflicted must not be True.
var (
	gatewayConditions  = []string{"Accepted", "Programmed"}
	listenerConditions = []string{"Accepted", "Programmed", "ResolvedRefs"}
	routeConditions    = []string{"Accepted", "ResolvedRefs"}
)

// gatewayReadyCondition is GatewayReady: what the gateway implementation
// reports on the Gateway API objects of every cluster that applied the
// access point (phase Applied). It is False (Rejected) when a condition
// tells of a problem, Unknown while some object has no status from the
// implementation (NotReported: none runs, or it has not got to the object)
// or only one observed for an older generation of the object (NotObserved),
// True otherwise. The message names the cluster and the object.
func gatewayReadyCondition(clusters []trafficv1alpha1.ClusterStatus) metav1.Condition {
	var rejected []string
	// unknown are the objects without a usable word from the
	// implementation, with the reason why.
	var unknown [][2]string
	notReported := func(msg string) { unknown = append(unknown, [2]string{ReasonNotReported, msg}) }
	applied := 0
	for _, c := range clusters {
		if c.Phase != trafficv1alpha1.ClusterPhaseApplied {
			continue
		}
		applied++
		if c.GatewayAPI == nil || len(c.GatewayAPI.Gateways) == 0 {
			notReported(c.Name + ": no status of its Gateway API objects")
			continue
		}
		check := func(what string, generation int64, conds []metav1.Condition, required []string) {
			for _, t := range required {
				cond := meta.FindStatusCondition(conds, t)
				switch {
				case cond == nil:
					notReported(fmt.Sprintf("%s: %s: no %s condition from the gateway implementation", c.Name, what, t))
				case cond.Status == metav1.ConditionFalse:
					rejected = append(rejected, fmt.Sprintf("%s: %s: %s=False (%s): %s", c.Name, what, t, cond.Reason, cond.Message))
				case cond.ObservedGeneration != 0 && cond.ObservedGeneration < generation:
					unknown = append(unknown, [2]string{ReasonNotObserved,
						fmt.Sprintf("%s: %s: %s observed for generation %d, not %d", c.Name, what, t, cond.ObservedGeneration, generation)})
				case cond.Status != metav1.ConditionTrue:
					unknown = append(unknown, [2]string{ReasonNotReported,
						fmt.Sprintf("%s: %s: %s=%s (%s): %s", c.Name, what, t, cond.Status, cond.Reason, cond.Message)})
				}
			}
		}
		for _, gw := range c.GatewayAPI.Gateways {
			what := "Gateway " + gw.Name
			check(what, gw.Generation, gw.Conditions, gatewayConditions)
			for _, l := range gw.Listeners {
				lwhat := what + " listener " + l.Name
				var present []string
				for _, t := range listenerConditions {
					if meta.FindStatusCondition(l.Conditions, t) != nil {
						present = append(present, t)
					}
				}
				check(lwhat, gw.Generation, l.Conditions, present)
				if cond := meta.FindStatusCondition(l.Conditions, "Conflicted"); cond != nil && cond.Status == metav1.ConditionTrue {
					rejected = append(rejected, fmt.Sprintf("%s: %s: Conflicted=True (%s): %s", c.Name, lwhat, cond.Reason, cond.Message))
				}
			}
		}
		for _, r := range c.GatewayAPI.Routes {
			what := r.Kind + " " + r.Name
			if len(r.Parents) == 0 {
				notReported(fmt.Sprintf("%s: %s: no parent in its status from the gateway implementation", c.Name, what))
			}
			for _, p := range r.Parents {
				check(what+" on "+p.ParentRef, r.Generation, p.Conditions, routeConditions)
			}
		}
	}
	cond := metav1.Condition{Type: trafficv1alpha1.AccessPointGatewayReady}
	switch {
	case len(rejected) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonGatewayRejected, firstOf(rejected)
	case applied == 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, ReasonNotReported, "no cluster has applied the Gateway API objects yet"
	case len(unknown) > 0:
		msgs := make([]string, len(unknown))
		for i, u := range unknown {
			msgs[i] = u[1]
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, unknown[0][0], firstOf(msgs)
		if cond.Reason == ReasonNotReported {
			cond.Message += " (does an implementation of the Gateways' gatewayClassName run in the cluster?)"
		}
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonProgrammed
		cond.Message = fmt.Sprintf("the gateway implementation programmed the Gateways and accepted the routes on %d clusters", applied)
	}
	return cond
}

// firstOf is the first of problems, and how many more there are.
func firstOf(problems []string) string {
	if len(problems) == 1 {
		return problems[0]
	}
	return fmt.Sprintf("%s; and %d more", problems[0], len(problems)-1)
}
