//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/framework"
)

type gvkExtension struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type openAPISchema struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	GVK        []gvkExtension             `json:"x-kubernetes-group-version-kind"`
}

// schemasByKind indexes schemas by the group/kind of their GVK extension.
func schemasByKind(schemas map[string]openAPISchema) map[string]openAPISchema {
	m := map[string]openAPISchema{}
	for _, s := range schemas {
		for _, gvk := range s.GVK {
			if gvk.Version == "v1alpha1" {
				m[gvk.Group+"/"+gvk.Kind] = s
			}
		}
	}
	return m
}

// TestOpenAPI: the hub cluster serves portico-hub's OpenAPI v3 for both
// groups with a schema for every kind and list, and its merged OpenAPI v2
// includes the Portico definitions.
func TestOpenAPI(t *testing.T) {
	e := hubEnv(t)
	for _, group := range []string{clusterGroup, trafficGroup} {
		var doc struct {
			OpenAPI    string `json:"openapi"`
			Paths      map[string]json.RawMessage
			Components struct {
				Schemas map[string]openAPISchema `json:"schemas"`
			} `json:"components"`
		}
		// The hub cluster's aggregator fetches portico-hub's OpenAPI v3 in
		// the background once the APIService is available: on a fresh hub
		// (this test run first) it may not be served yet.
		framework.Eventually(t, 30*time.Second, "the hub serves the OpenAPI v3 of "+group, func() (bool, string) {
			out, stderr, err := e.kubectl(t, "get", "--raw", "/openapi/v3/apis/"+group+"/v1alpha1")
			if err != nil {
				return false, stderr
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				return false, err.Error()
			}
			return len(doc.Components.Schemas) > 0, "no schemas yet"
		})
		if !strings.HasPrefix(doc.OpenAPI, "3.") {
			t.Errorf("OpenAPI v3 of %s: version %q", group, doc.OpenAPI)
		}
		kinds := schemasByKind(doc.Components.Schemas)
		for _, r := range porticoResources {
			if r.group != group {
				continue
			}
			s, ok := kinds[group+"/"+r.kind]
			if !ok {
				t.Errorf("OpenAPI v3 of %s has no schema for %s", group, r.kind)
				continue
			}
			props := []string{"apiVersion", "kind", "metadata", "spec", "status"}
			if withoutStatus[r.kind] {
				props = props[:4]
			}
			for _, p := range props {
				if _, ok := s.Properties[p]; !ok {
					t.Errorf("schema of %s lacks %s", r.kind, p)
				}
			}
			if _, ok := kinds[group+"/"+r.kind+"List"]; !ok {
				t.Errorf("OpenAPI v3 of %s has no schema for %sList", group, r.kind)
			}
			base := "/apis/" + group + "/v1alpha1/"
			path := base + r.resource
			if r.namespaced {
				path = base + "namespaces/{namespace}/" + r.resource
			}
			paths := []string{path, path + "/{name}", path + "/{name}/status"}
			if withoutStatus[r.kind] {
				if _, ok := doc.Paths[paths[2]]; ok {
					t.Errorf("OpenAPI v3 of %s has a path %s for a kind without status", group, paths[2])
				}
				paths = paths[:2]
			}
			for _, p := range paths {
				if _, ok := doc.Paths[p]; !ok {
					t.Errorf("OpenAPI v3 of %s has no path %s", group, p)
				}
			}
		}
	}

	// The spec schemas carry what kubectl and server-side apply need.
	out := e.mustKubectl(t, "get", "--raw", "/openapi/v3/apis/"+trafficGroup+"/v1alpha1")
	for _, want := range []string{`"x-kubernetes-list-type":"set"`, `"x-kubernetes-list-map-keys":["name"]`, `"x-kubernetes-preserve-unknown-fields":true`} {
		if !strings.Contains(strings.ReplaceAll(out, " ", ""), want) {
			t.Errorf("OpenAPI v3 of %s lacks %s", trafficGroup, want)
		}
	}

	// OpenAPI v2, merged by the hub cluster's aggregator (which fetches it
	// from portico-hub in the background).
	framework.Eventually(t, 30*time.Second, "the hub's OpenAPI v2 lacks Portico definitions", func() (bool, string) {
		out, stderr, err := e.kubectl(t, "get", "--raw", "/openapi/v2")
		if err != nil {
			return false, stderr
		}
		var doc struct {
			Swagger     string                   `json:"swagger"`
			Definitions map[string]openAPISchema `json:"definitions"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			return false, err.Error()
		}
		kinds := schemasByKind(doc.Definitions)
		var missing []string
		for _, r := range porticoResources {
			if _, ok := kinds[r.group+"/"+r.kind]; !ok {
				missing = append(missing, r.kind)
			}
		}
		if fap, ok := kinds[trafficGroup+"/FederatedAccessPoint"]; ok {
			if _, ok := fap.Properties["spec"]; !ok {
				missing = append(missing, "FederatedAccessPoint.spec")
			}
		}
		return len(missing) == 0 && doc.Swagger == "2.0", "missing " + strings.Join(missing, ", ")
	})
}

// TestHealthAndMetrics: portico-hub's own /healthz, /livez and /readyz answer
// without credentials over TLS verified with its CA; /metrics needs an
// authorized client (delegated: a system:masters client certificate of the hub
// cluster) and then counts the Portico requests.
func TestHealthAndMetrics(t *testing.T) {
	e := hubEnv(t)
	get := func(client *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := client.Get(e.ph.URL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	anonymous := porticoHubClient(t, e, "", nil)
	// Only these three paths are always allowed; their individual checks
	// (/healthz/etcd...) go through authorization like any other path.
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/readyz?verbose"} {
		code, body := get(anonymous, path)
		if code != http.StatusOK {
			t.Errorf("GET %s without credentials: %d %s", path, code, body)
		}
		if !strings.Contains(body, "ok") {
			t.Errorf("GET %s: %q", path, body)
		}
	}
	if _, body := get(anonymous, "/readyz?verbose"); !strings.Contains(body, "[+]etcd ok") {
		t.Errorf("/readyz?verbose does not check etcd:\n%s", body)
	}

	// The server certificate is checked: a client that does not trust
	// portico-hub's CA fails.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(e.ph.URL() + "/healthz"); err == nil {
		t.Errorf("portico-hub's certificate was accepted without its CA")
	}

	code, body := get(anonymous, "/metrics")
	if code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("GET /metrics without credentials: %d, want 401 or 403", code)
	}
	if strings.Contains(body, "apiserver_request_total") {
		t.Errorf("metrics served without credentials")
	}
	if code, _ := get(porticoHubClient(t, e, uniqueName("nobody"), nil), "/metrics"); code != http.StatusForbidden {
		t.Errorf("GET /metrics as a user without RBAC: %d, want 403", code)
	}

	// Make sure there are Portico requests to count.
	e.mustKubectl(t, "get", "mc")
	admin := porticoHubClient(t, e, "admin", []string{"system:masters"})
	code, body = get(admin, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics as admin: %d %s", code, body)
	}
	var counted []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "apiserver_request_total{") {
			counted = append(counted, line)
		}
	}
	if len(counted) == 0 {
		t.Fatalf("/metrics has no apiserver_request_total")
	}
	if !slices.ContainsFunc(counted, func(l string) bool {
		return strings.Contains(l, `group="cluster.portico.dev"`) && strings.Contains(l, `resource="memberclusters"`) && strings.Contains(l, `verb="LIST"`)
	}) {
		t.Errorf("apiserver_request_total does not count the LIST of memberclusters:\n%s", strings.Join(counted, "\n"))
	}
}
