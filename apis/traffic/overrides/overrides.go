// Package overrides applies a FederatedAccessPoint's per-cluster overrides
// (kubefed-style JSON patches) to its template. It is the one implementation of
// them: the hub's write-time validation rejects overrides that fail here, and
// the renderer builds each cluster's objects with the same ForCluster.
package overrides

import (
	"encoding/json"
	"fmt"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Patch is one JSON-patch operation: op is add, remove or replace; value is JSON.
type Patch struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// ForCluster returns cluster's copy of spec.template: a deep copy with the
// overrides of that cluster applied in order. It fails when a patch does not
// apply ("does not apply to spec.template: ...") or when the patched document
// is no longer a template ("makes spec.template invalid: ...").
func ForCluster(spec *v1alpha1.FederatedAccessPointSpec, cluster string) (*v1alpha1.AccessPointTemplate, error) {
	tmpl := spec.Template.DeepCopy()
	for i := range spec.Overrides {
		if o := &spec.Overrides[i]; o.ClusterName == cluster {
			var err error
			if tmpl, err = apply(tmpl, o); err != nil {
				return nil, err
			}
		}
	}
	return tmpl, nil
}

// apply returns tmpl with the patches of o applied.
func apply(tmpl *v1alpha1.AccessPointTemplate, o *v1alpha1.ClusterOverride) (*v1alpha1.AccessPointTemplate, error) {
	doc, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("encoding spec.template: %w", err)
	}
	if doc, err = Apply(doc, patches(o)); err != nil {
		return nil, fmt.Errorf("does not apply to spec.template: %w", err)
	}
	patched := &v1alpha1.AccessPointTemplate{}
	if err := json.Unmarshal(doc, patched); err != nil {
		return nil, fmt.Errorf("makes spec.template invalid: %w", err)
	}
	return patched, nil
}

// patches converts a cluster's overrides to JSON patches.
func patches(o *v1alpha1.ClusterOverride) []Patch {
	patches := make([]Patch, 0, len(o.ClusterOverrides))
	for _, p := range o.ClusterOverrides {
		patch := Patch{Op: p.Op, Path: p.Path}
		if p.Value != nil {
			patch.Value = p.Value.Raw
		}
		patches = append(patches, patch)
	}
	return patches
}

// Apply applies the patches, in order, to a JSON document. It fails on the first
// patch that does not apply and says which one.
func Apply(doc []byte, patches []Patch) ([]byte, error) {
	for i, p := range patches {
		raw, err := json.Marshal([]Patch{p})
		if err != nil {
			return nil, err
		}
		patch, err := jsonpatch.DecodePatch(raw)
		if err != nil {
			return nil, fmt.Errorf("clusterOverrides[%d]: %w", i, err)
		}
		if doc, err = patch.Apply(doc); err != nil {
			return nil, fmt.Errorf("clusterOverrides[%d]: %s %s: %w", i, p.Op, p.Path, err)
		}
	}
	return doc, nil
}
