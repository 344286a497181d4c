//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestJoin runs `kubectl portico join` against a hub cluster with portico-hub
// and checks what it creates and prints: the MemberCluster, a member-agent
// manifest a real member cluster accepts, and a hub kubeconfig whose token is
// confined to its own cluster. It has its own hub cluster and portico-hub (not
// the shared ones): the member cluster names are fixed and the test deletes them.
func TestJoin(t *testing.T) {
	framework.RequireKubeBinaries(t)
	start := time.Now()
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %v", plugin, time.Since(start).Round(time.Millisecond))
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	member := framework.NewMemberCluster(t, "zone-a-1")

	ctx := context.Background()
	admin, err := versioned.NewForConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	adminKube, err := kubernetes.NewForConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	join := func(t *testing.T, args ...string) joinRun {
		t.Helper()
		return runJoinPlugin(t, plugin, hub.KubeconfigPath, args...)
	}
	const nsA, nsB = "portico-cluster-zone-a-1", "portico-cluster-zone-b-1"

	t.Run("help and version", func(t *testing.T) {
		for _, args := range [][]string{{"--help"}, {"join", "--help"}} {
			r := join(t, args...)
			if r.err != nil {
				t.Fatalf("%v: %v\n%s", args, r.err, r.stderr)
			}
			for _, want := range []string{"kubectl portico join zone-a-1 --zone zone-a", "Examples:", "--kubeconfig", "--context"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%v: output lacks %q:\n%s", args, want, r.stdout)
				}
			}
		}
		r := join(t, "join", "--help")
		for _, want := range []string{"--hub-server", "--token-duration", "--image", "--region", "-o, --output", "portico-cluster-NAME", "TokenRequest"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("join --help lacks %q", want)
			}
		}
		if r := join(t, "version"); r.err != nil || !strings.HasPrefix(r.stdout, "kubectl-portico ") {
			t.Errorf("version: %q, %v", r.stdout, r.err)
		}
		if r := join(t, "join", "zone-a-1"); r.err == nil || !strings.Contains(r.stderr, `"zone" not set`) {
			t.Errorf("join without --zone: err=%v, stderr %q", r.err, r.stderr)
		}
	})

	var manifest string
	var kubeconfigA []byte
	var mcA *clusterv1alpha1.MemberCluster
	if !t.Run("join zone-a-1", func(t *testing.T) {
		start := time.Now()
		r := join(t, "join", "zone-a-1", "--zone", "zone-a", "--region", "r1")
		if r.err != nil {
			t.Fatalf("join: %v\nstderr:\n%s", r.err, r.stderr)
		}
		t.Logf("join took %v; stderr:\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
		if !strings.Contains(r.stderr, "MemberCluster zone-a-1 created") {
			t.Errorf("stderr does not report the creation:\n%s", r.stderr)
		}
		if mcA, err = admin.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{}); err != nil {
			t.Fatalf("MemberCluster zone-a-1: %v", err)
		}
		if mcA.Spec.Zone != "zone-a" || mcA.Spec.Region != "r1" || mcA.Status.Namespace != nsA ||
			mcA.Labels[clusterv1alpha1.LabelZone] != "zone-a" || mcA.Labels[clusterv1alpha1.LabelRegion] != "r1" {
			t.Errorf("MemberCluster zone-a-1: spec %+v, labels %v, status.namespace %q", mcA.Spec, mcA.Labels, mcA.Status.Namespace)
		}
		manifest = r.stdout
		objs := joinParseManifest(t, manifest)
		kubeconfigA = joinCheckManifest(t, objs, "zone-a-1", "portico/member-agent:latest")
	}) {
		t.FailNow()
	}

	t.Run("manifest applies on a member cluster", func(t *testing.T) {
		// Server-side dry run: the API server validates every object (RBAC rules,
		// the Deployment's pod spec, the Secret). A dry-run Namespace is not
		// stored, so the objects inside portico-system can only be checked once it
		// exists: the first dry run must refuse nothing but those.
		out, stderr, err := framework.KubectlWithInput(t, member.KubeconfigPath, strings.NewReader(manifest), "apply", "--dry-run=server", "-f", "-")
		t.Logf("dry run before portico-system exists: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
		if err != nil {
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if !strings.Contains(line, `namespaces "portico-system" not found`) {
					t.Fatalf("dry run refused more than the objects of the not yet created namespace: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
				}
			}
		}
		mustKubectlAs(t, member.KubeconfigPath, "create", "namespace", "portico-system")
		out, stderr, err = framework.KubectlWithInput(t, member.KubeconfigPath, strings.NewReader(manifest), "apply", "--dry-run=server", "-f", "-")
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=server: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
		}
		for _, want := range []string{"namespace/portico-system", "serviceaccount/member-agent", "clusterrole.rbac.authorization.k8s.io/portico:member-agent",
			"clusterrolebinding.rbac.authorization.k8s.io/portico:member-agent", "role.rbac.authorization.k8s.io/portico:member-agent",
			"rolebinding.rbac.authorization.k8s.io/portico:member-agent", "secret/member-agent-hub", "deployment.apps/member-agent"} {
			if !strings.Contains(out, want+" ") {
				t.Errorf("dry run output lacks %s:\n%s", want, out)
			}
		}
		// Really apply it, then check what the agent's ServiceAccount may do.
		if out, stderr, err = framework.KubectlWithInput(t, member.KubeconfigPath, strings.NewReader(manifest), "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, stderr)
		}
		const sa = "--as=system:serviceaccount:portico-system:member-agent"
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "virtualservices.networking.istio.io", "-n", "shop"}, "yes"},
			{[]string{"delete", "gateways.networking.istio.io", "-n", "shop"}, "yes"},
			{[]string{"patch", "workloadentries.networking.istio.io", "-n", "shop"}, "yes"},
			{[]string{"watch", "serviceentries.networking.istio.io", "-A"}, "yes"},
			{[]string{"update", "destinationrules.networking.istio.io", "-n", "shop"}, "yes"},
			{[]string{"create", "secrets", "-n", "istio-system"}, "yes"},
			{[]string{"create", "namespaces"}, "yes"},
			{[]string{"patch", "services", "-n", "shop"}, "yes"},
			{[]string{"list", "endpointslices.discovery.k8s.io", "-A"}, "yes"},
			{[]string{"create", "endpointslices.discovery.k8s.io", "-n", "istio-system"}, "no"},
			{[]string{"get", "deployments.apps", "-n", "istio-system"}, "yes"},
			{[]string{"list", "deployments.apps", "-n", "default"}, "no"},
			{[]string{"update", "deployments.apps", "-n", "istio-system"}, "no"},
			{[]string{"list", "pods", "-A"}, "no"},
			{[]string{"create", "sidecars.networking.istio.io", "-n", "shop"}, "no"},
		} {
			out, _, _ := framework.Kubectl(t, member.KubeconfigPath, append([]string{"auth", "can-i", sa}, c.args...)...)
			if got := strings.TrimSpace(out); got != c.want {
				t.Errorf("member-agent can-i %v = %q, want %q", c.args, got, c.want)
			}
		}
		// The hub kubeconfig arrived intact in the member cluster.
		mk, err := member.Kubernetes()
		if err != nil {
			t.Fatal(err)
		}
		sec, err := mk.CoreV1().Secrets("portico-system").Get(ctx, "member-agent-hub", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sec.Data["kubeconfig"], kubeconfigA) {
			t.Errorf("Secret member-agent-hub in the member cluster differs from the manifest's kubeconfig")
		}
	})

	// The member cluster's stand-ins for Istio (what the agent reads).
	t.Run("member cluster stand-ins", func(t *testing.T) {
		mk, err := member.Kubernetes()
		if err != nil {
			t.Fatal(err)
		}
		epSlices, err := mk.DiscoveryV1().EndpointSlices("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=istio-ingressgateway"})
		if err != nil || len(epSlices.Items) != 1 {
			t.Fatalf("EndpointSlices of istio-ingressgateway: %v, %v", epSlices, err)
		}
		var addrs []string
		for _, ep := range epSlices.Items[0].Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				t.Errorf("endpoint %v not ready", ep.Addresses)
			}
			addrs = append(addrs, ep.Addresses...)
		}
		if !slices.Equal(addrs, member.GatewayAddresses) || epSlices.Items[0].Annotations[localfed.StandInAnnotation] == "" {
			t.Errorf("EndpointSlice addresses %v (want %v), annotations %v", addrs, member.GatewayAddresses, epSlices.Items[0].Annotations)
		}
		dep, err := mk.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil || dep.Spec.Template.Spec.Containers[0].Image != "istio/pilot:1.31.1" {
			t.Errorf("istiod: %v", err)
		}
		if _, _, err := framework.Kubectl(t, member.KubeconfigPath, "--context=zone-a-1", "get", "gateways.networking.istio.io,virtualservices.networking.istio.io", "-A"); err != nil {
			t.Errorf("Istio kinds not served in the member cluster: %v", err)
		}
	})

	agentA := joinAgentConfig(t, kubeconfigA, hub.URL, nsA)
	t.Run("hub kubeconfig authenticates as the agent", func(t *testing.T) {
		kc := kubernetes.NewForConfigOrDie(agentA)
		ssr, err := kc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ssr.Status.UserInfo.Username, "system:serviceaccount:"+nsA+":member-agent"; got != want {
			t.Errorf("hub kubeconfig authenticates as %q, want %q", got, want)
		}
	})

	var agentB *rest.Config
	if !t.Run("join zone-b-1 -o kubeconfig", func(t *testing.T) {
		r := join(t, "join", "zone-b-1", "--zone", "zone-b", "-o", "kubeconfig", "--token-duration", "1h")
		if r.err != nil {
			t.Fatalf("join: %v\n%s", r.err, r.stderr)
		}
		if strings.Contains(r.stdout, "kind: Deployment") {
			t.Errorf("-o kubeconfig printed the manifest")
		}
		agentB = joinAgentConfig(t, []byte(r.stdout), hub.URL, nsB)
		ssr, err := kubernetes.NewForConfigOrDie(agentB).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil || ssr.Status.UserInfo.Username != "system:serviceaccount:"+nsB+":member-agent" {
			t.Fatalf("zone-b-1's kubeconfig: %v, %v", ssr, err)
		}
	}) {
		t.FailNow()
	}

	t.Run("agent credentials are confined to their cluster", func(t *testing.T) {
		pc := versioned.NewForConfigOrDie(agentA)
		kc := kubernetes.NewForConfigOrDie(agentA)
		caps := pc.TrafficV1alpha1().ClusterAccessPoints
		mcs := pc.ClusterV1alpha1().MemberClusters()
		leasesA, leasesB := kc.CoordinationV1().Leases(nsA), kc.CoordinationV1().Leases(nsB)
		mcB, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-b-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// zone-b-1's Lease exists, so a denial cannot be a NotFound in disguise.
		if _, err := adminKube.CoordinationV1().Leases(nsB).Create(ctx, joinLease(nsB, clusterv1alpha1.AgentLease), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		watchOnce := func(w interface{ Stop() }, err error) error {
			if err == nil {
				w.Stop()
			}
			return err
		}
		checks := []struct {
			what    string
			allowed bool
			do      func() error
		}{
			{"list own ClusterAccessPoints", true, func() error { _, err := caps(nsA).List(ctx, metav1.ListOptions{}); return err }},
			{"watch own ClusterAccessPoints", true, func() error { return watchOnce(caps(nsA).Watch(ctx, metav1.ListOptions{})) }},
			{"list zone-b-1's ClusterAccessPoints", false, func() error { _, err := caps(nsB).List(ctx, metav1.ListOptions{}); return err }},
			{"watch zone-b-1's ClusterAccessPoints", false, func() error { return watchOnce(caps(nsB).Watch(ctx, metav1.ListOptions{})) }},
			{"get a ClusterAccessPoint of zone-b-1", false, func() error { _, err := caps(nsB).Get(ctx, "shop.web", metav1.GetOptions{}); return err }},
			{"list ClusterAccessPoints of all namespaces", false, func() error { _, err := caps("").List(ctx, metav1.ListOptions{}); return err }},
			{"create a ClusterAccessPoint in its own namespace", false, func() error {
				_, err := pc.TrafficV1alpha1().ClusterAccessPoints(nsA).Create(ctx, joinCAP(nsA), metav1.CreateOptions{})
				return err
			}},
			{"get own MemberCluster", true, func() error { _, err := mcs.Get(ctx, "zone-a-1", metav1.GetOptions{}); return err }},
			{"get zone-b-1's MemberCluster", false, func() error { _, err := mcs.Get(ctx, "zone-b-1", metav1.GetOptions{}); return err }},
			{"list MemberClusters", false, func() error { _, err := mcs.List(ctx, metav1.ListOptions{}); return err }},
			{"update own MemberCluster status", true, func() error {
				return retry.RetryOnConflict(retry.DefaultRetry, func() error {
					mc, err := mcs.Get(ctx, "zone-a-1", metav1.GetOptions{})
					if err != nil {
						return err
					}
					mc.Status.KubernetesVersion = localfed.KubeVersion
					_, err = mcs.UpdateStatus(ctx, mc, metav1.UpdateOptions{})
					return err
				})
			}},
			{"update own MemberCluster spec", false, func() error {
				mc, err := mcs.Get(ctx, "zone-a-1", metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("get: %w", err)
				}
				mc.Spec.Region = "elsewhere"
				_, err = mcs.Update(ctx, mc, metav1.UpdateOptions{})
				return err
			}},
			{"update zone-b-1's MemberCluster status", false, func() error {
				mc := mcB.DeepCopy()
				mc.Status.KubernetesVersion = "v0.0.0-forged"
				_, err := mcs.UpdateStatus(ctx, mc, metav1.UpdateOptions{})
				return err
			}},
			{"create own Lease", true, func() error {
				_, err := leasesA.Create(ctx, joinLease(nsA, clusterv1alpha1.AgentLease), metav1.CreateOptions{})
				return err
			}},
			{"get own Lease", true, func() error { _, err := leasesA.Get(ctx, clusterv1alpha1.AgentLease, metav1.GetOptions{}); return err }},
			{"renew own Lease", true, func() error {
				return retry.RetryOnConflict(retry.DefaultRetry, func() error {
					l, err := leasesA.Get(ctx, clusterv1alpha1.AgentLease, metav1.GetOptions{})
					if err != nil {
						return err
					}
					l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
					_, err = leasesA.Update(ctx, l, metav1.UpdateOptions{})
					return err
				})
			}},
			{"get zone-b-1's Lease", false, func() error { _, err := leasesB.Get(ctx, clusterv1alpha1.AgentLease, metav1.GetOptions{}); return err }},
			{"list zone-b-1's Leases", false, func() error { _, err := leasesB.List(ctx, metav1.ListOptions{}); return err }},
			{"update zone-b-1's Lease", false, func() error {
				l := joinLease(nsB, clusterv1alpha1.AgentLease)
				_, err := leasesB.Update(ctx, l, metav1.UpdateOptions{})
				return err
			}},
			{"create a Lease in zone-b-1's namespace", false, func() error {
				_, err := leasesB.Create(ctx, joinLease(nsB, "intruder"), metav1.CreateOptions{})
				return err
			}},
			{"list Secrets in its own namespace", false, func() error { _, err := kc.CoreV1().Secrets(nsA).List(ctx, metav1.ListOptions{}); return err }},
			{"list Secrets of all namespaces", false, func() error { _, err := kc.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err }},
			{"get zone-b-1's namespace", false, func() error { _, err := kc.CoreV1().Namespaces().Get(ctx, nsB, metav1.GetOptions{}); return err }},
			{"request a token for zone-b-1's agent", false, func() error {
				_, err := kc.CoreV1().ServiceAccounts(nsB).CreateToken(ctx, "member-agent", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
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
			default:
				t.Logf("%s: allowed=%v as expected", c.what, c.allowed)
			}
		}
		// And zone-b-1's agent sees nothing of zone-a-1.
		if _, err := versioned.NewForConfigOrDie(agentB).TrafficV1alpha1().ClusterAccessPoints(nsA).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("zone-b-1's agent lists zone-a-1's ClusterAccessPoints: want Forbidden, got %v", err)
		}
	})

	t.Run("join again is idempotent", func(t *testing.T) {
		for _, args := range [][]string{
			{"join", "zone-a-1", "--zone", "zone-a", "--region", "r1"},
			{"join", "zone-a-1", "--zone", "zone-a"}, // no --region: any region
		} {
			r := join(t, args...)
			if r.err != nil {
				t.Fatalf("%v: %v\n%s", args, r.err, r.stderr)
			}
			if !strings.Contains(r.stderr, "already exists with zone zone-a") {
				t.Errorf("%v: stderr does not say the MemberCluster is reused:\n%s", args, r.stderr)
			}
			objs := joinParseManifest(t, r.stdout)
			kcfg := joinCheckManifest(t, objs, "zone-a-1", "portico/member-agent:latest")
			cfg := joinAgentConfig(t, kcfg, hub.URL, nsA)
			if _, err := versioned.NewForConfigOrDie(cfg).ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{}); err != nil {
				t.Errorf("the new token does not work: %v", err)
			}
		}
		mc, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
		if err != nil || mc.UID != mcA.UID || !apiequality.Semantic.DeepEqual(mc.Spec, mcA.Spec) {
			t.Errorf("MemberCluster changed by a second join: %v, %v", mc, err)
		}
		// Options reach the manifest.
		r := join(t, "join", "zone-a-1", "--zone", "zone-a", "--image", "registry.example/portico/member-agent:v9", "--hub-server", "https://hub.example:6443")
		if r.err != nil {
			t.Fatalf("join with --image and --hub-server: %v\n%s", r.err, r.stderr)
		}
		kcfg := joinCheckManifest(t, joinParseManifest(t, r.stdout), "zone-a-1", "registry.example/portico/member-agent:v9")
		if cfg, err := clientcmd.RESTConfigFromKubeConfig(kcfg); err != nil || cfg.Host != "https://hub.example:6443" {
			t.Errorf("--hub-server not in the kubeconfig: %v, %v", cfg, err)
		}
	})

	t.Run("join in another zone fails", func(t *testing.T) {
		r := join(t, "join", "zone-a-1", "--zone", "zone-x")
		var exit *exec.ExitError
		if !errors.As(r.err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("want exit code 1, got %v", r.err)
		}
		if !strings.Contains(r.stderr, `MemberCluster zone-a-1 already exists in zone "zone-a", not "zone-x"`) {
			t.Errorf("unclear error:\n%s", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("printed something on failure:\n%s", r.stdout)
		}
		r = join(t, "join", "zone-a-1", "--zone", "zone-a", "--region", "r2")
		if r.err == nil || !strings.Contains(r.stderr, `already exists in region "r1", not "r2"`) {
			t.Errorf("another region: err=%v\n%s", r.err, r.stderr)
		}
		mc, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
		if err != nil || mc.Spec.Zone != "zone-a" || mc.Spec.Region != "r1" {
			t.Errorf("MemberCluster changed by a failed join: %v, %v", mc, err)
		}
	})

	t.Run("deleting the MemberCluster removes its hub access", func(t *testing.T) {
		// An object whose finalizer the test holds keeps the hub namespace
		// Terminating until the test lets go, so a join during the deletion is
		// checked deterministically.
		const hold = "portico.dev/test-hold"
		if _, err := adminKube.CoreV1().ConfigMaps(nsA).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "hold", Finalizers: []string{hold}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := admin.ClusterV1alpha1().MemberClusters().Delete(ctx, "zone-a-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 30*time.Second, "MemberCluster zone-a-1 gone (the hub removes its finalizer after the cleanup)", func() (bool, string) {
			_, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		role := clusterv1alpha1.AgentClusterRole("zone-a-1")
		if _, err := adminKube.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole %s: want NotFound, got %v", role, err)
		}
		if _, err := adminKube.RbacV1().ClusterRoleBindings().Get(ctx, role, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRoleBinding %s: want NotFound, got %v", role, err)
		}
		// The agent lost the cluster-wide part of its access at once.
		if _, err := versioned.NewForConfigOrDie(agentA).ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("get MemberCluster zone-a-1 with the removed cluster's token: want Forbidden, got %v", err)
		}
		// The namespace controller empties the namespace but for the held
		// object, and says what it waits for.
		framework.Eventually(t, 60*time.Second, "namespace "+nsA+" emptied but for the held ConfigMap", func() (bool, string) {
			ns, err := adminKube.CoreV1().Namespaces().Get(ctx, nsA, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range ns.Status.Conditions {
				if c.Type == corev1.NamespaceFinalizersRemaining && c.Status == corev1.ConditionTrue && strings.Contains(c.Message, hold) {
					return ns.DeletionTimestamp != nil, c.Message
				}
			}
			return false, fmt.Sprintf("deletionTimestamp %v, conditions %+v", ns.DeletionTimestamp, ns.Status.Conditions)
		})
		// Joining the name again while its old hub namespace is Terminating cannot
		// get a token (no new content in a terminating namespace): a clear error.
		if r := join(t, "join", "zone-a-1", "--zone", "zone-a"); r.err == nil ||
			!strings.Contains(r.stderr, "hub namespace "+nsA+" of an earlier MemberCluster zone-a-1 is still being deleted") {
			t.Errorf("join while the old namespace terminates: err=%v\n%s", r.err, r.stderr)
		}
		// Once the namespace is gone (kube-controller-manager finishes it), the
		// join works.
		cm, err := adminKube.CoreV1().ConfigMaps(nsA).Get(ctx, "hold", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Finalizers = nil
		if _, err := adminKube.CoreV1().ConfigMaps(nsA).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 60*time.Second, "namespace "+nsA+" deleted", func() (bool, string) {
			_, err := adminKube.CoreV1().Namespaces().Get(ctx, nsA, metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		if r := join(t, "join", "zone-a-1", "--zone", "zone-a"); r.err != nil {
			t.Errorf("join after the old namespace is gone: %v\n%s", r.err, r.stderr)
		}
		if _, err := adminKube.CoreV1().ServiceAccounts(nsA).Get(ctx, clusterv1alpha1.AgentServiceAccount, metav1.GetOptions{}); err != nil {
			t.Errorf("the new join's ServiceAccount: %v", err)
		}
		// zone-b-1 is untouched.
		if _, err := versioned.NewForConfigOrDie(agentB).ClusterV1alpha1().MemberClusters().Get(ctx, "zone-b-1", metav1.GetOptions{}); err != nil {
			t.Errorf("zone-b-1's agent after zone-a-1 was removed: %v", err)
		}
	})
}

type joinRun struct {
	stdout, stderr string
	err            error
}

// runJoinPlugin runs the plugin binary against kubeconfig.
func runJoinPlugin(t *testing.T, plugin, kubeconfig string, args ...string) joinRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append(slices.Clone(args), "--kubeconfig="+kubeconfig)
	cmd := exec.CommandContext(ctx, plugin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "HOME="+t.TempDir())
	err := cmd.Run()
	t.Logf("kubectl-portico %v: err=%v", args, err)
	return joinRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// joinParseManifest splits a multi-document YAML stream into objects.
func joinParseManifest(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("manifest is not valid YAML: %v\n%s", err, manifest)
		}
		if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			t.Fatalf("manifest document is not a Kubernetes object: %v\n%s", err, raw.Raw)
		}
		objs = append(objs, u)
	}
	return objs
}

// joinCheckManifest checks the objects of a member-agent manifest and returns
// the hub kubeconfig of its Secret.
func joinCheckManifest(t *testing.T, objs []*unstructured.Unstructured, cluster, image string) []byte {
	t.Helper()
	var kinds []string
	var kubeconfig []byte
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		switch o.GetKind() {
		case "Secret":
			enc, _, _ := unstructured.NestedString(o.Object, "data", "kubeconfig")
			data, err := base64.StdEncoding.DecodeString(enc)
			if err != nil || len(data) == 0 {
				t.Fatalf("Secret %s: no kubeconfig (%v)", o.GetName(), err)
			}
			kubeconfig = data
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(containers) != 1 {
				t.Fatalf("Deployment: %d containers", len(containers))
			}
			c := containers[0].(map[string]any)
			if c["image"] != image {
				t.Errorf("image %v, want %s", c["image"], image)
			}
			args, _, _ := unstructured.NestedStringSlice(c, "args")
			for _, want := range []string{"--hub-kubeconfig=/etc/portico/hub/kubeconfig", "--cluster-name=" + cluster} {
				if !slices.Contains(args, want) {
					t.Errorf("Deployment args %v lack %s", args, want)
				}
			}
			if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
				t.Errorf("root filesystem not read-only")
			}
			if nonRoot, _, _ := unstructured.NestedBool(o.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !nonRoot {
				t.Errorf("pod may run as root")
			}
			if replicas, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); replicas != 1 {
				t.Errorf("replicas %d", replicas)
			}
			for _, probe := range []string{"livenessProbe", "readinessProbe"} {
				if path, _, _ := unstructured.NestedString(c, probe, "httpGet", "path"); path != "/healthz" {
					t.Errorf("%s path %q", probe, path)
				}
			}
		}
	}
	want := []string{"Namespace/portico-system", "ServiceAccount/member-agent", "ClusterRole/portico:member-agent",
		"ClusterRoleBinding/portico:member-agent", "Role/portico:member-agent", "RoleBinding/portico:member-agent",
		"Role/portico:member-agent:secrets", "RoleBinding/portico:member-agent:secrets",
		"Role/portico:member-agent:hub-kubeconfig", "RoleBinding/portico:member-agent:hub-kubeconfig",
		"Secret/member-agent-hub", "Deployment/member-agent"}
	if !slices.Equal(kinds, want) {
		t.Errorf("manifest objects %v, want %v", kinds, want)
	}
	if kubeconfig == nil {
		t.Fatal("no hub kubeconfig in the manifest")
	}
	return kubeconfig
}

// joinAgentConfig loads an agent's hub kubeconfig and checks its server and
// namespace.
func joinAgentConfig(t *testing.T, kubeconfig []byte, server, namespace string) *rest.Config {
	t.Helper()
	cc, err := clientcmd.NewClientConfigFromBytes(kubeconfig)
	if err != nil {
		t.Fatalf("hub kubeconfig: %v\n%s", err, kubeconfig)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		t.Fatalf("hub kubeconfig: %v", err)
	}
	if ns, _, err := cc.Namespace(); err != nil || ns != namespace {
		t.Errorf("hub kubeconfig namespace %q (%v), want %s", ns, err, namespace)
	}
	if cfg.Host != server || len(cfg.CAData) == 0 || cfg.BearerToken == "" {
		t.Errorf("hub kubeconfig: server %s (want %s), %d bytes of CA, token set %v", cfg.Host, server, len(cfg.CAData), cfg.BearerToken != "")
	}
	return cfg
}

func joinLease(namespace, name string) *coordinationv1.Lease {
	holder, secs := "member-agent-test", int32(40)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: &secs,
			RenewTime: &metav1.MicroTime{Time: time.Now()},
		},
	}
}

// joinCAP is a ClusterAccessPoint the agent must not be able to create.
func joinCAP(namespace string) *trafficv1alpha1.ClusterAccessPoint {
	return &trafficv1alpha1.ClusterAccessPoint{ObjectMeta: metav1.ObjectMeta{Name: "shop.forged", Namespace: namespace}}
}
