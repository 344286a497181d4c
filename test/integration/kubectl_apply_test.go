//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestKubectlApplyTemplatesFromTwoFiles: client-side `kubectl apply` of an
// access point whose template holds every Istio kind and an override with an
// object value, twice from one file, then from a second file that changes,
// adds and removes fields deep inside the Istio specs, then back: each run
// exits 0 with nothing on stderr (kubectl computes its strategic merge patch
// from the published OpenAPI without falling back) and the object ends up
// exactly as the last file says. Applying a file again writes nothing: the
// Istio specs are replaced as a whole (x-kubernetes-patch-strategy: replace,
// the only way kubectl's patch can treat a schemaless object), so kubectl
// sends them and says "configured", but the object stays as it was.
func TestKubectlApplyTemplatesFromTwoFiles(t *testing.T) {
	e := hubEnv(t)
	ns := e.newNamespace(t, "csa-tmpl")
	dir := t.TempDir()

	overrides := `  overrides:
  - clusterName: zone-x-1
    clusterOverrides:
    - op: replace
      path: /virtualServices/0/spec/http/0/retries
      value: {attempts: 2, perTryTimeout: 1s}
`
	a := fapWithTemplate(ns, "shop", validTemplate) + overrides
	b := strings.NewReplacer(
		"timeout: 2.5s", "timeout: 4s", // changed
		"weight: 10", "weight: 20", "weight: 90", "weight: 80", // changed in a list
		"topology: edge", "zone: a", // a map key replaced
		`retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure"}`, "retries: {attempts: 3}", // keys removed
		"consecutive5xxErrors: 7", "consecutive5xxErrors: 9",
		"address: 192.0.2.50", "address: 192.0.2.51",
		"{attempts: 2, perTryTimeout: 1s}", "{attempts: 5}", // the override's value
	).Replace(a)
	if b == a || strings.Count(b, "weight: 20") != 1 || !strings.Contains(b, "zone: a") {
		t.Fatalf("the second file does not differ as intended:\n%s", b)
	}
	files := map[string]string{"a.yaml": a, "b.yaml": b}
	for name, doc := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var last *trafficv1alpha1.FederatedAccessPoint
	order := []string{"a.yaml", "a.yaml", "b.yaml", "b.yaml", "a.yaml"}
	for i, file := range order {
		out, stderr, err := e.kubectl(t, "apply", "-f", filepath.Join(dir, file))
		if err != nil || stderr != "" {
			t.Fatalf("kubectl apply -f %s: err=%v\nstdout:\n%s\nstderr:\n%s", file, err, out, stderr)
		}
		if !strings.HasPrefix(out, "federatedaccesspoint.traffic.portico.dev/shop ") {
			t.Errorf("kubectl apply -f %s printed %q", file, out)
		}
		fap, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(context.Background(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantSpec := specOf(t, files[file])
		got := jsonNormalize(t, fap.Spec).(map[string]any)
		for _, field := range []string{"template", "overrides"} {
			if !reflect.DeepEqual(got[field], wantSpec[field]) {
				t.Errorf("after kubectl apply -f %s, spec.%s is\n%s\nwant\n%s", file, field, mustJSON(got[field]), mustJSON(wantSpec[field]))
			}
		}
		// The same file again: no write. Another file: one new generation.
		switch {
		case i == 0:
		case file == order[i-1]:
			if fap.ResourceVersion != last.ResourceVersion || fap.Generation != last.Generation {
				t.Errorf("applying %s again changed the object: resourceVersion %s -> %s, generation %d -> %d",
					file, last.ResourceVersion, fap.ResourceVersion, last.Generation, fap.Generation)
			}
		case fap.Generation != last.Generation+1:
			t.Errorf("applying %s: generation %d -> %d, want one more", file, last.Generation, fap.Generation)
		}
		last = fap
	}

	// A strategic merge patch by hand: the list merges by name, the spec of
	// the named item is replaced whole, the other items stay.
	admin := `{"hosts":["admin.tmpl.example.com"],"http":[{"timeout":"3s","route":[{"destination":{"host":"admin2.shop.svc.cluster.local"}}]}]}`
	e.mustKubectl(t, "patch", "fap", "shop", "-n", ns, "--type=strategic",
		"-p", `{"spec":{"template":{"virtualServices":[{"name":"admin","spec":`+admin+`}]}}}`)
	fap, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vs := fap.Spec.Template.VirtualServices
	if len(vs) != 2 || vs[0].Name != "shop" || !reflect.DeepEqual(jsonNormalize(t, vs[0].Spec), jsonNormalize(t, last.Spec.Template.VirtualServices[0].Spec)) ||
		vs[1].Name != "admin" || !reflect.DeepEqual(jsonNormalize(t, vs[1].Spec), jsonNormalize(t, json.RawMessage(admin))) {
		t.Errorf("virtualServices after the strategic merge patch:\n%s", mustJSON(vs))
	}
}

// specOf returns the spec of a YAML (or JSON) document as generic JSON values.
func specOf(t *testing.T, doc string) map[string]any {
	t.Helper()
	var obj struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatalf("%v:\n%s", err, doc)
	}
	return obj.Spec
}
