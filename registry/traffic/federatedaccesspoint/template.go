package federatedaccesspoint

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/overrides"
	"github.com/portico-dev/portico/registry/traffic/istioschema"
)

// ValidateTemplates checks every Istio template against Istio's schema for its kind,
// then applies each cluster's overrides and checks the patched copy the same way. A
// patch that does not apply is an error at its own path.
func ValidateTemplates(ctx context.Context, spec *traffic.FederatedAccessPointSpec) field.ErrorList {
	var tmpl v1alpha1.AccessPointTemplate
	if err := v1alpha1.Convert_traffic_AccessPointTemplate_To_v1alpha1_AccessPointTemplate(&spec.Template, &tmpl, nil); err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec", "template"), err)}
	}
	if errs := validateTemplate(ctx, &tmpl); len(errs) > 0 {
		// The overrides are only worth checking on a valid template.
		return errs
	}
	doc, err := json.Marshal(&tmpl)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec", "template"), err)}
	}
	var allErrs field.ErrorList
	for i, o := range spec.Overrides {
		allErrs = append(allErrs, validateOverride(ctx, doc, &tmpl, &o, field.NewPath("spec", "overrides").Index(i))...)
	}
	return allErrs
}

func validateOverride(ctx context.Context, doc []byte, orig *v1alpha1.AccessPointTemplate, o *traffic.ClusterOverride, fldPath *field.Path) field.ErrorList {
	patched, err := overrides.Apply(doc, Patches(o))
	if err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("clusterOverrides"), o.ClusterName, "does not apply to spec.template: "+err.Error())}
	}
	var tmpl v1alpha1.AccessPointTemplate
	if err := json.Unmarshal(patched, &tmpl); err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("clusterOverrides"), o.ClusterName, "makes spec.template invalid: "+err.Error())}
	}
	if err := sameNames(orig, &tmpl); err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("clusterOverrides"), o.ClusterName, err.Error())}
	}
	errs := validateTemplate(ctx, &tmpl)
	for _, e := range errs {
		e.Detail = fmt.Sprintf("%s (with the overrides of cluster %q, %s)", e.Detail, o.ClusterName, fldPath)
	}
	return errs
}

// Patches converts a cluster's overrides to JSON patches.
func Patches(o *traffic.ClusterOverride) []overrides.Patch {
	patches := make([]overrides.Patch, 0, len(o.ClusterOverrides))
	for _, p := range o.ClusterOverrides {
		patch := overrides.Patch{Op: p.Op, Path: p.Path}
		if p.Value != nil {
			patch.Value = p.Value.Raw
		}
		patches = append(patches, patch)
	}
	return patches
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
