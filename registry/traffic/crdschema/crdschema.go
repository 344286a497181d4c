// Package crdschema validates a spec embedded in a Portico object against the
// spec schema of a CustomResourceDefinition (its structural schema and CEL
// rules) with the validators of k8s.io/apiextensions-apiserver, running the
// checks the Kubernetes API server runs for a custom resource of that CRD, in
// the same order. Packages istioschema and gatewayapischema hold the schemas
// (generated from the pinned modules' CRDs) and add their own checks.
package crdschema

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	sigsjson "sigs.k8s.io/json"
)

// Validator holds the validators of one spec schema, compiled on first use.
// It is safe for concurrent use.
type Validator struct {
	kind   string
	schema string
	once   sync.Once

	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no x-kubernetes-validations
	err        error
}

// New returns the validator of kind's spec schema, the JSON of an OpenAPI v3
// schema as a CRD version holds it under properties.spec.
func New(kind, schema string) *Validator {
	return &Validator{kind: kind, schema: schema}
}

// Compile compiles the schema (once) and returns the error that made it fail.
func (v *Validator) Compile() error {
	v.once.Do(func() { v.err = v.compile() })
	return v.err
}

// HasCEL tells whether the schema has CEL rules (x-kubernetes-validations).
func (v *Validator) HasCEL() bool { return v.Compile() == nil && v.cel != nil }

func (v *Validator) compile() error {
	var external apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal([]byte(v.schema), &external); err != nil {
		return fmt.Errorf("decoding the %s spec schema: %w", v.kind, err)
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&external, internal, nil); err != nil {
		return fmt.Errorf("converting the %s spec schema: %w", v.kind, err)
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return fmt.Errorf("the %s spec schema is not structural: %w", v.kind, err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return fmt.Errorf("building the %s schema validator: %w", v.kind, err)
	}
	v.structural = s
	v.validator = sv
	// The spec is not the root of a resource: no apiVersion/kind/metadata.
	v.cel = cel.NewValidator(s, false, celconfig.PerCallLimit)
	return nil
}

// Validate validates one spec (JSON object bytes). fldPath is the path of the
// spec inside the Portico object; errors carry full paths below it. It
// returns the spec as the API server would validate it (unknown fields and
// nulls of non-nullable fields dropped, defaults applied), nil when the spec
// is not a JSON object; spec itself is not modified.
//
// The checks are those the API server runs for a custom resource: duplicate
// and unknown fields (pruning), defaulting, the OpenAPI schema, list-type
// invariants, then the CEL rules, which are skipped (with an error saying so)
// when the spec is too broken for them.
func (v *Validator) Validate(ctx context.Context, spec []byte, fldPath *field.Path) (map[string]any, field.ErrorList) {
	if err := v.Compile(); err != nil {
		return nil, field.ErrorList{field.InternalError(fldPath, err)}
	}
	var decoded any
	strictErrs, err := sigsjson.UnmarshalStrict(spec, &decoded, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(fldPath, field.OmitValueType{}, fmt.Sprintf("must be a JSON object: %v", err))}
	}
	obj, ok := decoded.(map[string]any)
	if !ok {
		return nil, field.ErrorList{field.Invalid(fldPath, field.OmitValueType{}, fmt.Sprintf("must be a JSON object, not %s", jsonTypeName(decoded)))}
	}

	var errs field.ErrorList
	for _, e := range strictErrs {
		p := fldPath
		if fe, ok := e.(sigsjson.FieldError); ok {
			p = childPath(fldPath, fe.FieldPath())
		}
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "duplicate field"))
	}

	// Like the API server's decoder: drop (and here, report) unknown fields,
	// then drop nulls of non-nullable fields and apply the schema's defaults,
	// so that the validators below see what the API server would store.
	unknown := rootMetaFields(obj, v.structural)
	unknown = append(unknown, structuralpruning.PruneWithOptions(obj, v.structural, false, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	for _, u := range unknown {
		errs = append(errs, field.Forbidden(childPath(fldPath, u), "unknown field"))
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	structuraldefaulting.Default(obj, v.structural)

	errs = append(errs, apiservervalidation.ValidateCustomResource(fldPath, obj, v.validator)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(fldPath, v.structural, obj)...)
	if v.cel != nil {
		if hasBlockingErr(errs) {
			errs = append(errs, field.Invalid(fldPath, field.OmitValueType{},
				"some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
		} else {
			celErrs, _ := v.cel.Validate(ctx, fldPath, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
			errs = append(errs, celErrs...)
		}
	}
	return obj, errs
}

// rootMetaFields returns the fields apiVersion, kind and metadata of obj that
// s does not define. The pruning algorithm drops them at the root without
// reporting them, since at the root of a resource they are handled elsewhere;
// in a spec they are just unknown fields.
func rootMetaFields(obj map[string]any, s *structuralschema.Structural) []string {
	if s.XPreserveUnknownFields || s.AdditionalProperties != nil {
		return nil
	}
	var unknown []string
	for _, k := range []string{"apiVersion", "kind", "metadata"} {
		if _, defined := s.Properties[k]; !defined {
			if _, present := obj[k]; present {
				unknown = append(unknown, k)
			}
		}
	}
	return unknown
}

// hasBlockingErr reports whether errs contains an error after which the CEL
// rules cannot be evaluated meaningfully (the API server's criterion).
func hasBlockingErr(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}

// childPath appends rel, a path such as "http[0].route" relative to base, to base.
func childPath(base *field.Path, rel string) *field.Path {
	if rel == "" {
		return base
	}
	return base.Child(rel)
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// Set validates the specs of several kinds, each against its own schema.
type Set struct {
	validators map[string]*Validator
	kinds      []string
}

// NewSet builds a validator for each kind from schemas (kind -> the CRD's
// spec schema). The kinds are copied: changing the caller's slice later
// changes nothing here.
func NewSet(kinds []string, schemas map[string]string) *Set {
	s := &Set{validators: make(map[string]*Validator, len(kinds)), kinds: append([]string(nil), kinds...)}
	for _, k := range kinds {
		s.validators[k] = New(k, schemas[k])
	}
	return s
}

// Validate validates one spec of kind (see Validator.Validate); a kind
// outside the set is NotSupported at fldPath.
func (s *Set) Validate(ctx context.Context, kind string, spec []byte, fldPath *field.Path) (map[string]any, field.ErrorList) {
	v, ok := s.validators[kind]
	if !ok {
		return nil, field.ErrorList{field.NotSupported(fldPath, kind, s.kinds)}
	}
	return v.Validate(ctx, spec, fldPath)
}

// Kind returns the validator of kind, nil outside the set.
func (s *Set) Kind(kind string) *Validator { return s.validators[kind] }
