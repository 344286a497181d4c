// Package apply applies the manifests of a ClusterAccessPoint to a member cluster
// with server-side apply (field manager "portico"). A manifest is applied as
// the JSON it is, through the metadata client, so only the object's metadata
// comes back; the Gateway API kinds whose status Portico reports through the
// dynamic client, whose reply carries it. The member cluster validates every
// object against its own schema: the agent needs no Go types, clientsets or
// schemes of Istio or the Gateway API.
//
// Every applied object carries the label portico.dev/access-point=<namespace>.<name>,
// which is how pruning and drift repair find them, and the annotation
// portico.dev/owner-uid=<ClusterAccessPoint UID>, which is what makes it the
// access point's: the agent writes over and prunes only objects carrying its
// ClusterAccessPoint's UID. An object of the same name that it did not write
// for that ClusterAccessPoint is never adopted: Apply refuses it with a
// ConflictError. Objects written by an agent that predates the annotation (the
// label of the same ClusterAccessPoint, no owner annotation) count as owned, so
// an upgraded agent keeps managing them and annotates them on its next apply.
//
// With a Cache, Client judges the object in the way from the informers' copy,
// and with a Complete one it knows without a read that there is none: an
// object someone else created an instant before, not in the cache yet, is
// taken over, as it could be between a read and the apply. An object the
// agent applied, with the same manifest, is not sent again while the cache
// shows the resource version that apply gave it (any change since, by anyone,
// changed that version), but for the kinds whose status Portico reports: each
// apply of those reads their status back.
package apply

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Label marks every object applied for a ClusterAccessPoint; its value is the
// ClusterAccessPoint's name (<access point namespace>.<access point name>).
const Label = "portico.dev/access-point"

// OwnerAnnotation records, on every object the agent writes, the UID of the
// ClusterAccessPoint it was written for.
const OwnerAnnotation = "portico.dev/owner-uid"

// FieldManager owns the fields the agent applies.
const FieldManager = "portico"

// Owner is the ClusterAccessPoint objects are written for.
type Owner struct {
	Name string
	UID  types.UID
}

// Owns tells whether an existing object was written for o: it carries o's UID in
// the owner annotation or, written by an agent before owner annotations, no owner
// annotation and o's access point label.
func (o Owner) Owns(l Labelled) bool {
	if l.OwnerUID != "" {
		return l.OwnerUID == string(o.UID)
	}
	return l.AccessPoint != "" && l.AccessPoint == LabelValue(o.Name)
}

// ConflictPrefix starts the message of an object the agent refuses to write
// over: it exists and was not written for the ClusterAccessPoint.
const ConflictPrefix = "Conflict:"

// ConflictError is the refusal to write over an existing object that is not the
// ClusterAccessPoint's. The object stays as it is.
type ConflictError struct {
	// Existing is the object found, with its access point label and owner
	// annotation (both empty when Portico did not create it).
	Existing Labelled
}

func (e *ConflictError) Error() string {
	x := e.Existing
	found := fmt.Sprintf("%s a %s of that name exists", ConflictPrefix, x.GVK.Kind)
	if x.AccessPoint == "" && x.OwnerUID == "" {
		return found + " and was not created by Portico; it is left as it is: delete it, " +
			"or give the object another name in the access point's template"
	}
	owner := "ClusterAccessPoint " + x.AccessPoint
	switch {
	case x.AccessPoint == "":
		owner = "the ClusterAccessPoint of uid " + x.OwnerUID
	case x.OwnerUID != "":
		owner += " (uid " + x.OwnerUID + ")"
	}
	return found + " and belongs to " + owner + "; it is left as it is: " +
		"give the object another name in one of the two access points' templates"
}

// Check tells whether obj may be applied over existing (nil when there is no
// such object): it may when the object is obj's owner's, and otherwise gets a
// ConflictError.
func Check(obj Object, existing *Labelled) error {
	if existing == nil || obj.Owner.Owns(*existing) {
		return nil
	}
	return &ConflictError{Existing: *existing}
}

// Object is one manifest of a ClusterAccessPoint.
type Object struct {
	Ref
	// Owner is the ClusterAccessPoint the object is written for.
	Owner Owner
	// Raw is the complete object as JSON, with the access point label and the
	// owner annotation set.
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
// the access point label and the owner annotation. Namespaced objects without a
// namespace go to "default".
func Parse(raw []byte, owner Owner) (Object, error) {
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
	meta["labels"] = with(meta["labels"], Label, LabelValue(owner.Name))
	meta["annotations"] = with(meta["annotations"], OwnerAnnotation, string(owner.UID))
	meta["namespace"] = ref.Namespace
	if ref.Namespace == "" {
		delete(meta, "namespace")
	}
	obj["metadata"] = meta
	out, err := json.Marshal(obj)
	return Object{Ref: ref, Owner: owner, Raw: out}, err
}

// with returns the string map m (a decoded JSON object, possibly nil) with
// key set to value.
func with(m any, key, value string) map[string]any {
	out, _ := m.(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	out[key] = value
	return out
}

// Applier applies, lists and deletes objects in a member cluster.
type Applier interface {
	// Apply applies one object with server-side apply, taking ownership of its
	// fields, when no object of that name exists or the existing one is obj's
	// owner's (Check); otherwise it returns a ConflictError and writes nothing.
	Apply(ctx context.Context, obj Object) error
	// EnsureNamespace creates a namespace if it does not exist.
	EnsureNamespace(ctx context.Context, name string) error
	// List returns the objects labelled for an access point ("" for all labelled),
	// with their owner annotation.
	List(ctx context.Context, accessPoint string) ([]Labelled, error)
	// Delete deletes an object; a missing object is not an error.
	Delete(ctx context.Context, ref Ref) error
}
