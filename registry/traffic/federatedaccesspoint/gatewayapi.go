package federatedaccesspoint

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/gatewayapi"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/traffic/gatewayapischema"
)

// validationNamespace stands for a member cluster's gateway namespace while
// validating: the fills only need to be valid, and the renderer fills in each
// cluster's own.
const validationNamespace = "istio-system"

// validateGatewayAPI checks the Gateway API templates against the Gateway API
// CRDs' schemas, as the renderer fills them (gatewayapi.FillGateway and
// FillRoute), and checks that they claim only the access point's hosts: a
// listener of protocol HTTP, HTTPS or TLS names one of them as its hostname
// (without one it would take every host of the shared gateway), and a route's
// hostnames are within them.
func validateGatewayAPI(ctx context.Context, t *v1alpha1.GatewayAPITemplate, spec *v1alpha1.FederatedAccessPointSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var cert *gatewayapi.SecretRef
	if spec.TLS != nil {
		cert = &gatewayapi.SecretRef{Name: "certificate", Namespace: validationNamespace}
	}
	for i, gw := range t.Gateways {
		specPath := fldPath.Child("gateways").Index(i).Child("spec")
		allErrs = append(allErrs, validateFilled(ctx, "Gateway", gw.Spec.Raw, specPath, func(obj map[string]any) field.ErrorList {
			gatewayapi.FillGateway(obj, gatewayapi.ServiceHostname(validationNamespace), cert)
			return listenerHosts(obj, spec.Hosts, specPath)
		})...)
	}
	var parent string
	if len(t.Gateways) == 1 {
		parent = t.Gateways[0].Name
	}
	lists := t.Lists()
	for _, gk := range v1alpha1.GatewayAPIKinds[1:] {
		for i, route := range lists[gk.List] {
			specPath := fldPath.Child(gk.List).Index(i).Child("spec")
			allErrs = append(allErrs, validateFilled(ctx, gk.Kind, route.Spec.Raw, specPath, func(obj map[string]any) field.ErrorList {
				if !gatewayapi.FillRoute(obj, parent) && !gatewayapi.HasParentRefs(obj) {
					return field.ErrorList{field.Required(specPath.Child("parentRefs"),
						fmt.Sprintf("the access point has %d Gateways: name the route's in parentRefs", len(t.Gateways)))}
				}
				return routeHosts(obj, spec.Hosts, specPath)
			})...)
		}
	}
	return allErrs
}

// validateFilled decodes a template spec, lets fill add what the renderer
// adds (and report Portico's own errors), and validates the result against
// the kind's schema. A spec that is not a JSON object is reported by the
// schema check.
func validateFilled(ctx context.Context, kind string, raw []byte, fldPath *field.Path, fill func(map[string]any) field.ErrorList) field.ErrorList {
	if len(raw) == 0 {
		return nil // reported as required by the API validation
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return gatewayapischema.ValidateSpec(ctx, kind, raw, fldPath)
	}
	own := fill(obj)
	filled, err := json.Marshal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(fldPath, err)}
	}
	errs := gatewayapischema.ValidateSpec(ctx, kind, filled, fldPath)
	reported := map[string]bool{}
	for _, e := range errs {
		reported[e.Field] = true
	}
	for _, e := range own {
		if !reported[e.Field] {
			errs = append(errs, e)
		}
	}
	return errs
}

// hostProtocols are the listener protocols that match hostnames.
var hostProtocols = map[any]bool{"HTTP": true, "HTTPS": true, "TLS": true}

// listenerHosts checks that every listener of protocol HTTP, HTTPS or TLS
// names a hostname within the access point's hosts.
func listenerHosts(gw map[string]any, hosts []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	listeners, _ := gw["listeners"].([]any)
	for i, l := range listeners {
		listener, _ := l.(map[string]any)
		if listener == nil || !hostProtocols[listener["protocol"]] {
			continue
		}
		p := fldPath.Child("listeners").Index(i).Child("hostname")
		switch h, _ := listener["hostname"].(string); {
		case h == "":
			allErrs = append(allErrs, field.Required(p, fmt.Sprintf(
				"one of spec.hosts %v: a listener without hostname takes every host of the gateway", hosts)))
		case !traffic.HostWithin(h, hosts):
			allErrs = append(allErrs, field.Invalid(p, h, fmt.Sprintf("must be within spec.hosts %v", hosts)))
		}
	}
	return allErrs
}

// routeHosts checks that a route's hostnames are within the access point's
// hosts.
func routeHosts(route map[string]any, hosts []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names, _ := route["hostnames"].([]any)
	for i, n := range names {
		if h, ok := n.(string); ok && !traffic.HostWithin(h, hosts) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("hostnames").Index(i), h, fmt.Sprintf("must be within spec.hosts %v", hosts)))
		}
	}
	return allErrs
}

// gatewayChoice checks a cluster's template (the template with a cluster's
// overrides, which the API validation does not see) as the API validation
// checks the template: Istio networking or the Gateway API for its gateway,
// not both, and a Gateway API one has a Gateway.
func gatewayChoice(tmpl *v1alpha1.AccessPointTemplate, tmplPath *field.Path) field.ErrorList {
	if tmpl.GatewayAPI == nil {
		return nil
	}
	const both = "an access point uses Istio networking or the Gateway API for its gateway, not both"
	var allErrs field.ErrorList
	if len(tmpl.GatewayAPI.Gateways) == 0 {
		allErrs = append(allErrs, field.Required(tmplPath.Child("gatewayAPI", "gateways"), "the access point's Gateway"))
	}
	if tmpl.Gateway != nil {
		allErrs = append(allErrs, field.Forbidden(tmplPath.Child("gateway"), both))
	}
	if len(tmpl.VirtualServices) > 0 {
		allErrs = append(allErrs, field.Forbidden(tmplPath.Child("virtualServices"), both))
	}
	return allErrs
}
