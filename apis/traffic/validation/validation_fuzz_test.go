package validation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/install"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// fuzzScheme defaults and converts decoded objects as the API server does.
var fuzzScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	install.Install(s)
	return s
}()

// FuzzValidateFederatedAccessPoint decodes any JSON as a v1alpha1
// FederatedAccessPoint and validates it, with and without defaults. Validation
// never panics, gives the same errors twice, reports every error under metadata
// or spec, accepts nothing beyond the limits, and holds no limit against an
// update that changes nothing.
func FuzzValidateFederatedAccessPoint(f *testing.F) {
	for _, seed := range fapSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var versioned v1alpha1.FederatedAccessPoint
		if json.Unmarshal(data, &versioned) != nil {
			return
		}
		for _, defaulted := range []bool{false, true} {
			v := versioned.DeepCopy()
			if defaulted {
				fuzzScheme.Default(v)
			}
			fap := &traffic.FederatedAccessPoint{}
			if err := fuzzScheme.Convert(v, fap, nil); err != nil {
				t.Fatalf("converting a decoded access point: %v", err)
			}
			errs := ValidateFederatedAccessPoint(fap)
			for _, e := range errs {
				if !strings.HasPrefix(e.Field, "metadata") && !strings.HasPrefix(e.Field, "spec.") {
					t.Errorf("error outside metadata and spec: %v", e)
				}
			}
			if got, want := errorStrings(ValidateFederatedAccessPoint(fap)), errorStrings(errs); got != want {
				t.Errorf("validation is not deterministic:\n%s\n%s", want, got)
			}
			if len(errs) == 0 {
				checkWithinLimits(t, fap)
			}
			stored := fap.DeepCopy()
			stored.ResourceVersion = "1"
			for _, e := range ValidateFederatedAccessPointUpdate(stored.DeepCopy(), stored) {
				if isLimitError(e) {
					t.Errorf("a limit holds against an unchanged object: %v", e)
				}
			}
		}
	})
}

func errorStrings(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintln(&b, e.Error())
	}
	return b.String()
}

// checkWithinLimits fails when a valid access point exceeds a limit.
func checkWithinLimits(t *testing.T, fap *traffic.FederatedAccessPoint) {
	t.Helper()
	spec := &fap.Spec
	if len(spec.Hosts) > MaxHosts {
		t.Errorf("valid with %d hosts", len(spec.Hosts))
	}
	count, size := 0, 0
	if spec.Template.Gateway != nil {
		count, size = 1, len(spec.Template.Gateway.Raw)
	}
	for list, items := range NamedTemplates(&spec.Template) {
		if len(items) > MaxTemplatesPerKind {
			t.Errorf("valid with %d %s", len(items), list)
		}
		count += len(items)
		for _, item := range items {
			size += len(item.Spec.Raw)
		}
	}
	if count > MaxTemplates || size > MaxTemplateBytes {
		t.Errorf("valid with %d templates of %d bytes", count, size)
	}
	patches := 0
	for _, o := range spec.Overrides {
		patches += len(o.ClusterOverrides)
		for _, p := range o.ClusterOverrides {
			if len(p.Path) > MaxPatchPathLength {
				t.Errorf("valid with a path of %d bytes", len(p.Path))
			}
		}
	}
	if len(spec.Overrides) > MaxOverrides || patches > MaxPatches {
		t.Errorf("valid with %d overrides and %d patches", len(spec.Overrides), patches)
	}
	if lb := spec.LoadBalancer; lb != nil {
		if len(lb.Ports) > MaxPorts {
			t.Errorf("valid with %d ports", len(lb.Ports))
		}
		if hc := lb.HealthCheck; hc != nil && hc.Interval != nil && hc.Interval.Duration < MinHealthCheckInterval {
			t.Errorf("valid with a health-check interval of %v", hc.Interval.Duration)
		}
	}
}

// fapSeeds are JSON access points: the one the unit tests start from, a
// minimal one, broken ones, and the examples in manifests/examples.
func fapSeeds(f *testing.F) [][]byte {
	internal := validFAP()
	versioned := &v1alpha1.FederatedAccessPoint{}
	if err := fuzzScheme.Convert(internal, versioned, nil); err != nil {
		f.Fatal(err)
	}
	full, err := json.Marshal(versioned)
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		full,
		[]byte(`{"metadata":{"name":"web","namespace":"shop"},"spec":{"hosts":["shop.example.com"]}}`),
		[]byte(`{"metadata":{"name":"web","namespace":"shop"},"spec":{"hosts":["*.example.com","a.example.com"],` +
			`"template":{"gateway":{"servers":[]},"virtualServices":[{"name":"a","spec":{"hosts":["a.example.com"]}}]},` +
			`"overrides":[{"clusterName":"c1","clusterOverrides":[{"op":"remove","path":"/virtualServices/0/spec/hosts/0"}]}],` +
			`"loadBalancer":{"pool":"p","ports":[{"port":443,"protocol":"UDP"}],"healthCheck":{"interval":"500ms","timeout":"1s"}}}}`),
		[]byte(`{"metadata":{"name":"-"},"spec":{"hosts":[""],"overrides":[{"clusterOverrides":[{"op":"move","path":"x"}]}],` +
			`"rollout":{"strategy":"Staged","stages":[{"name":"a","count":0}]},"tls":{"issuerRef":{},"mode":"x"}}}`),
		[]byte(`{}`),
	}
	return append(seeds, exampleAccessPoints(f)...)
}

// exampleAccessPoints returns the FederatedAccessPoints of manifests/examples
// as JSON.
func exampleAccessPoints(tb testing.TB) [][]byte {
	files, err := filepath.Glob("../../../manifests/examples/*.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	more, _ := filepath.Glob("../../../manifests/examples/*/*.yaml")
	var out [][]byte
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			if bytes.Contains(js, []byte(`"kind":"FederatedAccessPoint"`)) {
				out = append(out, js)
			}
		}
	}
	if len(out) == 0 {
		tb.Fatal("no FederatedAccessPoint in manifests/examples")
	}
	return out
}

// TestExampleAccessPointsAreValid keeps the examples within Portico's rules and
// limits.
func TestExampleAccessPointsAreValid(t *testing.T) {
	for _, js := range exampleAccessPoints(t) {
		versioned := &v1alpha1.FederatedAccessPoint{}
		if err := json.Unmarshal(js, versioned); err != nil {
			t.Fatal(err)
		}
		fuzzScheme.Default(versioned)
		fap := &traffic.FederatedAccessPoint{}
		if err := fuzzScheme.Convert(versioned, fap, nil); err != nil {
			t.Fatal(err)
		}
		if errs := ValidateFederatedAccessPoint(fap); len(errs) > 0 {
			t.Errorf("example %s/%s: %v", fap.Namespace, fap.Name, errs)
		}
	}
}

// FuzzParseAddressRange checks VIPPool entries: a parsed range is ordered,
// holds its ends, has the size its ends say, and prints as a range that parses
// back to itself.
func FuzzParseAddressRange(f *testing.F) {
	for _, s := range []string{"203.0.113.0/24", "203.0.113.10-203.0.113.20", "0.0.0.0/0", "10.0.0.1/32",
		"10.0.0.5 - 10.0.0.1", "2001:db8::/64", "10.0.0.1/33", "1.2.3.4-", "255.255.255.255-255.255.255.255"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseAddressRange(s)
		if err != nil {
			return
		}
		if !r.First.Is4() || !r.Last.Is4() || r.Last.Less(r.First) {
			t.Fatalf("%q: range %v is not an ordered IPv4 range", s, r)
		}
		if !r.Contains(r.First) || !r.Contains(r.Last) || !r.Overlaps(r) {
			t.Fatalf("%q: range %v does not hold its ends", s, r)
		}
		first, last := r.First.As4(), r.Last.As4()
		want := int64(uint32(last[0])<<24|uint32(last[1])<<16|uint32(last[2])<<8|uint32(last[3])) -
			int64(uint32(first[0])<<24|uint32(first[1])<<16|uint32(first[2])<<8|uint32(first[3])) + 1
		if r.Size() != want {
			t.Fatalf("%q: size %d, want %d", s, r.Size(), want)
		}
		back, err := ParseAddressRange(r.String())
		if err != nil || back != r {
			t.Fatalf("%q: %q parses to %v, %v", s, r.String(), back, err)
		}
	})
}
