package overrides

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// FuzzApply applies two patches to any document. Apply never panics, leaves its
// input alone, gives the same answer twice, returns valid JSON whenever it
// succeeds, fails on a document that is not JSON, and applying the patches one
// call at a time gives what applying them together gives. The one exception:
// an empty document comes back empty without an error (json-patch's behaviour);
// ForCluster always passes an encoded template.
func FuzzApply(f *testing.F) {
	doc := `{"gateway":{"servers":[{"port":{"number":80}}]},"virtualServices":[{"name":"web","spec":{"http":[{"timeout":"5s"}]}}]}`
	f.Add([]byte(doc), "replace", "/virtualServices/0/spec/http/0/timeout", []byte(`"10s"`), "remove", "/gateway/servers/0", []byte(nil))
	f.Add([]byte(doc), "add", "/gateway/servers/-", []byte(`{"port":{"number":443}}`), "replace", "/gateway/servers/1/port/number", []byte(`8443`))
	f.Add([]byte(doc), "add", "/virtualServices/0/spec/tcp", []byte(`[]`), "add", "/virtualServices/0/spec/tcp/0", []byte(`{}`))
	f.Add([]byte(doc), "remove", "/nothing", []byte(nil), "replace", "", []byte(`{}`))
	f.Add([]byte(doc), "move", "/gateway", []byte(nil), "copy", "/virtualServices/0", []byte(nil))
	f.Add([]byte(`[1,2,3]`), "add", "/1", []byte(`5`), "remove", "/0", []byte(nil))
	f.Add([]byte(`not json`), "add", "/a", []byte(`1`), "test", "/a", []byte(`1`))
	f.Fuzz(func(t *testing.T, doc []byte, op1, path1 string, value1 []byte, op2, path2 string, value2 []byte) {
		patches := []Patch{{Op: op1, Path: path1, Value: value1}, {Op: op2, Path: path2, Value: value2}}
		if len(doc) == 0 {
			return
		}
		input := bytes.Clone(doc)
		out, err := Apply(doc, patches)
		if !bytes.Equal(doc, input) {
			t.Fatal("Apply changed its input")
		}
		again, errAgain := Apply(doc, patches)
		if !bytes.Equal(out, again) || (err == nil) != (errAgain == nil) || (err != nil && err.Error() != errAgain.Error()) {
			t.Fatalf("Apply is not deterministic: %q, %v then %q, %v", out, err, again, errAgain)
		}
		if err != nil {
			// A value that is not JSON fails to encode before any patch applies.
			if !strings.HasPrefix(err.Error(), "clusterOverrides[") && !strings.Contains(err.Error(), "json") {
				t.Errorf("the error does not name the patch: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Apply returned invalid JSON %q", out)
		}
		if !json.Valid(doc) {
			t.Fatalf("Apply accepted a document that is not JSON: %q", doc)
		}
		first, err := Apply(doc, patches[:1])
		if err != nil {
			t.Fatalf("the first patch fails alone (%v) but not with the second", err)
		}
		stepwise, err := Apply(first, patches[1:])
		if err != nil || !bytes.Equal(stepwise, out) {
			t.Fatalf("one at a time: %q, %v; together: %q", stepwise, err, out)
		}
	})
}

// FuzzForCluster builds a cluster's template from any access point spec.
// ForCluster never panics, never changes the spec (it may come from an
// informer's cache), gives the same template twice, returns the template
// unchanged for a cluster without overrides, and fails only with the errors it
// documents.
func FuzzForCluster(f *testing.F) {
	spec := `{"hosts":["shop.example.com"],"template":{"gateway":{"servers":[{"port":{"number":80}}]},` +
		`"virtualServices":[{"name":"web","spec":{"http":[{"timeout":"5s"}]}}],"destinationRules":[{"name":"web","spec":{"host":"web"}}]},` +
		`"overrides":[{"clusterName":"east","clusterOverrides":[{"op":"replace","path":"/virtualServices/0/spec/http/0/timeout","value":"10s"},` +
		`{"op":"remove","path":"/destinationRules/0"}]},{"clusterName":"west","clusterOverrides":[{"op":"add","path":"/gateway/selector","value":{"app":"gw"}}]}]}`
	f.Add([]byte(spec), "east")
	f.Add([]byte(spec), "west")
	f.Add([]byte(spec), "north")
	f.Add([]byte(`{"overrides":[{"clusterName":"a","clusterOverrides":[{"op":"replace","path":"/virtualServices","value":{"x":1}}]}]}`), "a")
	f.Add([]byte(`{"overrides":[{"clusterName":"a","clusterOverrides":[{"op":"add","path":"/gateway","value":[1]}]}]}`), "a")
	f.Add([]byte(`{"overrides":[{"clusterName":"a","clusterOverrides":[{"op":"remove","path":"/gateway/servers"}]}]}`), "a")
	f.Fuzz(func(t *testing.T, data []byte, cluster string) {
		var spec v1alpha1.FederatedAccessPointSpec
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		before := spec.DeepCopy()
		tmpl, err := ForCluster(&spec, cluster)
		if !reflect.DeepEqual(before, &spec) {
			t.Fatal("ForCluster changed the spec")
		}
		again, errAgain := ForCluster(&spec, cluster)
		if !reflect.DeepEqual(tmpl, again) || (err == nil) != (errAgain == nil) {
			t.Fatalf("ForCluster is not deterministic: %v, %v", err, errAgain)
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "does not apply to spec.template: ") && !strings.HasPrefix(msg, "makes spec.template invalid: ") {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if _, err := json.Marshal(tmpl); err != nil {
			t.Fatalf("the template does not encode: %v", err)
		}
		if !hasOverrides(&spec, cluster) && !reflect.DeepEqual(tmpl, &spec.Template) {
			t.Fatalf("a cluster without overrides got a changed template: %+v", tmpl)
		}
	})
}

func hasOverrides(spec *v1alpha1.FederatedAccessPointSpec, cluster string) bool {
	for _, o := range spec.Overrides {
		if o.ClusterName == cluster {
			return true
		}
	}
	return false
}
