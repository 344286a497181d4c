//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/portico-dev/portico/test/framework"
)

func TestHubServesPorticoAPI(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	out, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "api-resources", "--categories=portico", "-o", "wide")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	t.Log(out)
	for _, r := range []string{"federatedaccesspoints", "memberclusters", "vippools"} {
		if !strings.Contains(out, r) {
			t.Errorf("api-resources misses %s", r)
		}
	}
}
