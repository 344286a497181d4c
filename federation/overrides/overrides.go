// Package overrides applies kubefed-style per-cluster JSON patches to an access
// point's template. The registry uses it to reject patches that fail at write time;
// the renderer uses it to produce each cluster's objects.
package overrides

import (
	"encoding/json"
	"fmt"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

// Patch is one JSON-patch operation: op is add, remove or replace; value is JSON.
type Patch struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
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
