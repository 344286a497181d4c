package structure

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pkg is what go list tells of one package, its test files left out.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// edge is one import that breaks a rule.
type edge struct{ from, to, rule string }

// TestImports enforces the layout's import rules on the non-test files of every
// package of the module:
//   - apis/ imports nothing of registry/, federation/, the agents, cmd/, hack/ or test/;
//   - registry/ imports nothing of federation/ or the agents;
//   - member-agent/ and lb-agent/ import of the project only apis/ and their own tree;
//   - no package of hack/ or test/localfed imports "testing", directly or
//     through another package.
func TestImports(t *testing.T) {
	module, pkgs := listPackages(t)
	byPath := map[string]*pkg{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	var bad []edge
	for _, p := range pkgs {
		from, ok := inModule(module, p.ImportPath)
		if !ok {
			continue
		}
		if p.Error != nil {
			t.Logf("%s did not load completely: %s", from, p.Error.Err)
		}
		for _, imp := range p.Imports {
			if to, ok := inModule(module, imp); ok {
				if rule := forbidden(from, to); rule != "" {
					bad = append(bad, edge{from, to, rule})
				}
			}
		}
		bad = append(bad, importsTesting(module, p, byPath)...)
	}
	for _, e := range bad {
		t.Errorf("%s -> %s: %s", e.from, e.to, e.rule)
	}
}

// forbidden returns the rule that an import of the module's package to by its
// package from breaks, or "" (both relative to the module).
func forbidden(from, to string) string {
	switch {
	case under(from, "apis") && under(to, "registry", "federation", "member-agent", "lb-agent", "cmd", "hack", "test"):
		return "apis/ may import no package of registry/, federation/, member-agent/, lb-agent/, cmd/, hack/ or test/"
	case under(from, "registry") && under(to, "federation", "member-agent", "lb-agent"):
		return "registry/ may import no package of federation/, member-agent/ or lb-agent/"
	case under(from, "member-agent") && !under(to, "apis", "member-agent"):
		return "member-agent/ may import of the project only apis/ and member-agent/"
	case under(from, "lb-agent") && !under(to, "apis", "lb-agent"):
		return "lb-agent/ may import of the project only apis/ and lb-agent/"
	}
	return ""
}

// importsTesting reports how a package of hack/ or test/localfed comes to
// import "testing": directly, through a package of the module, or through one
// outside it.
func importsTesting(module string, p *pkg, byPath map[string]*pkg) []edge {
	from, _ := inModule(module, p.ImportPath)
	if !under(from, "hack", "test/localfed") || !slices.Contains(p.Deps, "testing") {
		return nil
	}
	const rule = `hack/ and test/localfed may not import "testing"`
	var bad []edge
	for _, imp := range p.Imports {
		to, ours := inModule(module, imp)
		switch {
		case imp == "testing":
			bad = append(bad, edge{from, imp, rule})
		case ours && byPath[imp] != nil && slices.Contains(byPath[imp].Deps, "testing"):
			bad = append(bad, edge{from, to, rule + " (" + to + " imports it)"})
		}
	}
	if len(bad) == 0 {
		bad = append(bad, edge{from, "testing", rule + " (through a package outside the module)"})
	}
	return bad
}

// under tells whether the package path (relative to the module) is one of the
// trees or inside one.
func under(path string, trees ...string) bool {
	for _, tree := range trees {
		if path == tree || strings.HasPrefix(path, tree+"/") {
			return true
		}
	}
	return false
}

// inModule returns path relative to the module, and whether it is in it.
func inModule(module, path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// listPackages runs go list over the module and returns its path and packages.
func listPackages(t *testing.T) (string, []*pkg) {
	t.Helper()
	module := strings.TrimSpace(string(goCommand(t, "list", "-m")))
	out := goCommand(t, "list", "-e", "-json=ImportPath,Imports,Deps,Error", module+"/...")
	var pkgs []*pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		p := &pkg{}
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return module, pkgs
}

func goCommand(t *testing.T, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func TestForbidden(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		bad      bool
	}{
		{"apis/traffic/overrides", "apis/traffic/v1alpha1", false},
		{"apis/runqueue", "federation/certificate", true},
		{"apis/traffic", "test/framework", true},
		{"apis/traffic", "testdata", false},
		{"registry/store", "apis/fieldselector", false},
		{"registry/traffic/federatedaccesspoint", "federation/overrides", true},
		{"registry/apiserver", "lb-agent/model", true},
		{"member-agent/reconciler", "member-agent/apply", false},
		{"member-agent/reconciler", "apis/runqueue", false},
		{"member-agent/agent", "federation/runqueue", true},
		{"member-agent/agent", "lb-agent/model", true},
		{"lb-agent/controller", "lb-agent/model", false},
		{"lb-agent/controller", "member-agent/apply", true},
		{"lb-agent/agent", "cmd/lb-agent", true},
		{"federation/accesspoint", "registry/store", false},
	} {
		if got := forbidden(tc.from, tc.to) != ""; got != tc.bad {
			t.Errorf("%s -> %s: forbidden = %t, want %t", tc.from, tc.to, got, tc.bad)
		}
	}
}

func TestImportsTesting(t *testing.T) {
	const m = "example.com/m"
	byPath := map[string]*pkg{
		m + "/test/framework": {ImportPath: m + "/test/framework", Imports: []string{"testing"}, Deps: []string{"testing"}},
		m + "/test/localfed":  {ImportPath: m + "/test/localfed", Imports: []string{"os"}, Deps: []string{"os"}},
	}
	for _, tc := range []struct {
		name string
		p    *pkg
		want []string
	}{
		{"direct", &pkg{ImportPath: m + "/test/localfed/x", Imports: []string{"testing"}, Deps: []string{"testing"}}, []string{"testing"}},
		{"through the module", &pkg{ImportPath: m + "/hack/local-up", Imports: []string{m + "/test/framework", m + "/test/localfed"},
			Deps: []string{m + "/test/framework", m + "/test/localfed", "testing"}}, []string{"test/framework"}},
		{"through a dependency", &pkg{ImportPath: m + "/hack/tool", Imports: []string{"example.org/dep"}, Deps: []string{"example.org/dep", "testing"}}, []string{"testing"}},
		{"clean", &pkg{ImportPath: m + "/hack/local-up", Imports: []string{m + "/test/localfed"}, Deps: []string{m + "/test/localfed", "os"}}, nil},
		{"elsewhere", &pkg{ImportPath: m + "/test/framework", Imports: []string{"testing"}, Deps: []string{"testing"}}, nil},
	} {
		var got []string
		for _, e := range importsTesting(m, tc.p, byPath) {
			got = append(got, e.to)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: reported %v, want %v", tc.name, got, tc.want)
		}
	}
}
