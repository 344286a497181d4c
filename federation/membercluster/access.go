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

// ensureAccess applies the cluster's namespace, the agent's ServiceAccount and its
// RBAC: in its namespace, read ClusterAccessPoints and write their status, and
// create and renew its Lease; cluster-wide, read and update the status of its own
// MemberCluster only. Nothing else.
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
	subject := rbacv1ac.Subject().WithKind("ServiceAccount").WithName(clusterv1alpha1.AgentServiceAccount).WithNamespace(ns)
	role := rbacv1ac.Role(clusterv1alpha1.AgentServiceAccount, ns).WithLabels(labels).WithRules(namespaceRules()...)
	if _, err := rbac.Roles(ns).Apply(ctx, role, applyOptions); err != nil {
		return err
	}
	binding := rbacv1ac.RoleBinding(clusterv1alpha1.AgentServiceAccount, ns).WithLabels(labels).WithSubjects(subject).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName(clusterv1alpha1.AgentServiceAccount))
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

func namespaceRules() []*rbacv1ac.PolicyRuleApplyConfiguration {
	return []*rbacv1ac.PolicyRuleApplyConfiguration{
		rbacv1ac.PolicyRule().WithAPIGroups("traffic.portico.dev").WithResources("clusteraccesspoints").WithVerbs("get", "list", "watch"),
		rbacv1ac.PolicyRule().WithAPIGroups("traffic.portico.dev").WithResources("clusteraccesspoints/status").WithVerbs("get", "update", "patch"),
		// create cannot be limited by name; everything else is limited to its own Lease.
		rbacv1ac.PolicyRule().WithAPIGroups("coordination.k8s.io").WithResources("leases").WithVerbs("create"),
		rbacv1ac.PolicyRule().WithAPIGroups("coordination.k8s.io").WithResources("leases").WithVerbs("get", "update", "patch").
			WithResourceNames(clusterv1alpha1.AgentLease),
	}
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
			return c.kube.RbacV1().RoleBindings(ns).Delete(ctx, clusterv1alpha1.AgentServiceAccount, metav1.DeleteOptions{})
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
