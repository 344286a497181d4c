// Package fieldselector registers the field selectors that Portico's kinds
// support. Each kind declares its selectable fields once, as a function from an
// object to its fields.Set (next to its internal type): storage selects with
// that function, and the names registered here are derived from it.
package fieldselector

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The metadata fields every kind supports; metadata.namespace only has a value
// for namespaced kinds.
const (
	MetadataName      = "metadata.name"
	MetadataNamespace = "metadata.namespace"
)

// Names returns, sorted, the fields that fieldsOf declares, read off an empty
// object: fieldsOf must set every field it supports, whatever the object holds.
func Names[T any](fieldsOf func(*T) fields.Set) []string {
	var names []string
	for name := range fieldsOf(new(T)) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Register declares, for each kind of gv, the fields (besides metadata.name and
// metadata.namespace) that a field selector may name.
func Register(scheme *runtime.Scheme, gv schema.GroupVersion, selectable map[string][]string) error {
	for kind, names := range selectable {
		if err := scheme.AddFieldLabelConversionFunc(gv.WithKind(kind), conversion(kind, names)); err != nil {
			return err
		}
	}
	return nil
}

func conversion(kind string, names []string) runtime.FieldLabelConversionFunc {
	return func(label, value string) (string, string, error) {
		if label == MetadataName || label == MetadataNamespace || slices.Contains(names, label) {
			return label, value, nil
		}
		return "", "", fmt.Errorf("field label not supported for %s: %s", kind, label)
	}
}
