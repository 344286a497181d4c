// Package gatewayapischema validates the Kubernetes Gateway API specs embedded
// in Portico objects against the structural schemas and CEL rules of the
// Gateway API's own CustomResourceDefinitions (gateway.networking.k8s.io/v1,
// standard channel, at the sigs.k8s.io/gateway-api version pinned in go.mod),
// with package crdschema, so that a spec Portico accepts is one the Gateway
// API CRDs in a member cluster accept too. Unlike Istio's, these schemas check
// ports, hostnames and references themselves: nothing is added on top.
//
// The schemas are compiled into the binary (zz_generated.schemas.go); nothing
// is read at run time.
package gatewayapischema

//go:generate go run ../../../hack/gen-crd-schemas -source gateway-api -out zz_generated.schemas.go

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/registry/traffic/crdschema"
)

// Kinds lists the supported kinds.
var Kinds = []string{"Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"}

// validators validates each kind against its CRD schema.
var validators = crdschema.NewSet(Kinds, specSchemas)

// ValidateSpec validates one Gateway API spec (JSON object bytes) of the
// given kind. fldPath is the path of the spec inside the Portico object, e.g.
// field.NewPath("spec", "template", "gatewayAPI", "httpRoutes").Index(0).Child("spec");
// errors carry full paths below it, e.g.
// spec.template.gatewayAPI.httpRoutes[0].spec.rules[0].matches[0].path.type.
func ValidateSpec(ctx context.Context, kind string, spec []byte, fldPath *field.Path) field.ErrorList {
	_, errs := validators.Validate(ctx, kind, spec, fldPath)
	return errs
}
