//go:build integration

package integration

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

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestEdgeNodeIdentity joins two edge nodes with join-edge against a real hub
// cluster and portico-hub, then tries, with edge node 1's token, what an
// attacker holding it would: every write to node 2's LoadBalancerNode and
// Lease, and to portico-hub's leader Lease, is 403 Forbidden; its own
// LoadBalancerNode status and Lease can be written; it creates nothing.
func TestEdgeNodeIdentity(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers=loadbalancergroup"}})
	ctx := context.Background()
	admin := versioned.NewForConfigOrDie(hub.RestConfig)
	adminKube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ep, err := plugin.HubEndpointFromConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	group := uniqueName("lbg")
	if _, err := admin.ClusterV1alpha1().LoadBalancerGroups().Create(ctx, &clusterv1alpha1.LoadBalancerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: group}, Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: "zone-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node1, node2 := uniqueName("edge-1"), uniqueName("edge-2")
	res1, err := plugin.JoinEdge(ctx, admin, adminKube, plugin.JoinEdgeOptions{Node: node1, Group: group, Address: "192.0.2.31", Hub: ep})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.JoinEdge(ctx, admin, adminKube, plugin.JoinEdgeOptions{Node: node2, Group: group, Address: "192.0.2.32", Hub: ep}); err != nil {
		t.Fatal(err)
	}
	// The leader Lease exists once portico-hub has run its controllers.
	framework.Eventually(t, 30*time.Second, "portico-hub's leader Lease portico-system/portico-hub", func() (bool, string) {
		_, err := adminKube.CoordinationV1().Leases("portico-system").Get(ctx, "portico-hub", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})

	cfg, err := clientcmd.RESTConfigFromKubeConfig(res1.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	pc := versioned.NewForConfigOrDie(cfg)
	kc := kubernetes.NewForConfigOrDie(cfg)
	lbns := pc.ClusterV1alpha1().LoadBalancerNodes()
	edgeLeases := kc.CoordinationV1().Leases(lblease.Namespace)
	hubLeases := kc.CoordinationV1().Leases("portico-system")
	other, err := admin.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, node2, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherLease, err := adminKube.CoordinationV1().Leases(lblease.Namespace).Get(ctx, lblease.Name(node2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hubLease, err := adminKube.CoordinationV1().Leases("portico-system").Get(ctx, "portico-hub", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renew := func(l *coordinationv1.Lease) *coordinationv1.Lease {
		l = l.DeepCopy()
		l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		l.Spec.LeaseDurationSeconds = func(i int32) *int32 { return &i }(3600)
		return l
	}
	mergePatch := []byte(`{"metadata":{"labels":{"attacker":"edge-1"}}}`)

	checks := []struct {
		what    string
		allowed bool
		do      func() error
	}{
		// Its own objects.
		{"update own LoadBalancerNode status", true, func() error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				n, err := lbns.Get(ctx, node1, metav1.GetOptions{})
				if err != nil {
					return err
				}
				n.Status.Announced = []string{"198.51.100.1"}
				_, err = lbns.UpdateStatus(ctx, n, metav1.UpdateOptions{})
				return err
			})
		}},
		{"renew own Lease", true, func() error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				l, err := edgeLeases.Get(ctx, lblease.Name(node1), metav1.GetOptions{})
				if err != nil {
					return err
				}
				_, err = edgeLeases.Update(ctx, renew(l), metav1.UpdateOptions{})
				return err
			})
		}},
		{"read VirtualIPs", true, func() error {
			_, err := pc.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
			return err
		}},
		{"read LoadBalancerGroups", true, func() error {
			_, err := pc.ClusterV1alpha1().LoadBalancerGroups().Get(ctx, group, metav1.GetOptions{})
			return err
		}},
		// Node 2's LoadBalancerNode.
		{"get node 2's LoadBalancerNode", false, func() error { _, err := lbns.Get(ctx, node2, metav1.GetOptions{}); return err }},
		{"update node 2's LoadBalancerNode", false, func() error {
			n := other.DeepCopy()
			n.Spec.Address = "192.0.2.99"
			_, err := lbns.Update(ctx, n, metav1.UpdateOptions{})
			return err
		}},
		{"update node 2's LoadBalancerNode status", false, func() error {
			n := other.DeepCopy()
			n.Status.Announced = []string{"198.51.100.2"}
			_, err := lbns.UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		}},
		{"patch node 2's LoadBalancerNode", false, func() error {
			_, err := lbns.Patch(ctx, node2, types.MergePatchType, mergePatch, metav1.PatchOptions{})
			return err
		}},
		{"delete node 2's LoadBalancerNode", false, func() error { return lbns.Delete(ctx, node2, metav1.DeleteOptions{}) }},
		{"create a LoadBalancerNode", false, func() error {
			_, err := lbns.Create(ctx, &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("edge-forged")},
				Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: group, Address: "192.0.2.98"}}, metav1.CreateOptions{})
			return err
		}},
		// Node 2's Lease, and the Leases of portico-edge.
		{"update node 2's Lease", false, func() error {
			_, err := edgeLeases.Update(ctx, renew(otherLease), metav1.UpdateOptions{})
			return err
		}},
		{"patch node 2's Lease", false, func() error {
			_, err := edgeLeases.Patch(ctx, lblease.Name(node2), types.MergePatchType, mergePatch, metav1.PatchOptions{})
			return err
		}},
		{"delete node 2's Lease", false, func() error {
			return edgeLeases.Delete(ctx, lblease.Name(node2), metav1.DeleteOptions{})
		}},
		{"create a Lease in portico-edge", false, func() error {
			_, err := edgeLeases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "lb-agent-forged"}}, metav1.CreateOptions{})
			return err
		}},
		// portico-hub's leader election Lease.
		{"get the leader Lease portico-system/portico-hub", false, func() error {
			_, err := hubLeases.Get(ctx, "portico-hub", metav1.GetOptions{})
			return err
		}},
		{"update the leader Lease portico-system/portico-hub", false, func() error {
			l := renew(hubLease)
			l.Spec.HolderIdentity = func(s string) *string { return &s }("edge-1")
			_, err := hubLeases.Update(ctx, l, metav1.UpdateOptions{})
			return err
		}},
		{"delete the leader Lease portico-system/portico-hub", false, func() error {
			return hubLeases.Delete(ctx, "portico-hub", metav1.DeleteOptions{})
		}},
		// Its peers' identities.
		{"request a token for node 2's ServiceAccount", false, func() error {
			_, err := kc.CoreV1().ServiceAccounts(lblease.Namespace).CreateToken(ctx, lblease.Name(node2),
				&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		}},
		{"list Secrets of portico-system", false, func() error {
			_, err := kc.CoreV1().Secrets("portico-system").List(ctx, metav1.ListOptions{})
			return err
		}},
	}
	for _, c := range checks {
		err := c.do()
		switch {
		case c.allowed && err != nil:
			t.Errorf("%s: want allowed, got %v", c.what, err)
		case !c.allowed && !apierrors.IsForbidden(err):
			t.Errorf("%s: want 403 Forbidden, got %v", c.what, err)
		}
	}

	// Nothing of node 2 or of portico-hub changed.
	if n, err := admin.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, node2, metav1.GetOptions{}); err != nil ||
		n.ResourceVersion != other.ResourceVersion {
		t.Errorf("node 2's LoadBalancerNode changed: %+v, %v", n, err)
	}
	if l, err := adminKube.CoordinationV1().Leases(lblease.Namespace).Get(ctx, lblease.Name(node2), metav1.GetOptions{}); err != nil ||
		l.ResourceVersion != otherLease.ResourceVersion {
		t.Errorf("node 2's Lease changed: %+v, %v", l, err)
	}
	if n, err := admin.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, node1, metav1.GetOptions{}); err != nil ||
		len(n.Status.Announced) != 1 || n.Status.Announced[0] != "198.51.100.1" {
		t.Errorf("node 1's own status write did not land: %+v, %v", n, err)
	}
}

// TestJoinEdgeCommand runs `kubectl portico join-edge` against a real hub: a
// second run for the same node is harmless, and the manifest it prints (the
// node's Secret and DaemonSet) is accepted by a real API server.
func TestJoinEdgeCommand(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers=loadbalancergroup"}})
	node := uniqueName("edge")
	var manifest bytes.Buffer
	for i := 0; i < 2; i++ {
		manifest.Reset()
		var errOut bytes.Buffer
		args := []string{"join-edge", node, "--group", "zone-a", "--address", "192.0.2.41", "--kubeconfig", hub.KubeconfigPath}
		if code := plugin.Main(context.Background(), plugin.IOStreams{In: strings.NewReader(""), Out: &manifest, ErrOut: &errOut}, args); code != 0 {
			t.Fatalf("run %d: join-edge exited %d:\n%s", i+1, code, errOut.String())
		}
	}
	for _, want := range []string{"kind: Secret", "name: \"lb-agent-hub-" + node + "\"", "kind: DaemonSet"} {
		if !strings.Contains(manifest.String(), want) {
			t.Errorf("manifest lacks %q:\n%s", want, manifest.String())
		}
	}
	if out, stderr, err := framework.KubectlWithInput(t, hub.KubeconfigPath, &manifest, "apply", "--dry-run=server", "-f", "-"); err != nil {
		t.Errorf("the join-edge manifest was rejected: %v\n%s%s", err, out, stderr)
	}
}

// TestLBAgentHubKustomization needs no cluster: every YAML file of
// manifests/lb-agent/hub is a resource of its kustomization (localfed applies
// the files one by one, `kubectl apply -k` the kustomization: both must agree).
func TestLBAgentHubKustomization(t *testing.T) {
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "manifests", "lb-agent", "hub")
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) || !slices.Equal(want, []string{"namespace.yaml", "rbac.yaml"}) {
		t.Errorf("kustomization resources %v, files %v; want namespace.yaml and rbac.yaml (test/localfed applies those)", got, want)
	}
}
