//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/hubtoken"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	lbagent "github.com/portico-dev/portico/lb-agent/agent"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/dataplane/fake"
	"github.com/portico-dev/portico/manifests"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestHubCredentialRotation joins a member cluster with the shortest token the
// TokenRequest API issues (10m) and runs its member-agent as a process that
// renews at 5% of the lifetime (--hub-token-renew-fraction, so about 30s
// instead of 8m). The MemberCluster first reports the joined token's expiry
// with CredentialExpiring=False; then the agent renews: it writes a new token
// of its own ServiceAccount with the same lifetime into its --hub-kubeconfig
// file and reports the later expiry, and the hub re-evaluates the condition.
// The old token keeps working until it expires. Meanwhile an edge node's
// lb-agent, installed from its join-edge manifest, renews its own token into
// its Secret in the edge cluster (startRenewingEdgeAgent). It has its own hub
// cluster and portico-hub, as the hub's controllers must run.
func TestHubCredentialRotation(t *testing.T) {
	framework.RequireKubeBinaries(t)
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := localfed.BuildBinary("member-agent")
	if err != nil {
		t.Fatal(err)
	}
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	member := framework.NewMemberCluster(t, "zone-r-1")
	admin, err := versioned.NewForConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const cluster, ns = "zone-r-1", "portico-cluster-zone-r-1"

	r := runJoinPlugin(t, plugin, hub.KubeconfigPath, "join", cluster, "--zone", "zone-r", "--token-duration", "10m", "-o", "kubeconfig")
	if r.err != nil {
		t.Fatalf("join: %v\n%s", r.err, r.stderr)
	}
	dir := t.TempDir()
	hubKubeconfig := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(hubKubeconfig, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	joined, first := fileToken(t, hubKubeconfig)
	t.Logf("join issued a token of %s/%s valid %v, until %s", first.Namespace, first.ServiceAccount, first.Lifetime(), first.Expires.UTC())
	if first.Namespace != ns || first.ServiceAccount != clusterv1alpha1.AgentServiceAccount {
		t.Fatalf("join issued a token of %s/%s, want %s/member-agent", first.Namespace, first.ServiceAccount, ns)
	}
	// The hub cluster may extend or cap a requested lifetime; this one sets no
	// limit, so the 10 minutes asked for are granted.
	if first.Lifetime() != 10*time.Minute {
		t.Errorf("the joined token is valid %v, want the requested 10m", first.Lifetime())
	}

	port, err := localfed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := localfed.StartProcess(localfed.ProcessOptions{Name: "member-agent-" + cluster, Path: agent, LogPath: filepath.Join(dir, "member-agent.log"),
		Args: []string{
			"--hub-kubeconfig=" + hubKubeconfig, "--kubeconfig=" + member.KubeconfigPath, "--cluster-name=" + cluster,
			"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(port), "--heartbeat-interval=2s",
			"--hub-token-renew-fraction=0.05", "-v=2",
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- member-agent log (tail) ---\n%s", proc.LogTail(40))
		}
		if err := proc.Stop(); err != nil {
			t.Errorf("stopping the member-agent: %v", err)
		}
	})

	// The lb-agent of an edge node renews its token too, in the edge
	// cluster's Secret (the member cluster serves as the edge cluster).
	edgeRenewed := startRenewingEdgeAgent(t, hub, member.HubCluster)

	// credential waits until the MemberCluster reports expires and
	// CredentialExpiring=False with it in the message.
	credential := func(what string, expires time.Time) *clusterv1alpha1.MemberCluster {
		t.Helper()
		var mc *clusterv1alpha1.MemberCluster
		framework.Eventually(t, time.Minute, what, func() (bool, string) {
			mc, err = admin.ClusterV1alpha1().MemberClusters().Get(ctx, cluster, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			a := mc.Status.Agent
			c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterCredentialExpiring)
			ok := a.CredentialExpirationTime != nil && a.CredentialExpirationTime.Time.Equal(expires) && c != nil &&
				c.Status == metav1.ConditionFalse && c.Reason == "Valid" && strings.Contains(c.Message, expires.UTC().Format(time.RFC3339))
			return ok, fmt.Sprintf("agent %+v, CredentialExpiring %+v", a, c)
		})
		return mc
	}

	// (a) The joined token's lifetime is reported, and the hub finds it valid.
	mc := credential("the joined token's expiry reported", first.Expires)
	if a := mc.Status.Agent; a.CredentialIssueTime == nil || !a.CredentialIssueTime.Time.Equal(first.IssuedAt) {
		t.Errorf("credentialIssueTime %v, want %v", a.CredentialIssueTime, first.IssuedAt.UTC())
	}

	// (b) The agent renews at 5% of 10 minutes (plus up to 5% of that): the
	// file holds a new token of the same ServiceAccount and lifetime, and the
	// reported expiry moves to the new token's.
	var renewedToken string
	var renewed hubtoken.Claims
	framework.Eventually(t, 2*time.Minute, "the agent's renewed token in its --hub-kubeconfig", func() (bool, string) {
		renewedToken, renewed = fileToken(t, hubKubeconfig)
		return renewedToken != joined, fmt.Sprintf("the file's token was issued at %s", renewed.IssuedAt.UTC())
	})
	t.Logf("renewed %v after the join: valid until %s", renewed.IssuedAt.Sub(first.IssuedAt), renewed.Expires.UTC())
	if renewed.Namespace != ns || renewed.ServiceAccount != clusterv1alpha1.AgentServiceAccount || renewed.Lifetime() != first.Lifetime() ||
		!renewed.Expires.After(first.Expires) {
		t.Errorf("renewed token %+v, want one of %s/member-agent valid %v, expiring after %s", renewed, ns, first.Lifetime(), first.Expires.UTC())
	}
	if due := time.Duration(float64(first.Lifetime()) * 0.05); renewed.IssuedAt.Sub(first.IssuedAt) < due-time.Second {
		t.Errorf("renewed %v after the join, before the due %v", renewed.IssuedAt.Sub(first.IssuedAt), due)
	}
	mc = credential("the renewed token's expiry reported", renewed.Expires)
	if a := mc.Status.Agent; a.CredentialIssueTime == nil || !a.CredentialIssueTime.Time.Equal(renewed.IssuedAt) {
		t.Errorf("credentialIssueTime %v, want %v", a.CredentialIssueTime, renewed.IssuedAt.UTC())
	}
	// The agent keeps working on the hub: its Lease is fresh.
	framework.Eventually(t, 30*time.Second, "the cluster Available", func() (bool, string) {
		mc, err = admin.ClusterV1alpha1().MemberClusters().Get(ctx, cluster, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable), fmt.Sprintf("%+v", mc.Status.Conditions)
	})

	// (c) Both tokens authenticate as the agent's ServiceAccount: the old one
	// stays valid until its own expiry.
	for what, token := range map[string]string{"joined": joined, "renewed": renewedToken} {
		cfg := rest.AnonymousClientConfig(hub.RestConfig)
		cfg.BearerToken = token
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if want := "system:serviceaccount:" + ns + ":member-agent"; err != nil || review.Status.UserInfo.Username != want {
			t.Errorf("the %s token: %v, %+v; want it to authenticate as %s", what, err, review, want)
		}
	}

	edgeRenewed()
}

// startRenewingEdgeAgent joins an edge node with a 10m token, applies its
// join-edge manifest to edge (Secret, ServiceAccount, Role, RoleBinding;
// DaemonSet pods never run there) and runs its lb-agent, with an in-memory
// dataplane, as that manifest's ServiceAccount with --hub-kubeconfig-secret.
// The returned function waits until the agent has written a renewed token of
// its own hub ServiceAccount into the Secret, through the manifest's RBAC,
// which allows nothing else.
func startRenewingEdgeAgent(t *testing.T, hub, edge *framework.HubCluster) func() {
	t.Helper()
	ctx := context.Background()
	admin := versioned.NewForConfigOrDie(hub.RestConfig)
	ep, err := plugin.HubEndpointFromConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	group, node := uniqueName("lbg"), uniqueName("edge-r")
	if _, err := admin.ClusterV1alpha1().LoadBalancerGroups().Create(ctx, &clusterv1alpha1.LoadBalancerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: group}, Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: "zone-r"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := plugin.JoinEdge(ctx, admin, kubernetes.NewForConfigOrDie(hub.RestConfig),
		plugin.JoinEdgeOptions{Node: node, Group: group, Address: "192.0.2.41", TokenDuration: 10 * time.Minute, Hub: ep})
	if err != nil {
		t.Fatal(err)
	}
	joined, err := hubtoken.Parse(kubeconfigToken(t, res.Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	var manifest bytes.Buffer
	if err := manifests.RenderLBAgentNode(&manifest, manifests.LBAgentNodeValues{Node: node, Group: group, Address: "192.0.2.41", HubKubeconfig: res.Kubeconfig}); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := framework.KubectlWithInput(t, edge.KubeconfigPath, &manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("applying the edge manifest: %v\n%s%s", err, out, stderr)
	}

	// The agent's identity in the edge cluster, as its pod would have it.
	edgeKube := kubernetes.NewForConfigOrDie(edge.RestConfig)
	tr, err := edgeKube.CoreV1().ServiceAccounts("portico-system").CreateToken(ctx, "lb-agent-"+node,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edgeKubeconfig := filepath.Join(dir, "edge.kubeconfig")
	writeTokenKubeconfig(t, edgeKubeconfig, edge.RestConfig, tr.Status.Token)
	hubKubeconfig := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(hubKubeconfig, res.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	o := lbagent.NewOptions()
	o.HubKubeconfig, o.HubKubeconfigSecret, o.Kubeconfig = hubKubeconfig, "portico-system/lb-agent-hub-"+node, edgeKubeconfig
	o.NodeName, o.Group, o.Address = node, group, "192.0.2.41"
	o.ListenAddress, o.DrainPeriod, o.HubTokenRenewFraction = "127.0.0.1:0", 0, 0.05
	o.NewDataplane = func(*lbagent.Options) (dataplane.Dataplane, string, func(), error) {
		return &fake.Dataplane{}, "fake", func() {}, nil
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("lb-agent: %v", err)
		}
	})

	return func() {
		t.Helper()
		secrets := edgeKube.CoreV1().Secrets("portico-system")
		var renewed hubtoken.Claims
		var renewedToken string
		framework.Eventually(t, 2*time.Minute, "the lb-agent's renewed token in its Secret", func() (bool, string) {
			secret, err := secrets.Get(ctx, "lb-agent-hub-"+node, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			renewedToken = kubeconfigToken(t, secret.Data[hubtoken.SecretKey])
			if renewed, err = hubtoken.Parse(renewedToken); err != nil {
				return false, err.Error()
			}
			return renewed.IssuedAt.After(joined.IssuedAt), fmt.Sprintf("the Secret's token was issued at %s", renewed.IssuedAt.UTC())
		})
		t.Logf("the lb-agent renewed %v after join-edge: valid until %s", renewed.IssuedAt.Sub(joined.IssuedAt), renewed.Expires.UTC())
		if renewed.Namespace != "portico-edge" || renewed.ServiceAccount != "lb-agent-"+node || renewed.Lifetime() != joined.Lifetime() {
			t.Errorf("renewed token %+v, want one of portico-edge/lb-agent-%s valid %v", renewed, node, joined.Lifetime())
		}
		// The renewed token works on the hub as the node.
		cfg := rest.AnonymousClientConfig(hub.RestConfig)
		cfg.BearerToken = renewedToken
		review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if want := "system:serviceaccount:portico-edge:lb-agent-" + node; err != nil || review.Status.UserInfo.Username != want {
			t.Errorf("the renewed edge token: %v, %+v; want it to authenticate as %s", err, review, want)
		}
		// The file the DaemonSet mounts read-only is not written.
		data, err := os.ReadFile(hubKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, res.Kubeconfig) {
			t.Errorf("the agent rewrote --hub-kubeconfig; with --hub-kubeconfig-secret it must write only the Secret")
		}
		// Its edge identity reaches no other Secret.
		cfg = rest.AnonymousClientConfig(edge.RestConfig)
		cfg.BearerToken = tr.Status.Token
		_, err = kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets("portico-system").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("the lb-agent's edge ServiceAccount listing Secrets: %v, want Forbidden", err)
		}
	}
}

// kubeconfigToken returns the bearer token of kubeconfig's current user.
func kubeconfigToken(t *testing.T, kubeconfig []byte) string {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.BearerToken
}

// writeTokenKubeconfig writes a kubeconfig for the server of base with token.
func writeTokenKubeconfig(t *testing.T, path string, base *rest.Config, token string) {
	t.Helper()
	data, err := clientcmd.Write(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"c": {Server: base.Host, CertificateAuthorityData: base.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"u": {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"c": {Cluster: "c", AuthInfo: "u"}},
		CurrentContext: "c",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fileToken returns the token of the hub kubeconfig at path and its claims.
func fileToken(t *testing.T, path string) (string, hubtoken.Claims) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("hub kubeconfig %s: %v", path, err)
	}
	claims, err := hubtoken.Parse(cfg.BearerToken)
	if err != nil {
		t.Fatalf("the token of %s: %v", path, err)
	}
	return cfg.BearerToken, claims
}
