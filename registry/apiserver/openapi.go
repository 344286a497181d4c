package apiserver

import (
	"k8s.io/kube-openapi/pkg/common"

	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// OpenAPIDefinitions marks Portico's verbatim JSON types (Istio specs, manifests,
// patch values) as free-form, so that kubectl explain documents them and
// server-side apply keeps their content.
func OpenAPIDefinitions(get common.GetOpenAPIDefinitions) common.GetOpenAPIDefinitions {
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		defs := get(ref)
		for _, name := range []string{v1alpha1.JSONObject{}.OpenAPIModelName(), v1alpha1.JSONValue{}.OpenAPIModelName()} {
			def := defs[name]
			def.Schema.VendorExtensible.AddExtension("x-kubernetes-preserve-unknown-fields", true)
			defs[name] = def
		}
		return defs
	}
}
