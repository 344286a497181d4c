package membercluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// TestJoinCreatesNamespaceAndConfinedRBAC: a new MemberCluster gets the
// finalizer, its hub namespace, the agent's ServiceAccount, and RBAC with exactly
// the documented rules, and reports that its agent has not connected yet.
func TestJoinCreatesNamespaceAndConfinedRBAC(t *testing.T) {
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{newMemberCluster("zone-a-1"), newMemberCluster("zone-b-1")})
	f.run(t)
	mc := f.waitCondition(t, "zone-a-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, "AgentNotConnected")
	f.waitCondition(t, "zone-b-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, "AgentNotConnected")

	if !slices.Contains(mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer) {
		t.Errorf("finalizers = %v, want %s", mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer)
	}
	if mc.Status.Namespace != "portico-cluster-zone-a-1" {
		t.Errorf("status.namespace = %q", mc.Status.Namespace)
	}
	if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterJoined); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "AgentNeverConnected" {
		t.Errorf("Joined = %+v, want False AgentNeverConnected", c)
	}
	ctx, ns := context.Background(), "portico-cluster-zone-a-1"
	labels := map[string]string{clusterv1alpha1.LabelCluster: "zone-a-1"}
	namespace, err := f.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || !apiequality.Semantic.DeepEqual(namespace.Labels, labels) {
		t.Fatalf("namespace %s: %v, labels %v", ns, err, namespace.GetLabels())
	}
	sa, err := f.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "member-agent", metav1.GetOptions{})
	if err != nil || !apiequality.Semantic.DeepEqual(sa.Labels, labels) {
		t.Fatalf("ServiceAccount %s/member-agent: %v, labels %v", ns, err, sa.GetLabels())
	}
	checkRole(t, f.kube, ns)
	checkClusterRole(t, f.kube, "zone-a-1", ns)
}

func checkRole(t *testing.T, kube kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := kube.RbacV1().Roles(ns).Get(ctx, "member-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Role %s/member-agent: %v, want none (the agent's rules are the ClusterRole %s)", ns, err, AgentHubClusterRole)
	}
	binding, err := kube.RbacV1().RoleBindings(ns).Get(ctx, "portico-hub:member-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "portico-hub:member-agent"}
	if binding.RoleRef != wantRef || !apiequality.Semantic.DeepEqual(binding.Subjects, []rbacv1.Subject{agent(ns)}) {
		t.Errorf("RoleBinding %s/portico-hub:member-agent: roleRef %+v, subjects %+v", ns, binding.RoleRef, binding.Subjects)
	}
}

// hubManifestClusterRole reads the ClusterRole name from manifests/hub/rbac.yaml,
// the rules an installed hub cluster has.
func hubManifestClusterRole(t *testing.T, name string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "manifests", "hub", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal([]byte(doc), role); err != nil {
			t.Fatal(err)
		}
		if role.Kind == "ClusterRole" && role.Name == name {
			return role
		}
	}
	t.Fatalf("no ClusterRole %s in manifests/hub/rbac.yaml", name)
	return nil
}

func checkClusterRole(t *testing.T, kube kubernetes.Interface, cluster, ns string) {
	t.Helper()
	ctx, name := context.Background(), "portico:member-agent:"+cluster
	role, err := kube.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"cluster.portico.dev"}, Resources: []string{"memberclusters"}, Verbs: []string{"get"}, ResourceNames: []string{cluster}},
		{APIGroups: []string{"cluster.portico.dev"}, Resources: []string{"memberclusters/status"}, Verbs: []string{"get", "update", "patch"}, ResourceNames: []string{cluster}},
	}
	if !apiequality.Semantic.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole %s rules:\n got %+v\nwant %+v", name, role.Rules, want)
	}
	binding, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}
	if binding.RoleRef != wantRef || !apiequality.Semantic.DeepEqual(binding.Subjects, []rbacv1.Subject{agent(ns)}) {
		t.Errorf("ClusterRoleBinding %s: roleRef %+v, subjects %+v", name, binding.RoleRef, binding.Subjects)
	}
}

func agent(ns string) rbacv1.Subject {
	return rbacv1.Subject{Kind: "ServiceAccount", Name: "member-agent", Namespace: ns}
}

// TestAgentCanReachOnlyItsOwnObjects evaluates the RBAC the controller stored,
// the way the hub's RBAC authorizer does, for the agent of zone-a-1 while
// zone-b-1 has joined too.
func TestAgentCanReachOnlyItsOwnObjects(t *testing.T) {
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{newMemberCluster("zone-a-1"), newMemberCluster("zone-b-1")},
		hubManifestClusterRole(t, AgentHubClusterRole))
	f.run(t)
	f.waitCondition(t, "zone-a-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, "AgentNotConnected")
	f.waitCondition(t, "zone-b-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, "AgentNotConnected")
	own, other := "portico-cluster-zone-a-1", "portico-cluster-zone-b-1"
	const traffic, cluster, coordination = "traffic.portico.dev", "cluster.portico.dev", "coordination.k8s.io"
	for _, r := range []struct {
		verb, group, resource, ns, name string
		allowed                         bool
	}{
		{"list", traffic, "clusteraccesspoints", own, "", true},
		{"watch", traffic, "clusteraccesspoints", own, "", true},
		{"get", traffic, "clusteraccesspoints", own, "shop.web", true},
		{"update", traffic, "clusteraccesspoints/status", own, "shop.web", true},
		{"patch", traffic, "clusteraccesspoints/status", own, "shop.web", true},
		{"create", coordination, "leases", own, "", true},
		{"update", coordination, "leases", own, "member-agent", true},
		{"get", cluster, "memberclusters", "", "zone-a-1", true},
		{"update", cluster, "memberclusters/status", "", "zone-a-1", true},
		{"create", "", "serviceaccounts/token", own, "member-agent", true},

		{"list", traffic, "clusteraccesspoints", other, "", false},
		{"get", traffic, "clusteraccesspoints", other, "shop.web", false},
		{"update", traffic, "clusteraccesspoints/status", other, "shop.web", false},
		{"update", traffic, "clusteraccesspoints", own, "shop.web", false},
		{"delete", traffic, "clusteraccesspoints", own, "shop.web", false},
		{"create", traffic, "clusteraccesspoints", own, "", false},
		{"update", coordination, "leases", own, "kube-controller-manager", false},
		{"delete", coordination, "leases", own, "member-agent", false},
		{"update", coordination, "leases", other, "member-agent", false},
		{"create", coordination, "leases", other, "", false},
		{"list", cluster, "memberclusters", "", "", false},
		{"get", cluster, "memberclusters", "", "zone-b-1", false},
		{"update", cluster, "memberclusters", "", "zone-a-1", false},
		{"update", cluster, "memberclusters/status", "", "zone-b-1", false},
		{"get", "", "secrets", own, "web-cert", false},
		{"create", "", "serviceaccounts/token", own, "default", false},
		{"create", "", "serviceaccounts/token", other, "member-agent", false},
		{"create", "", "serviceaccounts/token", "portico-system", "portico-hub", false},
		{"list", traffic, "federatedaccesspoints", "shop", "", false},
	} {
		if got := allowed(t, f.kube, agent(own), r.verb, r.group, r.resource, r.ns, r.name); got != r.allowed {
			t.Errorf("agent of zone-a-1: %s %s %s in %q named %q: allowed %v, want %v", r.verb, r.group, r.resource, r.ns, r.name, got, r.allowed)
		}
	}
}

// allowed reports whether RBAC in kube lets subject do verb on the resource, as
// the hub's RBAC authorizer decides it: Roles bound in ns, ClusterRoles bound
// cluster-wide.
func allowed(t *testing.T, kube kubernetes.Interface, subject rbacv1.Subject, verb, group, resource, ns, name string) bool {
	t.Helper()
	ctx := context.Background()
	var rules []rbacv1.PolicyRule
	if ns != "" {
		bindings, err := kube.RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bindings.Items {
			if !slices.Contains(b.Subjects, subject) {
				continue
			}
			if b.RoleRef.Kind == "Role" {
				if role, err := kube.RbacV1().Roles(ns).Get(ctx, b.RoleRef.Name, metav1.GetOptions{}); err == nil {
					rules = append(rules, role.Rules...)
				}
			} else if role, err := kube.RbacV1().ClusterRoles().Get(ctx, b.RoleRef.Name, metav1.GetOptions{}); err == nil {
				rules = append(rules, role.Rules...)
			}
		}
	}
	cbindings, err := kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cbindings.Items {
		if slices.Contains(b.Subjects, subject) {
			if role, err := kube.RbacV1().ClusterRoles().Get(ctx, b.RoleRef.Name, metav1.GetOptions{}); err == nil {
				rules = append(rules, role.Rules...)
			}
		}
	}
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return matches(r.APIGroups, group) && matches(r.Resources, resource) && matches(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || (name != "" && slices.Contains(r.ResourceNames, name)))
	})
}

func matches(values []string, v string) bool {
	return slices.Contains(values, v) || slices.Contains(values, "*")
}

// TestLeaseRenewalsDoNotRewriteAccessOrStatus: once a cluster has joined, Lease
// renewals re-apply neither its namespace nor its RBAC, renewals within the
// heartbeat copy period do not write its status, and the access is re-applied
// only after accessRefresh.
func TestLeaseRenewalsDoNotRewriteAccessOrStatus(t *testing.T) {
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{newMemberCluster("zone-a-1")})
	f.run(t)
	f.renewLease(t, "zone-a-1", t0)
	f.waitCondition(t, "zone-a-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionTrue, "LeaseRenewed")
	applies := f.writes.count(0, "apply ")
	if applies != 5 {
		t.Fatalf("joining applied %d objects, want 5 (namespace, ServiceAccount, RoleBinding, ClusterRole, ClusterRoleBinding): %v",
			applies, f.writes.since(0))
	}
	mark := f.writes.len()

	// Renewals within the heartbeat copy period, then one a period later that
	// moves the reported heartbeat: once that is visible, the controller has
	// seen all of them.
	at := t0
	for i := 1; i <= 5; i++ {
		at = t0.Add(time.Duration(i) * 5 * time.Second)
		f.clock.Set(at)
		f.renewLease(t, "zone-a-1", at)
		f.waitLeaseSeen(t, "zone-a-1", at)
	}
	at = t0.Add(heartbeatCopy)
	f.clock.Set(at)
	f.renewLease(t, "zone-a-1", at)
	f.waitHeartbeat(t, "zone-a-1", at)
	if n := f.writes.count(mark, "apply "); n != 0 {
		t.Errorf("Lease renewals re-applied access %d times: %v", n, f.writes.since(mark))
	}
	if n := f.writes.count(mark, "update memberclusters"); n != 1 {
		t.Errorf("Lease renewals wrote the MemberCluster %d times, want once (the heartbeat a copy period later): %v", n, f.writes.since(mark))
	}

	// After accessRefresh, the next renewal re-applies everything (repairs hand edits).
	mark = f.writes.len()
	at = t0.Add(accessRefresh + time.Minute)
	f.clock.Set(at)
	f.renewLease(t, "zone-a-1", at)
	f.waitHeartbeat(t, "zone-a-1", at)
	if n := f.writes.count(mark, "apply "); n != 5 {
		t.Errorf("after %v access was re-applied %d times, want 5: %v", accessRefresh, n, f.writes.since(mark))
	}
}

// TestLegacyRoleIsReplaced: the Role and RoleBinding member-agent that earlier
// versions wrote into a cluster namespace are deleted and the binding to the
// ClusterRole portico-hub:member-agent takes their place.
func TestLegacyRoleIsReplaced(t *testing.T) {
	ns := "portico-cluster-zone-a-1"
	legacyRole := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "member-agent", Namespace: ns}}
	legacyBinding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "member-agent", Namespace: ns},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "member-agent"}, Subjects: []rbacv1.Subject{agent(ns)}}
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{newMemberCluster("zone-a-1")}, legacyRole, legacyBinding)
	f.run(t)
	f.waitCondition(t, "zone-a-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, "AgentNotConnected")
	ctx := context.Background()
	if _, err := f.kube.RbacV1().RoleBindings(ns).Get(ctx, "member-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("legacy RoleBinding %s/member-agent: %v, want deleted", ns, err)
	}
	checkRole(t, f.kube, ns)
}

func (f *fixture) waitHeartbeat(t *testing.T, cluster string, at time.Time) {
	t.Helper()
	framework.Eventually(t, 10*time.Second, fmt.Sprintf("%s heartbeat at %s", cluster, at), func() (bool, string) {
		hb := f.memberCluster(t, cluster).Status.Agent.LastHeartbeatTime
		return hb != nil && hb.Time.Equal(at), fmt.Sprintf("lastHeartbeatTime %v", hb)
	})
}

// TestDeletionRevokesAccessBeforeNamespace: a deleted MemberCluster loses its
// agent's RoleBinding and ServiceAccount first, then its ClusterRole access, then
// its namespace, and only then its finalizer.
func TestDeletionRevokesAccessBeforeNamespace(t *testing.T) {
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{newMemberCluster("zone-a-1")})
	f.run(t)
	f.waitCondition(t, "zone-a-1", clusterv1alpha1.MemberClusterAvailable, metav1.ConditionUnknown, "AgentNotConnected")
	mark := f.writes.len()
	mc := f.memberCluster(t, "zone-a-1")
	mc.DeletionTimestamp = &metav1.Time{Time: t0}
	if _, err := f.portico.ClusterV1alpha1().MemberClusters().Update(context.Background(), mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 10*time.Second, "finalizer removed", func() (bool, string) {
		mc := f.memberCluster(t, "zone-a-1")
		return len(mc.Finalizers) == 0, fmt.Sprintf("finalizers %v", mc.Finalizers)
	})
	want := []string{
		"update memberclusters zone-a-1", // the test's deletion
		"delete rolebindings portico-cluster-zone-a-1/portico-hub:member-agent",
		"delete serviceaccounts portico-cluster-zone-a-1/member-agent",
		"delete clusterrolebindings portico:member-agent:zone-a-1",
		"delete clusterroles portico:member-agent:zone-a-1",
		"delete namespaces portico-cluster-zone-a-1",
		"update memberclusters zone-a-1", // the finalizer
	}
	if got := f.writes.since(mark); !slices.Equal(got, want) {
		t.Errorf("writes on deletion:\n got %q\nwant %q", got, want)
	}
	ctx := context.Background()
	if _, err := f.kube.RbacV1().RoleBindings("portico-cluster-zone-a-1").Get(ctx, "member-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("RoleBinding still there: %v", err)
	}
	if _, err := f.kube.CoreV1().Namespaces().Get(ctx, "portico-cluster-zone-a-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there: %v", err)
	}
}

// TestDeletionKeepsFinalizerWhileRevocationFails: when the agent's access cannot
// be revoked, neither the namespace nor the finalizer goes, and the error says
// so; access already gone (NotFound) does not block the finalizer.
func TestDeletionKeepsFinalizerWhileRevocationFails(t *testing.T) {
	deleting := func() *clusterv1alpha1.MemberCluster {
		mc := joined("zone-a-1")
		mc.DeletionTimestamp = &metav1.Time{Time: t0}
		return mc
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "portico-cluster-zone-a-1"}}
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{deleting()}, ns)
	failed := 0
	f.kube.PrependReactor("delete", "rolebindings", func(clienttesting.Action) (bool, runtime.Object, error) {
		failed++
		return true, nil, errors.New("hub unavailable")
	})
	if _, err := f.c.sync(f.ctx, "zone-a-1"); err == nil {
		t.Fatal("sync succeeded although the RoleBinding could not be deleted")
	}
	// The failing reactor answers before the journal sees the deletion.
	if got := f.writes.since(0); failed != 1 || len(got) != 0 {
		t.Errorf("RoleBinding deletions tried %d, other writes %q; want one attempt and nothing else", failed, got)
	}
	if mc := f.memberCluster(t, "zone-a-1"); !slices.Contains(mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer) {
		t.Errorf("finalizer removed although access was not revoked: %v", mc.Finalizers)
	}

	f = newFixture(t, []*clusterv1alpha1.MemberCluster{deleting()})
	if _, err := f.c.sync(f.ctx, "zone-a-1"); err != nil {
		t.Fatalf("sync with nothing left to delete: %v", err)
	}
	if mc := f.memberCluster(t, "zone-a-1"); len(mc.Finalizers) != 0 {
		t.Errorf("finalizers = %v, want none", mc.Finalizers)
	}
}
