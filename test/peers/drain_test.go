//go:build peers

package peers

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/test/framework"
)

// TestDrainClusterZeroesNodeWeights runs the whole chain with real parts: two
// member clusters (kube-apiserver, member-agent) whose gateway endpoints are
// TCP listeners in their own network namespaces, an access point with a VIP
// from a pool of zone-a, and the two lb-agents of group zone-a, which
// health-check those gateways. Each node's status reports the weights it
// programmed: 99/1 as the kernel's Maglev table holds it (63 for zone-a-1's
// gateway, 1 for zone-b-1's: model.MaglevMaxTurns). `kubectl portico drain
// cluster zone-a-1` makes it 0 on every node within seconds (the test prints
// how long), and `undrain` restores 63.
func TestDrainClusterZeroesNodeWeights(t *testing.T) {
	requireTools(t)
	gateways := map[string]string{"zone-a-1": lanPrefix + ".101", "zone-b-1": lanPrefix + ".102"}
	e := setupWith(t, map[string]string{"ga": gateways["zone-a-1"], "gb": gateways["zone-b-1"]})
	ctx := context.Background()
	go serveTCP(listenIn(t, e.topo.spokes["ga"], gateways["zone-a-1"]+":80"))
	go serveTCP(listenIn(t, e.topo.spokes["gb"], gateways["zone-b-1"]+":80"))
	for cluster, zone := range map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"} {
		member := framework.NewMemberClusterWithOptions(t, framework.MemberClusterOptions{Name: cluster, GatewayAddresses: []string{gateways[cluster]}})
		framework.NewMemberAgent(t, e.hub, member, framework.MemberAgentOptions{Zone: zone, Region: "r1", HeartbeatInterval: time.Second})
	}
	if _, err := e.portico.TrafficV1alpha1().VIPPools().Create(ctx, &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: "drain"},
		Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: []string{"198.51.100.64/28"}, Zones: []string{group}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fap := &trafficv1alpha1.FederatedAccessPoint{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{Hosts: []string{"checkout.example.test"},
			LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "drain", Ports: []trafficv1alpha1.Port{{Name: "http", Port: 80}},
				HealthCheck: &trafficv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: time.Second}}}}}
	if _, err := e.portico.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var vip string
	framework.Eventually(t, 60*time.Second, "shop/checkout's VIP", func() (bool, string) {
		got, err := e.portico.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "checkout", metav1.GetOptions{})
		if err != nil || got.Status.VIP == nil {
			return false, fmt.Sprint(err)
		}
		vip = got.Status.VIP.Address
		return vip != "", fmt.Sprintf("status.vip %+v", got.Status.VIP)
	})
	a, b := gateways["zone-a-1"], gateways["zone-b-1"]
	e.waitWeights(t, 120*time.Second, vip, fmt.Sprintf("63 %s; 1 %s", a, b))

	var out, errOut bytes.Buffer
	kubectl := func(args ...string) {
		t.Helper()
		out.Reset()
		errOut.Reset()
		if code := plugin.Main(ctx, plugin.IOStreams{Out: &out, ErrOut: &errOut}, append(args, "--kubeconfig", e.hub.KubeconfigPath)); code != 0 {
			t.Fatalf("kubectl portico %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
	}
	drained := time.Now()
	kubectl("drain", "cluster", "zone-a-1")
	e.waitWeights(t, 15*time.Second, vip, fmt.Sprintf("1 %s; 0 %s", b, a))
	t.Logf("MEASURE kubectl portico drain cluster -> weight 0 in every node's status: %v", time.Since(drained).Round(time.Millisecond))
	if !strings.Contains(out.String(), "membercluster/zone-a-1 drained") {
		t.Errorf("drain said %q", out.String())
	}

	undrained := time.Now()
	kubectl("undrain", "cluster", "zone-a-1")
	e.waitWeights(t, 15*time.Second, vip, fmt.Sprintf("63 %s; 1 %s", a, b))
	t.Logf("MEASURE kubectl portico undrain cluster -> weights back in every node's status: %v", time.Since(undrained).Round(time.Millisecond))
}

// waitWeights waits until every node reports want ("WEIGHT ADDR...; ...",
// highest weight first) for vip.
func (e *env) waitWeights(t *testing.T, timeout time.Duration, vip, want string) {
	t.Helper()
	for _, n := range e.nodes {
		framework.Eventually(t, timeout, n.name+" programming "+want, func() (bool, string) {
			got := weightsOf(e.lbn(t, n.name), vip)
			return got == want, got
		})
	}
}

// weightsOf describes the weights node reports for vip.
func weightsOf(node *clusterv1alpha1.LoadBalancerNode, vip string) string {
	var parts []string
	for _, v := range node.Status.VIPs {
		if v.Address != vip {
			continue
		}
		for _, w := range v.Weights {
			parts = append(parts, fmt.Sprintf("%d %s", w.Weight, strings.Join(w.Backends, " ")))
		}
	}
	return strings.Join(parts, "; ")
}
