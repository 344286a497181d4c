package federatedaccesspoint

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/overrides"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/traffic/istioschema"
)

// ValidateTemplates checks every Istio template against Istio's schema for its kind,
// then gives each cluster's overrides to overrides.ForCluster, as the renderer
// does, and checks the patched copy the same way. A patch that does not apply is
// an error at its own path.
func ValidateTemplates(ctx context.Context, spec *traffic.FederatedAccessPointSpec) field.ErrorList {
	var versioned v1alpha1.FederatedAccessPointSpec
	if err := v1alpha1.Convert_traffic_FederatedAccessPointSpec_To_v1alpha1_FederatedAccessPointSpec(spec, &versioned, nil); err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec"), err)}
	}
	if errs := validateTemplate(ctx, &versioned.Template, &versioned); len(errs) > 0 {
		// The overrides are only worth checking on a valid template.
		return errs
	}
	var allErrs field.ErrorList
	for i, o := range versioned.Overrides {
		allErrs = append(allErrs, validateOverride(ctx, &versioned, o.ClusterName, field.NewPath("spec", "overrides").Index(i))...)
	}
	return allErrs
}

func validateOverride(ctx context.Context, spec *v1alpha1.FederatedAccessPointSpec, cluster string, fldPath *field.Path) field.ErrorList {
	tmpl, err := overrides.ForCluster(spec, cluster)
	if err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("clusterOverrides"), cluster, err.Error())}
	}
	if err := sameNames(&spec.Template, tmpl); err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("clusterOverrides"), cluster, err.Error())}
	}
	errs := append(gatewayChoice(tmpl, field.NewPath("spec", "template")), validateTemplate(ctx, tmpl, spec)...)
	for _, e := range errs {
		e.Detail = fmt.Sprintf("%s (with the overrides of cluster %q, %s)", e.Detail, cluster, fldPath)
	}
	return errs
}

// sameNames checks that overrides neither rename templates nor add new ones; they
// may remove some.
func sameNames(orig, patched *v1alpha1.AccessPointTemplate) error {
	// Every list by its path in the template.
	before, after := orig.Lists(), patched.Lists()
	lists := make([]string, 0, len(v1alpha1.TemplateKinds)+len(v1alpha1.GatewayAPIKinds))
	for _, tk := range v1alpha1.TemplateKinds {
		lists = append(lists, tk.List)
	}
	beforeAPI, afterAPI := orig.GatewayAPI.Lists(), patched.GatewayAPI.Lists()
	for _, gk := range v1alpha1.GatewayAPIKinds {
		list := "gatewayAPI." + gk.List
		before[list], after[list] = beforeAPI[gk.List], afterAPI[gk.List]
		lists = append(lists, list)
	}
	for _, list := range lists {
		known := map[string]bool{}
		for _, item := range before[list] {
			known[item.Name] = true
		}
		for _, item := range after[list] {
			if !known[item.Name] {
				return fmt.Errorf("overrides may not rename or add templates: %s %q is not in spec.template", list, item.Name)
			}
		}
	}
	return nil
}

func validateTemplate(ctx context.Context, tmpl *v1alpha1.AccessPointTemplate, spec *v1alpha1.FederatedAccessPointSpec) field.ErrorList {
	hosts := spec.Hosts
	var allErrs field.ErrorList
	tmplPath := field.NewPath("spec", "template")
	if tmpl.Gateway != nil {
		allErrs = append(allErrs, istioschema.ValidateSpec(ctx, "Gateway", tmpl.Gateway.Raw, tmplPath.Child("gateway"))...)
		allErrs = append(allErrs, gatewayHosts(tmpl.Gateway.Raw, hosts, tmplPath.Child("gateway"))...)
		allErrs = append(allErrs, gatewaySelectorForPolicies(tmpl, tmplPath)...)
	}
	for i, vs := range tmpl.VirtualServices {
		allErrs = append(allErrs, virtualServiceHosts(vs.Spec.Raw, hosts, tmplPath.Child("virtualServices").Index(i).Child("spec", "hosts"))...)
	}
	lists := tmpl.Lists()
	for _, tk := range v1alpha1.TemplateKinds {
		for i, item := range lists[tk.List] {
			if len(item.Spec.Raw) == 0 {
				continue // reported as required by the API validation
			}
			allErrs = append(allErrs, istioschema.ValidateSpec(ctx, tk.Kind, item.Spec.Raw, tmplPath.Child(tk.List).Index(i).Child("spec"))...)
		}
	}
	if tmpl.GatewayAPI != nil {
		allErrs = append(allErrs, validateGatewayAPI(ctx, tmpl.GatewayAPI, spec, tmplPath.Child("gatewayAPI"))...)
	}
	return allErrs
}

// gatewayHosts checks that every host of the Gateway's servers
// ("namespace/host" or "host") is within the access point's hosts: a
// template may not take traffic for a host the access point does not claim.
func gatewayHosts(raw []byte, hosts []string, fldPath *field.Path) field.ErrorList {
	var gw struct {
		Servers []struct {
			Hosts []string `json:"hosts"`
		} `json:"servers"`
	}
	if json.Unmarshal(raw, &gw) != nil {
		return nil // reported by the schema check
	}
	var allErrs field.ErrorList
	for i, srv := range gw.Servers {
		for j, h := range srv.Hosts {
			name := h
			if _, after, ok := strings.Cut(h, "/"); ok {
				name = after
			}
			if !traffic.HostWithin(name, hosts) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("servers").Index(i).Child("hosts").Index(j), h,
					fmt.Sprintf("must be within spec.hosts %v", hosts)))
			}
		}
	}
	return allErrs
}

// policyLists are the template lists whose objects are scoped to the gateway
// workload when they have no selector, targetRef or targetRefs of their own.
var policyLists = []string{"authorizationPolicies", "requestAuthentications", "telemetries"}

// gatewaySelectorForPolicies refuses a Gateway without selector labels when a
// policy is scoped to the gateway workload: the policy gets the Gateway's
// selector, and an empty one would select every workload of the gateway
// namespace (of the whole mesh in Istio's root namespace).
func gatewaySelectorForPolicies(tmpl *v1alpha1.AccessPointTemplate, tmplPath *field.Path) field.ErrorList {
	var gw map[string]json.RawMessage
	if json.Unmarshal(tmpl.Gateway.Raw, &gw) != nil {
		return nil // reported by the schema check
	}
	raw, set := gw["selector"]
	var labels map[string]any
	if !set || json.Unmarshal(raw, &labels) != nil || len(labels) > 0 {
		return nil // absent: istio: ingressgateway; not an object: reported by the schema check
	}
	lists := tmpl.Lists()
	for _, list := range policyLists {
		for i, item := range lists[list] {
			if gatewayScoped(item.Spec.Raw) {
				return field.ErrorList{field.Invalid(tmplPath.Child("gateway", "selector"), field.OmitValueType{},
					fmt.Sprintf("must select the gateway workload: %s has no selector, targetRef or targetRefs, "+
						"so it applies to the gateway workload with the Gateway's selector", tmplPath.Child(list).Index(i)))}
			}
		}
	}
	return nil
}

// gatewayScoped tells whether a policy spec leaves its scope out (selector,
// targetRef and targetRefs absent, null or empty lists).
func gatewayScoped(raw []byte) bool {
	var spec map[string]any
	if json.Unmarshal(raw, &spec) != nil {
		return false
	}
	for _, k := range []string{"selector", "targetRef", "targetRefs"} {
		if l, isList := spec[k].([]any); spec[k] != nil && (!isList || len(l) > 0) {
			return false
		}
	}
	return true
}

// virtualServiceHosts checks that a VirtualService's hosts are within the
// access point's hosts. Mesh-internal names (no dot, or under .svc and
// .svc.cluster.local) are not internet hosts and are allowed.
func virtualServiceHosts(raw []byte, hosts []string, fldPath *field.Path) field.ErrorList {
	var vs struct {
		Hosts []string `json:"hosts"`
	}
	if json.Unmarshal(raw, &vs) != nil {
		return nil
	}
	var allErrs field.ErrorList
	for i, h := range vs.Hosts {
		internal := !strings.Contains(h, ".") || strings.HasSuffix(h, ".svc") || strings.HasSuffix(h, ".svc.cluster.local")
		if !internal && !traffic.HostWithin(h, hosts) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i), h, fmt.Sprintf("must be within spec.hosts %v", hosts)))
		}
	}
	return allErrs
}
