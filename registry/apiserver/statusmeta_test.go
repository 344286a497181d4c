//go:build registry

package apiserver

import (
	"maps"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/clusteraccesspoint"
)

// TestStatusWriteKeepsMetadata: a write through /status (what a member-agent
// may do to its ClusterAccessPoints) stores the status and nothing else — no
// finalizer, annotation, label or owner reference added, none removed — as for a
// custom resource with a status subresource.
func TestStatusWriteKeepsMetadata(t *testing.T) {
	r, status, err := store.New(Scheme, newOptsGetter(t), clusteraccesspoint.Kind)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxIn("portico-cluster-east")
	out, err := create(t, r, ctx, &traffic.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{
			Name: "shop.web", Namespace: "portico-cluster-east",
			Labels:      map[string]string{"portico.dev/cluster": "east"},
			Annotations: map[string]string{"hub": "yes"},
			Finalizers:  []string{"traffic.portico.dev/hub"},
		},
		Spec: traffic.ClusterAccessPointSpec{Revision: "r1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	created := out.(*traffic.ClusterAccessPoint)

	edit := created.DeepCopy()
	edit.Status.ObservedRevision = "r1"
	edit.Status.Objects = []traffic.ObjectStatus{{Kind: "Gateway", Namespace: "shop", Name: "web", Applied: true}}
	edit.Finalizers = []string{"agent.example.com/block-deletion"}
	edit.Annotations = map[string]string{"agent": "was-here"}
	edit.Labels = map[string]string{"portico.dev/cluster": "west", "agent": "was-here"}
	edit.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Namespace", Name: "shop", UID: "0b0c4d6e-0000-4000-8000-000000000001"}}
	edit.Spec.Revision = "forged"
	if _, err := update(ctx, status, edit, "shop.web"); err != nil {
		t.Fatal(err)
	}

	got, err := r.Get(ctx, "shop.web", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := got.(*traffic.ClusterAccessPoint)
	if stored.Status.ObservedRevision != "r1" || len(stored.Status.Objects) != 1 || !stored.Status.Objects[0].Applied {
		t.Errorf("status not stored: %+v", stored.Status)
	}
	if stored.ResourceVersion == created.ResourceVersion {
		t.Errorf("the status write was not stored (resourceVersion %s unchanged)", stored.ResourceVersion)
	}
	if !slices.Equal(stored.Finalizers, created.Finalizers) {
		t.Errorf("finalizers %v, want %v", stored.Finalizers, created.Finalizers)
	}
	if !maps.Equal(stored.Annotations, created.Annotations) {
		t.Errorf("annotations %v, want %v", stored.Annotations, created.Annotations)
	}
	if !maps.Equal(stored.Labels, created.Labels) {
		t.Errorf("labels %v, want %v", stored.Labels, created.Labels)
	}
	if len(stored.OwnerReferences) != 0 {
		t.Errorf("owner references %v stored through /status", stored.OwnerReferences)
	}
	if stored.Spec.Revision != "r1" || stored.Generation != created.Generation {
		t.Errorf("spec revision %q generation %d; want r1 and %d", stored.Spec.Revision, stored.Generation, created.Generation)
	}

	// Server-side apply through /status owns no metadata or spec field.
	reset := status.GetResetFields()[fieldpath.APIVersion("traffic.portico.dev/v1alpha1")]
	for _, p := range []fieldpath.Path{fieldpath.MakePathOrDie("metadata"), fieldpath.MakePathOrDie("spec")} {
		if reset == nil || !reset.Has(p) {
			t.Errorf("reset fields of /status %v lack %s", reset, p)
		}
	}
}
