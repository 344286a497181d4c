package controller

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// LeaseName is the name of a node's Lease in the hub cluster's lease namespace.
func LeaseName(node string) string { return "lb-agent-" + node }

// renewLease renews the node's Lease every quarter of its duration until ctx is
// done. Failures (the hub being unreachable) are logged and retried.
func (c *Controller) renewLease(ctx context.Context) {
	var lease *coordinationv1.Lease
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		rctx, cancel := context.WithTimeout(ctx, hubTimeout)
		defer cancel()
		var err error
		if lease, err = c.renew(rctx, lease); err != nil {
			klog.ErrorS(err, "Renewing the node's Lease", "namespace", c.opts.LeaseNamespace, "name", LeaseName(c.opts.Node),
				"hint", leaseHint(err, c.opts.Node))
		}
	}, c.opts.LeaseDuration/4)
}

// renew updates lease (read or created when nil) and returns the result, nil on
// failure.
func (c *Controller) renew(ctx context.Context, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := c.kube.CoordinationV1().Leases(c.opts.LeaseNamespace)
	now := metav1.NewMicroTime(c.now())
	if lease == nil {
		cur, err := leases.Get(ctx, LeaseName(c.opts.Node), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: LeaseName(c.opts.Node), Namespace: c.opts.LeaseNamespace},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(c.opts.Node), AcquireTime: &now, RenewTime: &now,
					LeaseDurationSeconds: ptr.To(int32(c.opts.LeaseDuration.Seconds()))},
			}, metav1.CreateOptions{FieldManager: fieldManager})
		}
		if err != nil {
			return nil, err
		}
		lease = cur
	}
	lease = lease.DeepCopy()
	lease.Spec.HolderIdentity = ptr.To(c.opts.Node)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(c.opts.LeaseDuration.Seconds()))
	lease.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, err
	}
	return updated, nil
}

// leaseHint says what to do when the node may not write its Lease.
func leaseHint(err error, node string) string {
	if !apierrors.IsForbidden(err) {
		return ""
	}
	return "an edge node may only update its own Lease, which `kubectl portico join-edge " + node + "` creates with its identity"
}
