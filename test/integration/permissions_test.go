//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/test/framework"
)

// serviceAccount is one component's identity in one cluster.
type serviceAccount struct {
	component, namespace, name string
}

func (sa serviceAccount) user() string {
	return "system:serviceaccount:" + sa.namespace + ":" + sa.name
}

// impersonate returns admin's config acting as sa, with the groups the
// ServiceAccount token authenticator gives it.
func (sa serviceAccount) impersonate(admin *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: sa.user(),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"}}
	return cfg
}

// TestEffectivePermissions lists, with SelfSubjectRulesReview in every
// namespace of the hub and the member cluster, what portico-hub, a member-agent
// (in the hub and in its member cluster) and an lb-agent may do, as installed
// from manifests/ and by the hub, and fails on any wildcard and on any token
// creation but an agent's for its own ServiceAccount (it renews its token).
// Then it tries, as portico-hub, what its rules alone would allow and the
// admission policy portico-hub-writes forbids.
func TestEffectivePermissions(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	member := framework.NewMemberCluster(t, "zone-a-1")
	agent := framework.NewMemberAgent(t, hub, member, framework.MemberAgentOptions{Zone: "zone-a", Region: "r1", HeartbeatInterval: time.Second})
	ctx := context.Background()
	admin := versioned.NewForConfigOrDie(hub.RestConfig)
	adminKube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	// The agent works with exactly these permissions: its cluster is Available.
	framework.Eventually(t, 30*time.Second, "MemberCluster zone-a-1 Available", func() (bool, string) {
		mc, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range mc.Status.Conditions {
			if c.Type == clusterv1alpha1.MemberClusterAvailable {
				return c.Status == metav1.ConditionTrue, c.Reason
			}
		}
		return false, "no Available condition"
	})
	group := uniqueName("lbg")
	if _, err := admin.ClusterV1alpha1().LoadBalancerGroups().Create(ctx, &clusterv1alpha1.LoadBalancerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: group}, Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: "zone-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep, err := plugin.HubEndpointFromConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	node := uniqueName("edge")
	if _, err := plugin.JoinEdge(ctx, admin, adminKube, plugin.JoinEdgeOptions{Node: node, Group: group, Address: "192.0.2.41", Hub: ep}); err != nil {
		t.Fatal(err)
	}
	if agent.GatewayNamespace != "istio-system" {
		t.Errorf("member-agent --gateway-namespace %q, want istio-system (the MemberCluster's default)", agent.GatewayNamespace)
	}

	hubIdentities := []serviceAccount{
		{"portico-hub", "portico-system", "portico-hub"},
		{"member-agent (hub)", clusterv1alpha1.ClusterNamespace("zone-a-1"), clusterv1alpha1.AgentServiceAccount},
		{"lb-agent", lblease.Namespace, lblease.Name(node)},
	}
	for _, sa := range hubIdentities {
		checkNoWildcards(t, hub.RestConfig, sa)
	}
	memberAgent := serviceAccount{"member-agent (member cluster)", "portico-system", "member-agent"}
	checkNoWildcards(t, member.RestConfig, memberAgent)

	// The member-agent's Secrets: its gateway namespace only, and its own hub
	// kubeconfig; never a namespace deletion.
	for _, r := range []struct {
		attrs   authorizationv1.ResourceAttributes
		allowed bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: "istio-system"}, true},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets", Namespace: "istio-system"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Resource: "secrets", Namespace: "portico-system", Name: "member-agent-hub"}, true},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "kube-system", Name: "any"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "portico-system", Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets", Namespace: "portico-system"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Resource: "namespaces", Name: "istio-system"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces"}, true},
	} {
		if got := can(t, member.RestConfig, memberAgent, r.attrs); got != r.allowed {
			t.Errorf("%s: %s %s in %q named %q: allowed %v, want %v", memberAgent.component, r.attrs.Verb, r.attrs.Resource,
				r.attrs.Namespace, r.attrs.Name, got, r.allowed)
		}
	}

	// portico-hub, tried as an attacker holding its token would.
	hubSA := hubIdentities[0]
	hubAsHub := kubernetes.NewForConfigOrDie(hubSA.impersonate(hub.RestConfig))
	memberRule := []rbacv1.PolicyRule{{APIGroups: []string{"cluster.portico.dev"}, Resources: []string{"memberclusters"}, Verbs: []string{"get"}}}
	for _, try := range []struct {
		what string
		do   func() error
		deny string // the admission policy's message, or "" for RBAC's 403
	}{
		{"create namespace kube-evil", func() error {
			_, err := hubAsHub.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-evil"}}, metav1.CreateOptions{})
			return err
		}, "portico-hub may write only the namespaces portico-cluster-*"},
		{"delete namespace shop", func() error {
			createHubNamespace(t, hub, "shop")
			return hubAsHub.CoreV1().Namespaces().Delete(ctx, "shop", metav1.DeleteOptions{})
		}, "portico-hub may write only the namespaces portico-cluster-*"},
		{"create ClusterRole evil (with rules it holds)", func() error {
			_, err := hubAsHub.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "evil"}, Rules: memberRule}, metav1.CreateOptions{})
			return err
		}, "portico-hub may write only the clusterroles portico:member-agent:*"},
		{"bind portico-hub:member-agent in kube-system", func() error {
			_, err := hubAsHub.RbacV1().RoleBindings("kube-system").Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "evil"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "portico-hub:member-agent"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: "kube-system"}},
			}, metav1.CreateOptions{})
			return err
		}, "portico-hub may write rolebindings only in the namespaces portico-cluster-*"},
		{"create ServiceAccount kube-system/evil", func() error {
			_, err := hubAsHub.CoreV1().ServiceAccounts("kube-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "evil"}}, metav1.CreateOptions{})
			return err
		}, "portico-hub may write serviceaccounts only in the namespaces portico-cluster-*"},
		{"bind cluster-admin in its member clusters' namespace", func() error {
			_, err := hubAsHub.RbacV1().RoleBindings(clusterv1alpha1.ClusterNamespace("zone-a-1")).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "evil"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "member-agent", Namespace: clusterv1alpha1.ClusterNamespace("zone-a-1")}},
			}, metav1.CreateOptions{})
			return err
		}, ""},
		{"request a token for itself", func() error {
			_, err := hubAsHub.CoreV1().ServiceAccounts("portico-system").CreateToken(ctx, "portico-hub", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		}, ""},
		{"request a token for a member-agent", func() error {
			_, err := hubAsHub.CoreV1().ServiceAccounts(clusterv1alpha1.ClusterNamespace("zone-a-1")).CreateToken(ctx, "member-agent",
				&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		}, ""},
		{"read a Secret outside portico-system", func() error {
			_, err := hubAsHub.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			return err
		}, ""},
	} {
		err := try.do()
		switch {
		case try.deny == "" && !apierrors.IsForbidden(err):
			t.Errorf("portico-hub: %s: %v, want 403 Forbidden by RBAC", try.what, err)
		case try.deny != "" && (err == nil || !strings.Contains(err.Error(), try.deny)):
			t.Errorf("portico-hub: %s: %v, want denied by the admission policy portico-hub-writes (%q)", try.what, err, try.deny)
		}
	}
	// What the policy lets through is what the hub does for a member cluster.
	allowed := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterv1alpha1.AgentClusterRole("probe")}, Rules: memberRule}
	if _, err := hubAsHub.RbacV1().ClusterRoles().Create(ctx, allowed, metav1.CreateOptions{}); err != nil {
		t.Errorf("portico-hub: create ClusterRole %s: %v, want allowed", allowed.Name, err)
	} else if err := hubAsHub.RbacV1().ClusterRoles().Delete(ctx, allowed.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("portico-hub: delete ClusterRole %s: %v", allowed.Name, err)
	}
}

// checkNoWildcards reviews sa's rules in every namespace of the cluster and
// fails on a wildcard group, resource or verb, and on token creation other
// than for sa itself.
func checkNoWildcards(t *testing.T, admin *rest.Config, sa serviceAccount) {
	t.Helper()
	ctx := context.Background()
	namespaces, err := kubernetes.NewForConfigOrDie(admin).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	as := kubernetes.NewForConfigOrDie(sa.impersonate(admin))
	seen := sets.New[string]()
	for _, ns := range namespaces.Items {
		review, err := as.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
			Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns.Name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: rules in %s: %v", sa.component, ns.Name, err)
		}
		if review.Status.Incomplete {
			t.Errorf("%s: rules in %s incomplete: %s", sa.component, ns.Name, review.Status.EvaluationError)
		}
		for _, r := range review.Status.ResourceRules {
			rule := fmt.Sprintf("%s: in %s: groups %q resources %q verbs %q names %q", sa.component, ns.Name, r.APIGroups, r.Resources, r.Verbs, r.ResourceNames)
			if slices.Contains(r.APIGroups, "*") || slices.Contains(r.Verbs, "*") ||
				slices.ContainsFunc(r.Resources, func(res string) bool { return strings.Contains(res, "*") }) {
				t.Errorf("wildcard: %s", rule)
			}
			if slices.Contains(r.Resources, "serviceaccounts/token") && slices.Contains(r.Verbs, "create") &&
				(ns.Name != sa.namespace || !slices.Equal(r.ResourceNames, []string{sa.name})) {
				t.Errorf("token creation beyond its own ServiceAccount: %s", rule)
			}
			seen.Insert(fmt.Sprintf("%q %q %q %q", r.APIGroups, r.Resources, r.Verbs, r.ResourceNames))
		}
	}
	t.Logf("%s (%s): %d distinct rules across %d namespaces", sa.component, sa.user(), seen.Len(), len(namespaces.Items))
}

// can asks the cluster's authorizer whether sa may do attrs.
func can(t *testing.T, admin *rest.Config, sa serviceAccount, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	review, err := kubernetes.NewForConfigOrDie(admin).AuthorizationV1().SubjectAccessReviews().Create(context.Background(),
		&authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa.user(), Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"},
			ResourceAttributes: &attrs,
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return review.Status.Allowed
}
