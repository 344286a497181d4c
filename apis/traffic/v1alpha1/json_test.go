package v1alpha1

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPlacementClustersNilAndEmpty(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantNil bool
		wantLen int
		out     string
	}{
		{name: "empty list selects nothing", in: `{"clusters":[]}`, wantLen: 0, out: `"clusters":[]`},
		{name: "absent defers to the selector", in: `{}`, wantNil: true, out: `"clusters":null`},
		{name: "null defers to the selector", in: `{"clusters":null}`, wantNil: true, out: `"clusters":null`},
		{name: "one cluster", in: `{"clusters":[{"name":"a"}]}`, wantLen: 1, out: `"clusters":[{"name":"a"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Placement
			if err := json.Unmarshal([]byte(tt.in), &p); err != nil {
				t.Fatal(err)
			}
			if (p.Clusters == nil) != tt.wantNil || len(p.Clusters) != tt.wantLen {
				t.Fatalf("decoded clusters = %#v, want nil=%v len=%d", p.Clusters, tt.wantNil, tt.wantLen)
			}
			data, err := json.Marshal(&p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.out) {
				t.Errorf("encoded %s, want it to contain %s", data, tt.out)
			}
		})
	}
}

func TestJSONObjectUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
		want    []byte
	}{
		{name: "object kept verbatim", in: `{"b": 1,  "a":[2, {"c":"\u003c"}]}`, want: []byte(`{"b": 1,  "a":[2, {"c":"\u003c"}]}`)},
		{name: "empty object", in: `{}`, want: []byte(`{}`)},
		{name: "null is no object", in: `null`, want: nil},
		{name: "string", in: `"x"`, wantErr: true},
		{name: "array", in: `[1]`, wantErr: true},
		{name: "number", in: `1`, wantErr: true},
		{name: "bool", in: `true`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var j JSONObject
			err := json.Unmarshal([]byte(tt.in), &j)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted %s as %q", tt.in, j.Raw)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(j.Raw, tt.want) || (j.Raw == nil) != (tt.want == nil) {
				t.Errorf("Raw = %q, want %q", j.Raw, tt.want)
			}
		})
	}
}

func TestJSONObjectInStruct(t *testing.T) {
	var tmpl NamedTemplate
	if err := json.Unmarshal([]byte(`{"name":"a","spec":"x"}`), &tmpl); err == nil {
		t.Errorf("a string spec was accepted: %q", tmpl.Spec.Raw)
	}
	if err := json.Unmarshal([]byte(`{"name":"a","spec":[1]}`), &tmpl); err == nil {
		t.Errorf("an array spec was accepted: %q", tmpl.Spec.Raw)
	}
	tmpl = NamedTemplate{}
	if err := json.Unmarshal([]byte(`{"name":"a","spec":{"hosts":["*"]}}`), &tmpl); err != nil {
		t.Fatal(err)
	}
	if got := string(tmpl.Spec.Raw); got != `{"hosts":["*"]}` {
		t.Errorf("spec = %s", got)
	}
}

func TestJSONObjectCopiesInput(t *testing.T) {
	in := []byte(`{"a":1}`)
	var j JSONObject
	if err := j.UnmarshalJSON(in); err != nil {
		t.Fatal(err)
	}
	in[2] = 'z'
	if string(j.Raw) != `{"a":1}` {
		t.Errorf("Raw aliases the decoder's buffer: %s", j.Raw)
	}
}

func TestJSONObjectMarshal(t *testing.T) {
	raw := `{"b": 1, "a":2}`
	got, err := JSONObject{Raw: []byte(raw)}.MarshalJSON()
	if err != nil || string(got) != raw {
		t.Errorf("MarshalJSON = %s, %v; want %s verbatim", got, err, raw)
	}
	for _, j := range []JSONObject{{}, {Raw: []byte{}}} {
		if got, err := j.MarshalJSON(); err != nil || string(got) != "null" {
			t.Errorf("MarshalJSON of %#v = %s, %v; want null", j, got, err)
		}
	}
	// Inside a struct, encoding/json compacts what MarshalJSON returns.
	data, err := json.Marshal(NamedTemplate{Name: "a", Spec: JSONObject{Raw: []byte(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"a","spec":{"b":1,"a":2}}`; string(data) != want {
		t.Errorf("Marshal = %s, want %s", data, want)
	}
}

func TestJSONValue(t *testing.T) {
	for _, in := range []string{`"x"`, `[1,"a"]`, `{"a":1}`, `12.5`, `-3`, `true`, `false`} {
		var v JSONValue
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if string(v.Raw) != in {
			t.Errorf("Raw = %s, want %s", v.Raw, in)
		}
		out, err := v.MarshalJSON()
		if err != nil || string(out) != in {
			t.Errorf("MarshalJSON = %s, %v; want %s", out, err, in)
		}
	}
	var v JSONValue
	if err := v.UnmarshalJSON([]byte("null")); err != nil || v.Raw != nil {
		t.Errorf("null: Raw = %q, %v; want nil", v.Raw, err)
	}
	// A null value of a patch reads as no value at all.
	var p OverridePatch
	if err := json.Unmarshal([]byte(`{"path":"/gateway","value":null}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Value != nil {
		t.Errorf("value: null decoded to %#v", p.Value)
	}
}
