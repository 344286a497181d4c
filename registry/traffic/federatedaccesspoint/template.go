package federatedaccesspoint

import (
	"context"
	"fmt"

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
	if errs := validateTemplate(ctx, &versioned.Template); len(errs) > 0 {
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
	errs := validateTemplate(ctx, tmpl)
	for _, e := range errs {
		e.Detail = fmt.Sprintf("%s (with the overrides of cluster %q, %s)", e.Detail, cluster, fldPath)
	}
	return errs
}

// sameNames checks that overrides neither rename templates nor add new ones; they
// may remove some.
func sameNames(orig, patched *v1alpha1.AccessPointTemplate) error {
	before, after := orig.Lists(), patched.Lists()
	for _, tk := range v1alpha1.TemplateKinds {
		known := map[string]bool{}
		for _, item := range before[tk.List] {
			known[item.Name] = true
		}
		for _, item := range after[tk.List] {
			if !known[item.Name] {
				return fmt.Errorf("overrides may not rename or add templates: %s %q is not in spec.template", tk.List, item.Name)
			}
		}
	}
	return nil
}

func validateTemplate(ctx context.Context, tmpl *v1alpha1.AccessPointTemplate) field.ErrorList {
	var allErrs field.ErrorList
	tmplPath := field.NewPath("spec", "template")
	if tmpl.Gateway != nil {
		allErrs = append(allErrs, istioschema.ValidateSpec(ctx, "Gateway", tmpl.Gateway.Raw, tmplPath.Child("gateway"))...)
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
	return allErrs
}
