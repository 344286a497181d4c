package v1alpha1

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// JSONObject is a JSON object kept verbatim: an Istio spec or a complete Kubernetes
// object. The hub validates its content against the schema of its kind.
// Server-side apply treats it as one value (atomic): a manager owns and
// replaces the whole object, as strategic merge patches do, and the managed
// fields do not list its content.
// +mapType=atomic
type JSONObject struct {
	Raw []byte `json:"-"`
}

// MarshalJSON returns the raw object, or null when empty.
func (j JSONObject) MarshalJSON() ([]byte, error) { return marshalRaw(j.Raw) }

// UnmarshalJSON keeps a copy of the object.
func (j *JSONObject) UnmarshalJSON(data []byte) error {
	if d := bytes.TrimSpace(data); len(d) > 0 && d[0] != '{' && !bytes.Equal(d, null) {
		// A type error lets the decoder name the field.
		return &json.UnmarshalTypeError{Value: jsonKind(d[0]), Type: reflect.TypeOf(j).Elem()}
	}
	j.Raw = unmarshalRaw(data)
	return nil
}

// OpenAPISchemaType is used by the OpenAPI generator.
func (JSONObject) OpenAPISchemaType() []string { return []string{"object"} }

// OpenAPISchemaFormat is used by the OpenAPI generator.
func (JSONObject) OpenAPISchemaFormat() string { return "" }

// JSONValue is any JSON value kept verbatim (a JSON-patch value).
type JSONValue struct {
	Raw []byte `json:"-"`
}

// MarshalJSON returns the raw value, or null when empty.
func (j JSONValue) MarshalJSON() ([]byte, error) { return marshalRaw(j.Raw) }

// UnmarshalJSON keeps a copy of the value.
func (j *JSONValue) UnmarshalJSON(data []byte) error {
	j.Raw = unmarshalRaw(data)
	return nil
}

// OpenAPISchemaType is used by the OpenAPI generator: any type.
func (JSONValue) OpenAPISchemaType() []string { return nil }

// OpenAPISchemaFormat is used by the OpenAPI generator.
func (JSONValue) OpenAPISchemaFormat() string { return "" }

var null = []byte("null")

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	default:
		return "number"
	}
}

func marshalRaw(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return null, nil
	}
	return raw, nil
}

func unmarshalRaw(data []byte) []byte {
	if bytes.Equal(bytes.TrimSpace(data), null) {
		return nil
	}
	return bytes.Clone(data)
}
