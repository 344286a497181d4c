package apiserver

import (
	"strings"

	"k8s.io/kube-openapi/pkg/common"
)

// OpenAPIDefinitions marks Portico's verbatim JSON types (Istio specs, manifests,
// patch values) as free-form, so that kubectl explain documents them and
// server-side apply keeps their content.
func OpenAPIDefinitions(get common.GetOpenAPIDefinitions) common.GetOpenAPIDefinitions {
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		defs := get(ref)
		for name, def := range defs {
			if strings.HasSuffix(name, "/apis/traffic/v1alpha1.JSONObject") || strings.HasSuffix(name, "/apis/traffic/v1alpha1.JSONValue") {
				def.Schema.VendorExtensible.AddExtension("x-kubernetes-preserve-unknown-fields", true)
				defs[name] = def
			}
		}
		return defs
	}
}
