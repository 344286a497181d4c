package validation

import (
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
)

// ValidateHostGrant checks a HostGrant: valid host names or wildcards, and
// at least one of namespaces and namespaceSelector.
func ValidateHostGrant(g *traffic.HostGrant) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&g.ObjectMeta, false, nameIsSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	allErrs = append(allErrs, validateHosts(g.Spec.Hosts, specPath.Child("hosts"))...)
	for i, ns := range g.Spec.Namespaces {
		for _, msg := range apimachineryvalidation.ValidateNamespaceName(ns, false) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("namespaces").Index(i), ns, msg))
		}
	}
	if g.Spec.NamespaceSelector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(g.Spec.NamespaceSelector,
			metav1validation.LabelSelectorValidationOptions{}, specPath.Child("namespaceSelector"))...)
	}
	if len(g.Spec.Namespaces) == 0 && g.Spec.NamespaceSelector == nil {
		allErrs = append(allErrs, field.Required(specPath.Child("namespaces"), "namespaces or namespaceSelector is required"))
	}
	return allErrs
}

// ValidateHostGrantUpdate checks an update of a HostGrant.
func ValidateHostGrantUpdate(g, old *traffic.HostGrant) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&g.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateHostGrant(g)...)
}
