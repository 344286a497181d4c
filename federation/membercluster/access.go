package membercluster

import (
	"context"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

var applyOptions = metav1.ApplyOptions{FieldManager: fieldManager, Force: true}

// AgentHubClusterRole is the ClusterRole (manifests/hub/rbac.yaml) portico-hub
// binds in each cluster namespace: read the namespace's ClusterAccessPoints and
// write their status, create and renew the agent's Lease, and request tokens for
// the agent's own ServiceAccount. portico-hub may bind it but does not hold it.
const AgentHubClusterRole = "portico-hub:member-agent"

// ensureAccess applies the cluster's namespace, the agent's ServiceAccount and its
// RBAC: in its namespace, a RoleBinding to AgentHubClusterRole; cluster-wide, read
// and update the status of its own MemberCluster only. Nothing else.
func (c *Controller) ensureAccess(ctx context.Context, cluster string) error {
	ns := clusterv1alpha1.ClusterNamespace(cluster)
	labels := map[string]string{clusterv1alpha1.LabelCluster: cluster}
	core, rbac := c.kube.CoreV1(), c.kube.RbacV1()
	if _, err := core.Namespaces().Apply(ctx, corev1ac.Namespace(ns).WithLabels(labels), applyOptions); err != nil {
		return err
	}
	sa := corev1ac.ServiceAccount(clusterv1alpha1.AgentServiceAccount, ns).WithLabels(labels)
	if _, err := core.ServiceAccounts(ns).Apply(ctx, sa, applyOptions); err != nil {
		return err
	}
	if err := c.removeLegacyRole(ctx, ns); err != nil {
		return err
	}
	subject := rbacv1ac.Subject().WithKind("ServiceAccount").WithName(clusterv1alpha1.AgentServiceAccount).WithNamespace(ns)
	binding := rbacv1ac.RoleBinding(agentRoleBinding, ns).WithLabels(labels).WithSubjects(subject).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("ClusterRole").WithName(AgentHubClusterRole))
	if _, err := rbac.RoleBindings(ns).Apply(ctx, binding, applyOptions); err != nil {
		return err
	}
	name := clusterv1alpha1.AgentClusterRole(cluster)
	crole := rbacv1ac.ClusterRole(name).WithLabels(labels).WithRules(clusterRules(cluster)...)
	if _, err := rbac.ClusterRoles().Apply(ctx, crole, applyOptions); err != nil {
		return err
	}
	cbinding := rbacv1ac.ClusterRoleBinding(name).WithLabels(labels).WithSubjects(subject).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("ClusterRole").WithName(name))
	_, err := rbac.ClusterRoleBindings().Apply(ctx, cbinding, applyOptions)
	return err
}

// agentRoleBinding binds AgentHubClusterRole in a cluster namespace. (Versions
// before it used a Role and RoleBinding named member-agent: see removeLegacyRole.)
const agentRoleBinding = "portico-hub:member-agent"

// removeLegacyRole deletes the Role and RoleBinding member-agent that earlier
// versions wrote into each cluster namespace (a RoleBinding's roleRef cannot
// change, so the new binding has a new name).
func (c *Controller) removeLegacyRole(ctx context.Context, ns string) error {
	rbac := c.kube.RbacV1()
	for _, del := range []func() error{
		func() error {
			return rbac.RoleBindings(ns).Delete(ctx, clusterv1alpha1.AgentServiceAccount, metav1.DeleteOptions{})
		},
		func() error {
			return rbac.Roles(ns).Delete(ctx, clusterv1alpha1.AgentServiceAccount, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func clusterRules(cluster string) []*rbacv1ac.PolicyRuleApplyConfiguration {
	return []*rbacv1ac.PolicyRuleApplyConfiguration{
		rbacv1ac.PolicyRule().WithAPIGroups("cluster.portico.dev").WithResources("memberclusters").WithVerbs("get").WithResourceNames(cluster),
		rbacv1ac.PolicyRule().WithAPIGroups("cluster.portico.dev").WithResources("memberclusters/status").WithVerbs("get", "update", "patch").WithResourceNames(cluster),
	}
}

// cleanup removes the cluster's hub access, then the finalizer. The namespace (and
// with it the ServiceAccount, RBAC, Lease and ClusterAccessPoints) is deleted; the
// hub cluster's namespace controller finishes removing its content.
func (c *Controller) cleanup(ctx context.Context, mc *clusterv1alpha1.MemberCluster) error {
	if !slices.Contains(mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer) {
		return nil
	}
	name, ns := clusterv1alpha1.AgentClusterRole(mc.Name), clusterv1alpha1.ClusterNamespace(mc.Name)
	// Revoke the agent's access first: the namespace's content goes away only when
	// the hub cluster's namespace controller finishes it.
	deletes := []func() error{
		func() error {
			return c.kube.RbacV1().RoleBindings(ns).Delete(ctx, agentRoleBinding, metav1.DeleteOptions{})
		},
		func() error {
			return c.kube.CoreV1().ServiceAccounts(ns).Delete(ctx, clusterv1alpha1.AgentServiceAccount, metav1.DeleteOptions{})
		},
		func() error { return c.kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}) },
		func() error { return c.kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}) },
		func() error { return c.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) },
	}
	for _, del := range deletes {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	logger(ctx).Info("Removed member cluster's hub namespace and RBAC", "cluster", mc.Name)
	return c.setFinalizer(ctx, mc, false)
}

func (c *Controller) ensureFinalizer(ctx context.Context, mc *clusterv1alpha1.MemberCluster) error {
	if slices.Contains(mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer) {
		return nil
	}
	return c.setFinalizer(ctx, mc, true)
}

func (c *Controller) setFinalizer(ctx context.Context, mc *clusterv1alpha1.MemberCluster, present bool) error {
	mc = mc.DeepCopy()
	mc.Finalizers = slices.DeleteFunc(mc.Finalizers, func(f string) bool { return f == clusterv1alpha1.MemberClusterFinalizer })
	if present {
		mc.Finalizers = append(mc.Finalizers, clusterv1alpha1.MemberClusterFinalizer)
	}
	_, err := c.portico.ClusterV1alpha1().MemberClusters().Update(ctx, mc, metav1.UpdateOptions{})
	return err
}
