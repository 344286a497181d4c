//go:build peers

package peers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/lb-agent/statefile"
	"github.com/portico-dev/portico/test/framework"
)

// TestLBAgentHoldsWithdrawalAfterHubWipe wipes the hub's data (portico-hub's
// embedded etcd) while both nodes announce three VIPs, and restarts
// portico-hub: the hub comes back empty. The agents hold the mass withdrawal
// and BIRD keeps every route. Once the operator re-creates the group and the
// nodes (the LoadBalancerNodes now carry the new hub's identity), each node
// reports WithdrawHeld=True with the numbers and the identity change;
// `kubectl portico confirm-withdrawal` makes node a withdraw, the annotation
// node b, and the routes leave BIRD.
func TestLBAgentHoldsWithdrawalAfterHubWipe(t *testing.T) {
	requireTools(t)
	e := setup(t)
	a, b := e.nodes[0], e.nodes[1]
	vips := []string{baseVIP, "198.51.100.30", "198.51.100.31"}
	for _, vip := range vips[1:] {
		e.createVIP(vip)
	}
	for _, vip := range vips {
		e.waitHops(t, vip, 30*time.Second, a, b)
	}
	ctx := context.Background()
	before := e.lbn(t, a.name).Annotations[clusterv1alpha1.AnnotationHubIdentity]
	framework.Eventually(t, 30*time.Second, a.name+"'s state file with the hub identity", func() (bool, string) {
		st, _, err := statefile.Load(statefile.Path(e.stateDir(), a.name))
		if err != nil {
			return false, err.Error()
		}
		return before != "" && st.HubIdentity == before, fmt.Sprintf("state file %q, node %q", st.HubIdentity, before)
	})

	// Wipe: stop portico-hub, remove its etcd data, start it on nothing.
	if err := e.ph.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.ph.Options.Dir, "data")); err != nil {
		t.Fatal(err)
	}
	restartCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := e.ph.Restart(restartCtx); err != nil {
		t.Fatalf("restarting portico-hub on an empty etcd: %v", err)
	}
	wiped := time.Now()
	if l, err := e.portico.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("the hub was not wiped: %d VirtualIPs, %v", len(l.Items), err)
	}
	for _, n := range e.nodes {
		framework.Eventually(t, 90*time.Second, n.name+" holds the withdrawal", func() (bool, string) {
			log, _ := os.ReadFile(n.proc.LogPath)
			return strings.Contains(string(log), "Holding a mass withdrawal"), ""
		})
	}
	t.Logf("MEASURE hub wiped -> both agents hold the withdrawal: %v", time.Since(wiped).Round(time.Millisecond))
	e.expectAllRoutes(t, vips, a, b)

	// The operator creates the group and joins the nodes again: each reports
	// its hold, with the identity of the new hub.
	e.createGroup()
	conds := map[string]*metav1.Condition{}
	for _, n := range e.nodes {
		e.rejoin(t, n)
		framework.Eventually(t, 60*time.Second, "WithdrawHeld True on "+n.name, func() (bool, string) {
			c := meta.FindStatusCondition(e.lbn(t, n.name).Status.Conditions, clusterv1alpha1.LoadBalancerNodeWithdrawHeld)
			conds[n.name] = c
			return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "identity changed from"), fmt.Sprintf("%+v", c)
		})
	}
	t.Logf("WithdrawHeld: %s", conds[a.name].Message)
	after := e.lbn(t, a.name).Annotations[clusterv1alpha1.AnnotationHubIdentity]
	for _, want := range []string{"3 of the 3 VIPs", "from " + before + " to " + after, "kubectl portico confirm-withdrawal " + a.name} {
		if !strings.Contains(conds[a.name].Message, want) {
			t.Errorf("WithdrawHeld message %q lacks %q", conds[a.name].Message, want)
		}
	}
	e.expectMetrics(t, a, map[string]string{"portico_lb_withdraw_held_vips": "3", "portico_lb_announced_vips": "3"})
	e.expectAllRoutes(t, vips, a, b)

	// Confirmed: a with the plugin, b with the annotation. The routes go.
	var out, errOut bytes.Buffer
	confirmed := time.Now()
	if code := plugin.Main(ctx, plugin.IOStreams{Out: &out, ErrOut: &errOut},
		[]string{"confirm-withdrawal", a.name, "--kubeconfig", e.hub.KubeconfigPath}); code != 0 {
		t.Fatalf("kubectl portico confirm-withdrawal %s: exit %d\n%s%s", a.name, code, out.String(), errOut.String())
	}
	for _, vip := range vips {
		e.waitHops(t, vip, 30*time.Second, b)
	}
	t.Logf("MEASURE confirm-withdrawal -> %s's paths gone from BIRD: %v", a.name, time.Since(confirmed).Round(time.Millisecond))
	_, id, ok := strings.Cut(conds[b.name].Message, clusterv1alpha1.AnnotationConfirmWithdrawal+"=")
	if !ok || len(id) < 12 {
		t.Fatalf("no hold ID in %q", conds[b.name].Message)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, clusterv1alpha1.AnnotationConfirmWithdrawal, id[:12])
	if _, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Patch(ctx, b.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, vip := range vips {
		e.waitHops(t, vip, 30*time.Second)
	}
	for _, n := range e.nodes {
		framework.Eventually(t, 30*time.Second, "WithdrawHeld False on "+n.name, func() (bool, string) {
			c := meta.FindStatusCondition(e.lbn(t, n.name).Status.Conditions, clusterv1alpha1.LoadBalancerNodeWithdrawHeld)
			return c != nil && c.Status == metav1.ConditionFalse, fmt.Sprintf("%+v", c)
		})
	}
	e.expectMetrics(t, a, map[string]string{"portico_lb_withdraw_held_vips": "0", "portico_lb_announced_vips": "0"})
	// The new hub's identity is accepted and kept.
	framework.Eventually(t, 30*time.Second, a.name+"'s state file with the new hub identity", func() (bool, string) {
		st, _, err := statefile.Load(statefile.Path(e.stateDir(), a.name))
		if err != nil {
			return false, err.Error()
		}
		return st.HubIdentity == after && len(st.VirtualIPs) == 0, fmt.Sprintf("identity %q, VIPs %v", st.HubIdentity, vipNames(st))
	})
}

func (e *env) lbn(t *testing.T, name string) *clusterv1alpha1.LoadBalancerNode {
	t.Helper()
	n, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("LoadBalancerNode %s: %v", name, err)
	}
	return n
}

// rejoin creates n's LoadBalancerNode again, as `kubectl portico join-edge`
// does (its identity in the hub cluster is still there: the agent keeps its
// token).
func (e *env) rejoin(t *testing.T, n *node) {
	t.Helper()
	_, err := plugin.JoinEdge(context.Background(), e.portico, e.kube, plugin.JoinEdgeOptions{
		Node: n.name, Group: group, Address: n.addr, TokenDuration: time.Hour,
		Hub: plugin.HubEndpoint{Server: e.hub.URL, CAData: e.hub.RestConfig.CAData},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// expectAllRoutes checks that every VIP has exactly the next hops of nodes at
// BIRD now.
func (e *env) expectAllRoutes(t *testing.T, vips []string, nodes ...*node) {
	t.Helper()
	for _, vip := range vips {
		if hops := e.bird.nextHops(vip + "/32"); !slices.Equal(hops, e.addrs(nodes...)) {
			t.Fatalf("next hops of %s at BIRD: %v, want %v", vip, hops, e.addrs(nodes...))
		}
	}
}
