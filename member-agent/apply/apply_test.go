package apply

import (
	"encoding/json"
	"strings"
	"testing"

	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
)

var owner = Owner{Name: "shop.web", UID: "uid-web"}

func TestParse(t *testing.T) {
	obj, err := Parse([]byte(`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"web","labels":{"team":"a"},"annotations":{"note":"n"}},"spec":{}}`), owner)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Namespace != "default" || obj.Name != "web" || obj.GVK.Kind != "Gateway" {
		t.Fatalf("ref = %+v", obj.Ref)
	}
	var got struct {
		Metadata struct {
			Namespace   string            `json:"namespace"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(obj.Raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Labels[Label] != "shop.web" || got.Metadata.Labels["team"] != "a" || got.Metadata.Namespace != "default" {
		t.Fatalf("metadata = %+v", got.Metadata)
	}
	if got.Metadata.Annotations[OwnerAnnotation] != "uid-web" || got.Metadata.Annotations["note"] != "n" || obj.Owner != owner {
		t.Fatalf("owner %+v, annotations %v; want the owner UID annotation next to the template's", obj.Owner, got.Metadata.Annotations)
	}

	ns, err := Parse([]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","namespace":"x"}}`), owner)
	if err != nil || ns.Namespace != "" || strings.Contains(string(ns.Raw), `"namespace"`) {
		t.Fatalf("cluster-scoped kinds have no namespace: %+v %s %v", ns.Ref, ns.Raw, err)
	}

	for _, bad := range []string{`[1]`, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}`, `{"apiVersion":"a/b/c","kind":"X"}`} {
		if _, err := Parse([]byte(bad), owner); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
}

// TestIsLabelValue: isLabelValue agrees with the API's validation.
func TestIsLabelValue(t *testing.T) {
	for _, s := range []string{"", "a", "shop.web", "shop.web-1_x", "-a", "a-", ".a", "a.", "_a", "a_", "a b", "a/b", "ä",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "A.Z-0_9"} {
		if got, want := isLabelValue(s), len(utilvalidation.IsValidLabelValue(s)) == 0; got != want {
			t.Errorf("isLabelValue(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestLabelValue(t *testing.T) {
	if got := LabelValue("shop.web"); got != "shop.web" {
		t.Fatalf("LabelValue = %q", got)
	}
	long := strings.Repeat("a", 40) + "." + strings.Repeat("b", 40)
	v := LabelValue(long)
	if len(v) > 63 || v == LabelValue(long+"c") || !strings.HasPrefix(v, long[:50]) {
		t.Fatalf("LabelValue(long) = %q", v)
	}
}
