//go:build integration

package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestAccessPointRevisionAPI: AccessPointRevisions through the hub cluster, as
// the hub controller and kubectl use them: server-side apply creates one and
// may change its labels, not its spec; kubectl prints its columns; it has no
// /status.
func TestAccessPointRevisionAPI(t *testing.T) {
	e := hubEnv(t)
	ns := e.newNamespace(t, "apr")
	doc := func(hash, team string) string {
		return fmt.Sprintf(`apiVersion: traffic.portico.dev/v1alpha1
kind: AccessPointRevision
metadata:
  name: web-1
  namespace: %s
  labels: {traffic.portico.dev/access-point: web, team: %[2]s}
spec:
  accessPointRef: {namespace: %[1]s, name: web}
  revision: 1
  hash: %[3]s
  content:
    hosts: [web.apr.example.com]
`, ns, team, hash)
	}
	e.mustApplyYAML(t, doc("0123abcd", "a"), "apply", "--server-side")

	out := e.mustKubectl(t, "get", "apr", "-n", ns)
	if !regexp.MustCompile(`(?m)^NAME\s+ACCESS POINT\s+REVISION\s+HASH\s+AGE$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^web-1\s+web\s+1\s+0123abcd\s+\S+$`).MatchString(out) {
		t.Errorf("kubectl get apr:\n%s", out)
	}

	if _, stderr, err := e.applyYAML(t, doc("forged", "a"), "apply", "--server-side"); err == nil || !strings.Contains(stderr, "field is immutable") {
		t.Errorf("changing the spec: err=%v stderr=%s", err, stderr)
	}
	e.mustApplyYAML(t, doc("0123abcd", "b"), "apply", "--server-side")
	out = e.mustKubectl(t, "get", "apr", "web-1", "-n", ns, "-o", "jsonpath={.metadata.labels.team} {.spec.hash} {.metadata.generation}")
	if out != "b 0123abcd 1" {
		t.Errorf("after a label change: %q, want %q", out, "b 0123abcd 1")
	}

	if _, stderr, err := e.kubectl(t, "get", "apr", "web-1", "-n", ns, "--subresource=status"); err == nil || !strings.Contains(stderr, "NotFound") && !strings.Contains(stderr, "not found") {
		t.Errorf("an AccessPointRevision has no /status: err=%v stderr=%s", err, stderr)
	}
}
