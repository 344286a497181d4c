// Command gen-istio-schemas extracts the spec schemas of the Istio kinds
// Portico embeds (networking, security and telemetry) from Istio's published CRDs (istio.io/api, at the version
// pinned in go.mod) and writes them as a Go source file, so that
// registry/traffic/istioschema can validate Istio specs without reading any file
// at run time.
//
// Usage (from the module root):
//
//	go run ./hack/gen-istio-schemas -out registry/traffic/istioschema/zz_generated.schemas.go
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	istioModule = "istio.io/api"
	crdFile     = "kubernetes/customresourcedefinitions.gen.yaml"
	version     = "v1"
)

// kinds are the Istio kinds whose spec schemas are extracted, with their API
// group. Kinds are unique across these groups.
var kinds = map[string]string{
	"Gateway":               "networking.istio.io",
	"VirtualService":        "networking.istio.io",
	"DestinationRule":       "networking.istio.io",
	"ServiceEntry":          "networking.istio.io",
	"WorkloadEntry":         "networking.istio.io",
	"WorkloadGroup":         "networking.istio.io",
	"AuthorizationPolicy":   "security.istio.io",
	"RequestAuthentication": "security.istio.io",
	"Telemetry":             "telemetry.istio.io",
}

func main() {
	out := flag.String("out", "", "path of the Go file to write (required)")
	pkg := flag.String("package", "istioschema", "package name of the generated file")
	moduleDir := flag.String("istio-api-dir", "", "directory of the istio.io/api module (default: located with the go command)")
	keepDescriptions := flag.Bool("keep-descriptions", false, "keep the description fields of the schemas (they are not needed for validation)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *pkg, *moduleDir, *keepDescriptions); err != nil {
		fmt.Fprintln(os.Stderr, "gen-istio-schemas:", err)
		os.Exit(1)
	}
}

func run(out, pkg, dir string, keepDescriptions bool) error {
	modVersion := "(directory given with -istio-api-dir)"
	if dir == "" {
		var err error
		if dir, modVersion, err = locateModule(istioModule); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(crdFile)))
	if err != nil {
		return err
	}
	schemas, err := extractSpecSchemas(data, keepDescriptions)
	if err != nil {
		return err
	}
	src, err := render(pkg, modVersion, schemas, keepDescriptions)
	if err != nil {
		return err
	}
	if cur, err := os.ReadFile(out); err == nil && bytes.Equal(cur, src) {
		return nil // up to date; leave the file (and its mtime) alone
	}
	return os.WriteFile(out, src, 0o644)
}

// goModule is the subset of `go list -m -json` / `go mod download -json` output used here.
type goModule struct {
	Path    string
	Version string
	Dir     string
	Error   any
	Replace *goModule
}

// locateModule returns the directory and the version of the module path as
// selected by the main module's go.mod, downloading it if it is not in the
// module cache yet.
func locateModule(path string) (dir, version string, err error) {
	var m goModule
	if err := goJSON(&m, "list", "-m", "-json", path); err != nil {
		return "", "", err
	}
	if m.Replace != nil {
		m = *m.Replace
	}
	if m.Dir == "" {
		if m.Version == "" {
			return "", "", fmt.Errorf("%s has no version in go.mod and is not replaced by a local directory", path)
		}
		var d goModule
		if err := goJSON(&d, "mod", "download", "-json", m.Path+"@"+m.Version); err != nil {
			return "", "", err
		}
		if d.Error != nil || d.Dir == "" {
			return "", "", fmt.Errorf("go mod download %s@%s: %v", m.Path, m.Version, d.Error)
		}
		m.Dir = d.Dir
	}
	if m.Version == "" {
		m.Version = "(local replacement)"
	}
	return m.Dir, m.Version, nil
}

func goJSON(v any, args ...string) error {
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("go %s: decoding output: %v", strings.Join(args, " "), err)
	}
	return nil
}

// extractSpecSchemas returns, for each of kinds, the JSON of the spec schema of
// its CRD's version v1. It fails if a kind is missing or its schema is not
// structural, so that a broken Istio release is caught when generating rather
// than when validating.
func extractSpecSchemas(data []byte, keepDescriptions bool) (map[string][]byte, error) {
	schemas := make(map[string][]byte, len(kinds))
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", crdFile, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", crdFile, err)
		}
		kind := crd.Spec.Names.Kind
		if crd.Kind != "CustomResourceDefinition" || crd.Spec.Group != kinds[kind] {
			continue
		}
		if _, dup := schemas[kind]; dup {
			return nil, fmt.Errorf("%s: CRD for %s.%s found twice", crdFile, kind, kinds[kind])
		}
		spec, err := specSchema(&crd)
		if err != nil {
			return nil, err
		}
		if !keepDescriptions {
			stripDescriptions(spec)
		}
		if err := checkStructural(kind, spec); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep CEL rules such as "a && b" readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(spec); err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		schemas[kind] = bytes.TrimSpace(b.Bytes())
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if schemas[k] == nil {
			return nil, fmt.Errorf("%s: no CRD for %s.%s", crdFile, k, kinds[k])
		}
	}
	return schemas, nil
}

func specSchema(crd *apiextensionsv1.CustomResourceDefinition) (*apiextensionsv1.JSONSchemaProps, error) {
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Name != version {
			continue
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("%s: version %s has no openAPIV3Schema", crd.Name, version)
		}
		spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
		if !ok {
			return nil, fmt.Errorf("%s: version %s has no spec schema", crd.Name, version)
		}
		return &spec, nil
	}
	return nil, fmt.Errorf("%s: no version %s", crd.Name, version)
}

// stripDescriptions removes documentation-only fields, which make up most of
// the schemas' size and play no part in validation.
func stripDescriptions(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Description = ""
	s.ExternalDocs = nil
	s.Example = nil
	stripMap := func(m map[string]apiextensionsv1.JSONSchemaProps) {
		for k, v := range m {
			stripDescriptions(&v)
			m[k] = v
		}
	}
	stripSlice := func(l []apiextensionsv1.JSONSchemaProps) {
		for i := range l {
			stripDescriptions(&l[i])
		}
	}
	stripMap(s.Properties)
	stripMap(s.PatternProperties)
	stripMap(s.Definitions)
	stripSlice(s.AllOf)
	stripSlice(s.OneOf)
	stripSlice(s.AnyOf)
	stripDescriptions(s.Not)
	if s.Items != nil {
		stripDescriptions(s.Items.Schema)
		stripSlice(s.Items.JSONSchemas)
	}
	if s.AdditionalProperties != nil {
		stripDescriptions(s.AdditionalProperties.Schema)
	}
	if s.AdditionalItems != nil {
		stripDescriptions(s.AdditionalItems.Schema)
	}
	for k, v := range s.Dependencies {
		stripDescriptions(v.Schema)
		s.Dependencies[k] = v
	}
}

func checkStructural(kind string, s *apiextensionsv1.JSONSchemaProps) error {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, internal, nil); err != nil {
		return fmt.Errorf("%s: converting spec schema: %w", kind, err)
	}
	// Checked where the CRD has it, under the resource root: the rules for the
	// root (metadata, additionalProperties) are not those of spec.
	root := &apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{"spec": *internal}}
	ss, err := structuralschema.NewStructural(root)
	if err != nil {
		return fmt.Errorf("%s: spec schema is not structural: %w", kind, err)
	}
	if errs := structuralschema.ValidateStructural(nil, ss); len(errs) > 0 {
		return fmt.Errorf("%s: spec schema is not structural: %w", kind, errs.ToAggregate())
	}
	return nil
}

func render(pkg, modVersion string, schemas map[string][]byte, keepDescriptions bool) ([]byte, error) {
	names := make([]string, 0, len(schemas))
	for k := range schemas {
		names = append(names, k)
	}
	sort.Strings(names)

	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by hack/gen-istio-schemas from %s@%s %s. DO NOT EDIT.\n\n", istioModule, modVersion, crdFile)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	fmt.Fprintf(&b, "// istioAPIVersion is the version of %s the schemas were extracted from.\n", istioModule)
	fmt.Fprintf(&b, "const istioAPIVersion = %s\n\n", strconv.Quote(modVersion))
	fmt.Fprintf(&b, "// specSchemas maps an Istio kind (networking, security or telemetry.istio.io/%s)\n", version)
	b.WriteString("// to the OpenAPI v3 schema (JSON) of its spec,\n")
	if keepDescriptions {
		b.WriteString("// as published in its CustomResourceDefinition.\n")
	} else {
		b.WriteString("// as published in its CustomResourceDefinition (descriptions removed).\n")
	}
	b.WriteString("var specSchemas = map[string]string{\n")
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s,\n", strconv.Quote(k), rawString(string(schemas[k])))
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated source: %w", err)
	}
	return src, nil
}

// rawString returns s as a Go raw string literal, splicing in any backquotes.
func rawString(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "` + \"`\" + `") + "`"
}
