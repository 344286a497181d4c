//go:build integration

package integration

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portico-dev/portico/test/localfed"
)

// TestExamplesApplyAndGet applies manifests/examples/walkthrough/ as a user would and
// checks what kubectl get prints for them. It owns the names the examples use
// (namespace shop, clusters zone-a-1/zone-b-1, groups zone-a/zone-b, pool
// public with 203.0.113.0/24, HostGrant shop-example-com): no other test may
// use them.
func TestExamplesApplyAndGet(t *testing.T) {
	e := hubEnv(t)
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	examples := filepath.Join(root, "manifests", "examples", "walkthrough") + "/"

	objects := []string{
		"namespace/shop",
		"hostgrant.traffic.portico.dev/shop-example-com",
		"membercluster.cluster.portico.dev/zone-a-1",
		"membercluster.cluster.portico.dev/zone-b-1",
		"loadbalancergroup.cluster.portico.dev/zone-a",
		"loadbalancergroup.cluster.portico.dev/zone-b",
		"vippool.traffic.portico.dev/public",
		"federatedaccesspoint.traffic.portico.dev/checkout",
	}
	out := e.mustKubectl(t, "apply", "-f", examples)
	for _, obj := range objects {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(obj) + ` created$`).MatchString(out) {
			t.Errorf("kubectl apply did not report %s created:\n%s", obj, out)
		}
	}
	// Applying the same files again changes nothing on the server: no object
	// gets a new resourceVersion or generation.
	versions := func() string {
		t.Helper()
		return e.mustKubectl(t, "get", "-f", examples, "-o",
			`jsonpath={range .items[*]}{.kind}/{.metadata.name}: rv={.metadata.resourceVersion} gen={.metadata.generation}{"\n"}{end}`)
	}
	before := versions()
	out = e.mustKubectl(t, "apply", "-f", examples)
	if after := versions(); after != before || strings.Count(before, "\n") != len(objects) {
		t.Errorf("re-applying the examples changed objects:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// kubectl diff (a server-side dry run of the same apply) sees no
	// difference.
	if out, stderr, err := e.kubectl(t, "diff", "-f", examples); err != nil {
		t.Errorf("kubectl diff of the applied examples: %v\n%s\n%s", err, out, stderr)
	}
	t.Run("issuer examples are valid", func(t *testing.T) {
		// A server-side dry run: validated and defaulted by portico-hub, not
		// stored (the ACME one names a server that must not be contacted).
		out := e.mustKubectl(t, "apply", "--dry-run=server", "-f", filepath.Join(root, "manifests", "examples", "issuers")+"/")
		for _, obj := range []string{"certificateissuer.traffic.portico.dev/acme", "certificateissuer.traffic.portico.dev/local-ca"} {
			if !strings.Contains(out, obj+" created (server dry run)") {
				t.Errorf("dry run did not create %s:\n%s", obj, out)
			}
		}
	})
	t.Run("reapply reports unchanged", func(t *testing.T) {
		// kubectl computes a strategic merge patch from the OpenAPI schema; a
		// list whose items get server-side defaults and that has no patch
		// merge key is sent again on every apply, and kubectl then reports
		// "configured" although nothing changed.
		// An access point's template specs are replaced whole by a patch
		// (x-kubernetes-patch-strategy: replace, so that kubectl computes
		// its patch without errors): kubectl always sends them and reports
		// "configured", while the server writes nothing (checked above).
		var changed []string
		for _, obj := range objects {
			want := ` unchanged$`
			if strings.HasPrefix(obj, "federatedaccesspoint.") {
				want = ` (unchanged|configured)$`
			}
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(obj) + want).MatchString(out) {
				changed = append(changed, obj)
			}
		}
		if len(changed) > 0 {
			t.Errorf("re-applying the unchanged examples did not report %v unchanged:\n%s", changed, out)
		}
	})

	t.Run("get fap", func(t *testing.T) {
		tb := parseTable(t, e.mustKubectl(t, "get", "fap", "-n", "shop"))
		if want := []string{"NAME", "HOSTS", "VIP", "CLUSTERS", "READY", "ROLLOUT", "AGE"}; !slices.Equal(tb.header, want) {
			t.Errorf("header %v, want %v", tb.header, want)
		}
		row := tb.row("checkout")
		if row == nil {
			t.Fatalf("no row for checkout: %v", tb.rows)
		}
		// No controller has placed it or allocated a VIP yet.
		for col, want := range map[string]string{"HOSTS": "checkout.example.com", "VIP": "<pending>", "CLUSTERS": "0/0", "ROLLOUT": "AllAtOnce"} {
			if row[col] != want {
				t.Errorf("%s = %q, want %q (row %v)", col, row[col], want, row)
			}
		}
		if row["READY"] == "True" || row["READY"] == "" {
			t.Errorf("READY = %q for an access point nothing has reconciled", row["READY"])
		}
		if !regexp.MustCompile(`^\d+s$`).MatchString(row["AGE"]) {
			t.Errorf("AGE = %q", row["AGE"])
		}

		wide := parseTable(t, e.mustKubectl(t, "get", "fap", "-n", "shop", "-o", "wide"))
		if want := []string{"NAME", "HOSTS", "VIP", "CLUSTERS", "READY", "ROLLOUT", "CERT", "DNS", "AGE"}; !slices.Equal(wide.header, want) {
			t.Errorf("wide header %v, want %v", wide.header, want)
		}
		if row := wide.row("checkout"); row == nil {
			t.Errorf("no wide row for checkout")
		} else {
			for col, want := range map[string]string{"CERT": "<none>", "ROLLOUT": "AllAtOnce", "DNS": "<none>", "HOSTS": "checkout.example.com"} {
				if row[col] != want {
					t.Errorf("wide %s = %q, want %q", col, row[col], want)
				}
			}
		}
		// By its short name and by its full name, one object.
		one := parseTable(t, e.mustKubectl(t, "get", "federatedaccesspoints.traffic.portico.dev", "checkout", "-n", "shop"))
		if !slices.Equal(one.names(), []string{"checkout"}) {
			t.Errorf("get by name: %v", one.rows)
		}
	})

	t.Run("get portico category", func(t *testing.T) {
		out := e.mustKubectl(t, "get", "portico", "-A")
		for _, obj := range objects[1:] {
			// With -A every kubectlTable has a NAMESPACE column, empty for
			// cluster-scoped kinds.
			if !regexp.MustCompile(`(?m)^(shop)?\s*` + regexp.QuoteMeta(obj) + `\s`).MatchString(out) {
				t.Errorf("kubectl get portico -A does not list %s:\n%s", obj, out)
			}
		}
		// Namespaced kinds are printed with their namespace.
		if !regexp.MustCompile(`(?m)^shop\s+federatedaccesspoint\.traffic\.portico\.dev/checkout\s`).MatchString(out) {
			t.Errorf("the access point is not listed in namespace shop:\n%s", out)
		}
	})

	t.Run("get mc", func(t *testing.T) {
		tb := parseTable(t, e.mustKubectl(t, "get", "mc", "zone-a-1", "zone-b-1"))
		if want := []string{"NAME", "ZONE", "REGION", "AVAILABLE", "AGENT", "AGE"}; !slices.Equal(tb.header, want) {
			t.Errorf("header %v, want %v", tb.header, want)
		}
		for name, zone := range map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"} {
			row := tb.row(name)
			if row == nil {
				t.Errorf("no row for %s", name)
				continue
			}
			// No agent has joined: availability is unknown, no agent version.
			if row["ZONE"] != zone || row["REGION"] != "r1" || row["AVAILABLE"] != "Unknown" || row["AGENT"] != "" {
				t.Errorf("row of %s: %v", name, row)
			}
		}
	})

	t.Run("get vippools and lbg", func(t *testing.T) {
		tb := parseTable(t, e.mustKubectl(t, "get", "vippools", "public"))
		if want := []string{"NAME", "CIDRS", "ALLOCATED", "AVAILABLE", "AGE"}; !slices.Equal(tb.header, want) {
			t.Errorf("header %v, want %v", tb.header, want)
		}
		if row := tb.row("public"); row == nil || row["CIDRS"] != "203.0.113.0/24" || row["ALLOCATED"] != "0" {
			t.Errorf("row of public: %v", row)
		}
		wide := parseTable(t, e.mustKubectl(t, "get", "vippools", "public", "-o", "wide"))
		if row := wide.row("public"); row == nil || row["ZONES"] != "zone-a,zone-b" {
			t.Errorf("wide row of public: %v (header %v)", row, wide.header)
		}
		lbg := parseTable(t, e.mustKubectl(t, "get", "lbg", "zone-a"))
		if row := lbg.row("zone-a"); row == nil || row["ZONE"] != "zone-a" || row["ASN"] != "64512" || row["PEERS"] != "1" {
			t.Errorf("lbg row: %v (header %v)", row, lbg.header)
		}
	})

	t.Run("describe", func(t *testing.T) {
		out := e.mustKubectl(t, "describe", "fap", "checkout", "-n", "shop")
		for _, want := range []string{"Name:", "checkout", "Namespace:", "shop", "checkout.example.com", "zone-b-1"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe lacks %q:\n%s", want, out)
			}
		}
	})
}
