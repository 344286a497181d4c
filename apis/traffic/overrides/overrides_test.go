package overrides

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func TestApply(t *testing.T) {
	doc := []byte(`{"virtualServices":[{"name":"vs","spec":{"http":[{"timeout":"5s"}]}}],"gateway":{"servers":[{"port":{"number":80}}]}}`)
	tests := []struct {
		name    string
		patches []Patch
		want    string
		wantErr string
	}{
		{
			name:    "replace",
			patches: []Patch{{Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: json.RawMessage(`"10s"`)}},
			want:    `"timeout":"10s"`,
		},
		{
			name:    "add then replace in order",
			patches: []Patch{{Op: "add", Path: "/gateway/selector", Value: json.RawMessage(`{"istio":"edge"}`)}, {Op: "replace", Path: "/gateway/selector/istio", Value: json.RawMessage(`"edge2"`)}},
			want:    `"selector":{"istio":"edge2"}`,
		},
		{
			name:    "remove",
			patches: []Patch{{Op: "remove", Path: "/virtualServices/0/spec/http/0/timeout"}},
			want:    `"http":[{}]`,
		},
		{
			name:    "replace of a missing path fails and names the patch",
			patches: []Patch{{Op: "replace", Path: "/virtualServices/0/spec/http/0/timeout", Value: json.RawMessage(`"1s"`)}, {Op: "replace", Path: "/destinationRules/0/spec", Value: json.RawMessage(`{}`)}},
			wantErr: "clusterOverrides[1]: replace /destinationRules/0/spec",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Apply(doc, tc.patches)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(got), tc.want) {
				t.Fatalf("got %s, want it to contain %s", got, tc.want)
			}
		})
	}
}

func patch(op, path, value string) v1alpha1.OverridePatch {
	p := v1alpha1.OverridePatch{Op: op, Path: path}
	if value != "" {
		p.Value = &v1alpha1.JSONValue{Raw: []byte(value)}
	}
	return p
}

func exampleSpec(overrides ...v1alpha1.ClusterOverride) *v1alpha1.FederatedAccessPointSpec {
	return &v1alpha1.FederatedAccessPointSpec{
		Template: v1alpha1.AccessPointTemplate{
			VirtualServices: []v1alpha1.NamedTemplate{{Name: "web", Spec: v1alpha1.JSONObject{Raw: []byte(`{"http":[{"timeout":"5s"}]}`)}}},
		},
		Overrides: overrides,
	}
}

func timeoutOf(t *testing.T, tmpl *v1alpha1.AccessPointTemplate) string {
	t.Helper()
	var spec struct {
		HTTP []struct{ Timeout string } `json:"http"`
	}
	if err := json.Unmarshal(tmpl.VirtualServices[0].Spec.Raw, &spec); err != nil {
		t.Fatal(err)
	}
	return spec.HTTP[0].Timeout
}

func TestForClusterAppliesOnlyThatClustersOverrides(t *testing.T) {
	spec := exampleSpec(
		v1alpha1.ClusterOverride{ClusterName: "zone-a-1", ClusterOverrides: []v1alpha1.OverridePatch{patch("replace", "/virtualServices/0/spec/http/0/timeout", `"7s"`)}},
		v1alpha1.ClusterOverride{ClusterName: "zone-b-1", ClusterOverrides: []v1alpha1.OverridePatch{
			patch("replace", "/virtualServices/0/spec/http/0/timeout", `"9s"`),
			patch("add", "/gateway", `{"selector":{"istio":"edge"}}`),
		}},
	)
	for cluster, want := range map[string]string{"zone-a-1": "7s", "zone-b-1": "9s", "zone-c-1": "5s"} {
		tmpl, err := ForCluster(spec, cluster)
		if err != nil {
			t.Fatalf("%s: %v", cluster, err)
		}
		if got := timeoutOf(t, tmpl); got != want {
			t.Errorf("%s: timeout = %q, want %q", cluster, got, want)
		}
		if hasGateway := tmpl.Gateway != nil; hasGateway != (cluster == "zone-b-1") {
			t.Errorf("%s: gateway = %v; only zone-b-1's overrides add one", cluster, tmpl.Gateway)
		}
	}
	if got := timeoutOf(t, &spec.Template); got != "5s" {
		t.Fatalf("ForCluster changed spec.template: timeout = %q", got)
	}
}

func TestForClusterReturnsACopy(t *testing.T) {
	spec := exampleSpec()
	tmpl, err := ForCluster(spec, "zone-a-1")
	if err != nil {
		t.Fatal(err)
	}
	tmpl.VirtualServices[0].Spec.Raw[2] = 'X'
	if got := timeoutOf(t, &spec.Template); got != "5s" {
		t.Fatalf("the result shares memory with spec.template: timeout = %q", got)
	}
}

func TestForClusterErrors(t *testing.T) {
	tests := []struct {
		name    string
		patch   v1alpha1.OverridePatch
		wantErr string
	}{
		{
			name:    "a patch that does not apply",
			patch:   patch("replace", "/destinationRules/0/spec", `{}`),
			wantErr: "does not apply to spec.template: clusterOverrides[0]: replace /destinationRules/0/spec",
		},
		{
			name:    "a result that is no template",
			patch:   patch("replace", "/virtualServices", `"web"`),
			wantErr: "makes spec.template invalid: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := exampleSpec(v1alpha1.ClusterOverride{ClusterName: "zone-a-1", ClusterOverrides: []v1alpha1.OverridePatch{tc.patch}})
			_, err := ForCluster(spec, "zone-a-1")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if _, err := ForCluster(spec, "zone-b-1"); err != nil {
				t.Fatalf("another cluster's broken override must not matter: %v", err)
			}
		})
	}
}
