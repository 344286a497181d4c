// Package cachetrim holds informer transforms that drop what the components
// never read from the objects their caches keep.
package cachetrim

import "k8s.io/apimachinery/pkg/api/meta"

// StripManagedFields drops an object's managedFields (a cache.TransformFunc).
// They are often the larger part of an object's metadata, and no controller
// reads them. An object from such a cache can still be sent in an update: the
// API server keeps the managedFields of an update that omits them.
func StripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
