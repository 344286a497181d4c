package overrides

import (
	"encoding/json"
	"strings"
	"testing"
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
