// Package fieldselector registers the field selectors that Portico's kinds support.
package fieldselector

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Register declares, for each kind of gv, the fields (besides metadata.name and
// metadata.namespace) that a field selector may name.
func Register(scheme *runtime.Scheme, gv schema.GroupVersion, selectable map[string][]string) error {
	for kind, fields := range selectable {
		if err := scheme.AddFieldLabelConversionFunc(gv.WithKind(kind), conversion(kind, fields)); err != nil {
			return err
		}
	}
	return nil
}

func conversion(kind string, fields []string) runtime.FieldLabelConversionFunc {
	return func(label, value string) (string, string, error) {
		if label == "metadata.name" || label == "metadata.namespace" || slices.Contains(fields, label) {
			return label, value, nil
		}
		return "", "", fmt.Errorf("field label not supported for %s: %s", kind, label)
	}
}
