//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestHubWipedAgentHoldsRemoval wipes the hub's etcd (the embedded etcd's data
// directory) and restarts portico-hub: the hub comes back empty. The
// member-agent keeps every object it applied and says so in its log; once the
// MemberCluster exists again (an operator re-joins the cluster) it reports
// PruneHeld=True with the numbers and the hub's changed identity; `kubectl portico confirm-removal` lets it
// remove them.
func TestHubWipedAgentHoldsRemoval(t *testing.T) {
	const cluster = "zone-a-1"
	f := newFederation(t, map[string]string{cluster: "zone-a"})
	pc := fastClient(f.hub.RestConfig)
	ctx := context.Background()
	waitAllAvailable(t, f)
	createHubNamespace(t, f.hub, "shop")
	const n = 3
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("web%d", i)
		if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx,
			fedAccessPoint("shop", name, []string{name + ".example.com"}, "5s"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFAP(t, pc, "shop", name, 60*time.Second, "applied", func(f *traffic.FederatedAccessPoint) bool { return appliedEverywhere(f, 1) })
	}
	istio := f.istio(t, cluster)
	virtualServices := func() int {
		l, err := istio.NetworkingV1().VirtualServices("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	if got := virtualServices(); got != n {
		t.Fatalf("%d VirtualServices in %s, want %d", got, cluster, n)
	}
	mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, cluster, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Wipe: stop portico-hub, remove its etcd data, start it on nothing.
	agentLog := f.agents[cluster].Process.LogPath
	logFrom := fileLen(agentLog)
	if err := f.portico.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(f.portico.Options.Dir, "data")); err != nil {
		t.Fatal(err)
	}
	if err := f.portico.Restart(ctx); err != nil {
		t.Fatalf("restarting portico-hub on an empty etcd: %v", err)
	}
	wiped := time.Now()
	if l, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("the hub was not wiped: %v access points, %v", len(l.Items), err)
	}
	framework.Eventually(t, 60*time.Second, "the agent holds the removal", func() (bool, string) {
		return strings.Contains(logSince(agentLog, logFrom), "Holding a mass removal"), ""
	})
	t.Logf("the agent held the removal %v after the hub came back empty", time.Since(wiped).Round(time.Millisecond))
	if got := virtualServices(); got != n {
		t.Fatalf("%d VirtualServices left in %s after the hub was wiped, want all %d kept", got, cluster, n)
	}

	// The operator joins the cluster again: the agent reports the hold.
	again := &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster, Labels: mc.Labels}, Spec: mc.Spec}
	if _, err := pc.ClusterV1alpha1().MemberClusters().Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var held *metav1.Condition
	framework.Eventually(t, 30*time.Second, "PruneHeld True on the MemberCluster", func() (bool, string) {
		mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, cluster, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		held = meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterPruneHeld)
		// The re-created MemberCluster carries the new hub's identity.
		return held != nil && held.Status == metav1.ConditionTrue && strings.Contains(held.Message, "identity changed from"), fmt.Sprintf("%+v", held)
	})
	t.Logf("PruneHeld: %s", held.Message)
	if !strings.Contains(held.Message, fmt.Sprintf("of %d of the %d access points", n, n)) {
		t.Errorf("PruneHeld message %q does not give the numbers (%d of %d access points)", held.Message, n, n)
	}
	if got := virtualServices(); got != n {
		t.Fatalf("%d VirtualServices left while the removal is held, want %d", got, n)
	}

	// Confirmed: the objects go.
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	run := runJoinPlugin(t, plugin, f.hub.KubeconfigPath, "confirm-removal", cluster)
	if run.err != nil {
		t.Fatalf("kubectl portico confirm-removal: %v\n%s", run.err, run.stderr)
	}
	confirmed := time.Now()
	framework.Eventually(t, 30*time.Second, "the objects removed after the confirmation", func() (bool, string) {
		got := virtualServices()
		return got == 0, fmt.Sprintf("%d VirtualServices", got)
	})
	t.Logf("objects removed %v after the confirmation", time.Since(confirmed).Round(time.Millisecond))
	framework.Eventually(t, 30*time.Second, "PruneHeld False", func() (bool, string) {
		mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, cluster, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterPruneHeld)
		return c != nil && c.Status == metav1.ConditionFalse, fmt.Sprintf("%+v", c)
	})
}

func fileLen(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func logSince(path string, from int64) string {
	data, _ := os.ReadFile(path)
	if from > int64(len(data)) {
		return ""
	}
	return string(data[from:])
}
