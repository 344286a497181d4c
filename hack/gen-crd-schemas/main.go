// Command gen-crd-schemas extracts the spec schemas of the kinds Portico
// embeds in its templates from the CRDs published in a pinned Go module, and
// writes them as a Go source file, so that the validators of
// registry/traffic/istioschema and registry/traffic/gatewayapischema work
// without reading any file at run time. Sources:
//
//   - istio: the Istio kinds (networking, security and telemetry.istio.io/v1)
//     of istio.io/api's kubernetes/customresourcedefinitions.gen.yaml;
//   - gateway-api: the Gateway API kinds (gateway.networking.k8s.io/v1) of
//     sigs.k8s.io/gateway-api's standard-channel CRDs (config/crd/standard).
//
// The module's version is the one go.mod pins.
//
// Usage (from the module root):
//
//	go run ./hack/gen-crd-schemas -source istio -out registry/traffic/istioschema/zz_generated.schemas.go
//	go run ./hack/gen-crd-schemas -source gateway-api -out registry/traffic/gatewayapischema/zz_generated.schemas.go
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
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// version is the CRD version whose spec schemas are extracted.
const version = "v1"

// source is a module's CRDs and the kinds taken from them.
type source struct {
	// module is the Go module path; files are its CRD files (paths in the module).
	module string
	files  []string
	// kinds maps each kind to its API group; kinds are unique within a source.
	kinds map[string]string
	// pkg is the package of the generated file; versionConst the constant
	// holding the module's version there; what says what specSchemas maps.
	pkg, versionConst, what string
	// channel, when set, is the gateway.networking.k8s.io/channel annotation
	// every CRD must carry.
	channel string
}

const gatewayAPIGroup = "gateway.networking.k8s.io"

var sources = map[string]source{
	"istio": {
		module: "istio.io/api",
		files:  []string{"kubernetes/customresourcedefinitions.gen.yaml"},
		kinds: map[string]string{
			"Gateway":               "networking.istio.io",
			"VirtualService":        "networking.istio.io",
			"DestinationRule":       "networking.istio.io",
			"ServiceEntry":          "networking.istio.io",
			"WorkloadEntry":         "networking.istio.io",
			"WorkloadGroup":         "networking.istio.io",
			"AuthorizationPolicy":   "security.istio.io",
			"RequestAuthentication": "security.istio.io",
			"Telemetry":             "telemetry.istio.io",
		},
		pkg: "istioschema", versionConst: "istioAPIVersion",
		what: "an Istio kind (networking, security or telemetry.istio.io/" + version + ")",
	},
	"gateway-api": {
		module: "sigs.k8s.io/gateway-api",
		files: []string{
			"config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
			"config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
			"config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml",
			"config/crd/standard/gateway.networking.k8s.io_tlsroutes.yaml",
			"config/crd/standard/gateway.networking.k8s.io_tcproutes.yaml",
		},
		kinds: map[string]string{
			"Gateway":   gatewayAPIGroup,
			"HTTPRoute": gatewayAPIGroup,
			"GRPCRoute": gatewayAPIGroup,
			"TLSRoute":  gatewayAPIGroup,
			"TCPRoute":  gatewayAPIGroup,
		},
		pkg: "gatewayapischema", versionConst: "gatewayAPIVersion",
		what:    "a Gateway API kind (" + gatewayAPIGroup + "/" + version + ", standard channel)",
		channel: "standard",
	},
}

func main() {
	out := flag.String("out", "", "path of the Go file to write (required)")
	name := flag.String("source", "", "the CRDs to read: istio or gateway-api (required)")
	moduleDir := flag.String("module-dir", "", "directory of the source's module (default: located with the go command)")
	keepDescriptions := flag.Bool("keep-descriptions", false, "keep the description fields of the schemas (they are not needed for validation)")
	flag.Parse()
	src, ok := sources[*name]
	if *out == "" || !ok || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(src, *out, *moduleDir, *keepDescriptions); err != nil {
		fmt.Fprintln(os.Stderr, "gen-crd-schemas:", err)
		os.Exit(1)
	}
}

func run(src source, out, dir string, keepDescriptions bool) error {
	modVersion := "(directory given with -module-dir)"
	if dir == "" {
		var err error
		if dir, modVersion, err = locateModule(src.module); err != nil {
			return err
		}
	}
	schemas := map[string][]byte{}
	for _, f := range src.files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return err
		}
		if err := extractSpecSchemas(src, f, data, keepDescriptions, schemas); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(src.kinds)) {
		if schemas[k] == nil {
			return fmt.Errorf("%s: no CRD for %s.%s in %v", src.module, k, src.kinds[k], src.files)
		}
	}
	code, err := render(src, modVersion, schemas, keepDescriptions)
	if err != nil {
		return err
	}
	if cur, err := os.ReadFile(out); err == nil && bytes.Equal(cur, code) {
		return nil // up to date; leave the file (and its mtime) alone
	}
	return os.WriteFile(out, code, 0o644)
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

// extractSpecSchemas adds to schemas, for each of the source's kinds found in
// file, the JSON of the spec schema of its CRD's version v1. It fails if a
// kind is found twice, lacks the source's channel or its schema is not
// structural, so that a broken release is caught when generating rather than
// when validating.
func extractSpecSchemas(src source, file string, data []byte, keepDescriptions bool, schemas map[string][]byte) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		kind := crd.Spec.Names.Kind
		if crd.Kind != "CustomResourceDefinition" || crd.Spec.Group != src.kinds[kind] {
			continue
		}
		if _, dup := schemas[kind]; dup {
			return fmt.Errorf("%s: CRD for %s.%s found twice", file, kind, src.kinds[kind])
		}
		if ch := crd.Annotations[gatewayAPIGroup+"/channel"]; src.channel != "" && ch != src.channel {
			return fmt.Errorf("%s: CRD %s is of channel %q, want %q", file, crd.Name, ch, src.channel)
		}
		spec, err := specSchema(&crd)
		if err != nil {
			return err
		}
		if !keepDescriptions {
			stripDescriptions(spec)
		}
		if err := checkStructural(kind, spec); err != nil {
			return err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep CEL rules such as "a && b" readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(spec); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		schemas[kind] = bytes.TrimSpace(b.Bytes())
	}
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

func render(src source, modVersion string, schemas map[string][]byte, keepDescriptions bool) ([]byte, error) {
	names := slices.Sorted(maps.Keys(schemas))
	files := strings.Join(src.files, " ")
	if len(src.files) > 1 {
		files = path.Dir(src.files[0])
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by hack/gen-crd-schemas from %s@%s %s. DO NOT EDIT.\n\n", src.module, modVersion, files)
	fmt.Fprintf(&b, "package %s\n\n", src.pkg)
	fmt.Fprintf(&b, "// %s is the version of %s the schemas were extracted from.\n", src.versionConst, src.module)
	fmt.Fprintf(&b, "const %s = %s\n\n", src.versionConst, strconv.Quote(modVersion))
	fmt.Fprintf(&b, "// specSchemas maps %s\n", src.what)
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
	code, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated source: %w", err)
	}
	return code, nil
}

// rawString returns s as a Go raw string literal, splicing in any backquotes.
func rawString(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "` + \"`\" + `") + "`"
}
