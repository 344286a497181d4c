package fieldselector

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type thing struct{ Zone, Owner string }

func thingFields(t *thing) fields.Set {
	return fields.Set{"spec.zone": t.Zone, "spec.owner": t.Owner}
}

func TestNamesAreReadOffAnEmptyObject(t *testing.T) {
	if got, want := Names(thingFields), []string{"spec.owner", "spec.zone"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
}

func TestRegisterAcceptsOnlyDeclaredFields(t *testing.T) {
	scheme := runtime.NewScheme()
	gv := schema.GroupVersion{Group: "example.portico.dev", Version: "v1"}
	if err := Register(scheme, gv, map[string][]string{"Thing": Names(thingFields), "Bare": nil}); err != nil {
		t.Fatal(err)
	}
	for kind, accepted := range map[string][]string{
		"Thing": {MetadataName, MetadataNamespace, "spec.zone", "spec.owner"},
		"Bare":  {MetadataName, MetadataNamespace},
	} {
		for _, label := range accepted {
			if l, v, err := scheme.ConvertFieldLabel(gv.WithKind(kind), label, "x"); err != nil || l != label || v != "x" {
				t.Errorf("%s %s: got %q=%q, %v; want it accepted unchanged", kind, label, l, v, err)
			}
		}
		_, _, err := scheme.ConvertFieldLabel(gv.WithKind(kind), "spec.bogus", "x")
		if err == nil || !strings.Contains(err.Error(), "field label not supported for "+kind+": spec.bogus") {
			t.Errorf("%s spec.bogus: error = %v, want it rejected", kind, err)
		}
	}
}
