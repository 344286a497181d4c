// Package apply applies the manifests of a ClusterAccessPoint to a member cluster
// with server-side apply (field manager "portico"): Istio kinds through
// istio.io/client-go's typed clientset, core kinds through client-go. Every applied
// object carries the label portico.dev/access-point=<namespace>.<name>, which is how
// pruning and drift repair find them.
package apply

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Label marks every object applied for a ClusterAccessPoint; its value is the
// ClusterAccessPoint's name (<access point namespace>.<access point name>).
const Label = "portico.dev/access-point"

// FieldManager owns the fields the agent applies.
const FieldManager = "portico"

// Object is one manifest of a ClusterAccessPoint.
type Object struct {
	Ref
	// Raw is the complete object as JSON, with the access point label set.
	Raw []byte
}

// Ref identifies an object in the member cluster.
type Ref struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return fmt.Sprintf("%s %s", r.GVK.Kind, r.Name)
	}
	return fmt.Sprintf("%s %s/%s", r.GVK.Kind, r.Namespace, r.Name)
}

// Parse reads a manifest, checks that its kind is one the agent applies, and sets
// the access point label. Namespaced objects without a namespace go to "default".
func Parse(raw []byte, accessPoint string) (Object, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Object{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return Object{}, err
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return Object{}, err
	}
	gvk := gv.WithKind(head.Kind)
	kind, ok := kinds[gvk.GroupKind()]
	if !ok {
		return Object{}, fmt.Errorf("kind %s is not one the member-agent applies", gvk.GroupKind())
	}
	ref := Ref{GVK: gvk, Namespace: head.Metadata.Namespace, Name: head.Metadata.Name}
	if kind.namespaced && ref.Namespace == "" {
		ref.Namespace = metav1.NamespaceDefault
	}
	if !kind.namespaced {
		ref.Namespace = ""
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[Label] = LabelValue(accessPoint)
	meta["labels"], meta["namespace"] = labels, ref.Namespace
	if ref.Namespace == "" {
		delete(meta, "namespace")
	}
	obj["metadata"] = meta
	out, err := json.Marshal(obj)
	return Object{Ref: ref, Raw: out}, err
}

// Applier applies, lists and deletes objects in a member cluster.
type Applier interface {
	// Apply applies one object with server-side apply, taking ownership of its fields.
	Apply(ctx context.Context, obj Object) error
	// EnsureNamespace creates a namespace if it does not exist.
	EnsureNamespace(ctx context.Context, name string) error
	// List returns the objects labelled for an access point ("" for all labelled).
	List(ctx context.Context, accessPoint string) ([]Labelled, error)
	// Delete deletes an object; a missing object is not an error.
	Delete(ctx context.Context, ref Ref) error
}
