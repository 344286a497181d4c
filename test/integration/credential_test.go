//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/hubtoken"
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
// The old token keeps working until it expires. It has its own hub cluster
// and portico-hub, as the hub's controllers must run.
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
