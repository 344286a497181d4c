// Package heartbeat renews the member-agent's Lease in its hub namespace and
// reports the agent, Kubernetes and Istio versions and the lifetime of the
// agent's hub credential in its MemberCluster's status.
package heartbeat

import (
	"context"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/member-agent/reconciler"
)

// Heartbeat renews the Lease and reports versions.
type Heartbeat struct {
	Hub      kubernetes.Interface // the hub cluster (Leases)
	Portico  versioned.Interface  // portico-hub (MemberCluster status)
	Member   kubernetes.Interface // the member cluster (versions)
	Cluster  string
	Identity string
	Version  string
	Interval time.Duration
	// OnRenew is called after each successful renewal.
	OnRenew func(time.Time)
	// Credential returns when the agent's current hub credential was issued
	// and when it expires; nil when the agent does not renew its credential
	// (then nothing is reported).
	Credential func() (issued, expires time.Time)
	// Guard, when set, is the reconciler's removal guard: its hold is
	// reported as the condition PruneHeld, and a confirmation found on the
	// MemberCluster (annotation reconciler.ConfirmRemovalAnnotation) is
	// passed to it.
	Guard *reconciler.Guard

	// now is the clock; nil means time.Now. Tests set it.
	now func() time.Time
}

func (h *Heartbeat) clock() time.Time {
	if h.now == nil {
		return time.Now()
	}
	return h.now()
}

// Run renews the Lease every Interval and reports versions every ten renewals
// (and on every one until a report succeeded: the agent's first report may
// come before the hub granted it access; and on the first one after the
// credential was renewed), until ctx is done.
func (h *Heartbeat) Run(ctx context.Context) {
	var s beatState
	wait.UntilWithContext(ctx, func(ctx context.Context) { h.beat(ctx, &s) }, h.Interval)
}

// beatState is what Run remembers between heartbeats.
type beatState struct {
	n              int
	reported       bool
	reportedExpiry time.Time
	reportedHold   string
}

// beat is one heartbeat: renew the Lease, and report when Run's rules say so.
func (h *Heartbeat) beat(ctx context.Context, s *beatState) {
	if err := h.renew(ctx); err != nil {
		klog.FromContext(ctx).Error(err, "Renewing Lease")
	} else if h.OnRenew != nil {
		h.OnRenew(h.clock())
	}
	_, expires := h.credential()
	hold := holdID(h.Guard.Current())
	// While a removal is held, every heartbeat reports (and reads a
	// confirmation).
	if s.n%10 == 0 || !s.reported || !expires.Equal(s.reportedExpiry) || hold != "" || hold != s.reportedHold {
		err := h.report(ctx)
		if err != nil {
			klog.FromContext(ctx).Error(err, "Reporting versions")
		}
		if s.reported = err == nil; s.reported {
			s.reportedExpiry, s.reportedHold = expires, hold
		}
	}
	s.n++
}

// Reasons of the condition PruneHeld.
const (
	ReasonRemovalHeld = "RemovalHeld"
	ReasonNothingHeld = "NothingHeld"
)

// setPruneHeld sets the condition PruneHeld from the guard's hold.
func setPruneHeld(status *clusterv1alpha1.MemberClusterStatus, hold *reconciler.Hold) {
	cond := metav1.Condition{Type: clusterv1alpha1.MemberClusterPruneHeld, Status: metav1.ConditionFalse,
		Reason: ReasonNothingHeld, Message: "no removal is held", ObservedGeneration: status.ObservedGeneration}
	if hold != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonRemovalHeld, hold.Message()
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

func holdID(h *reconciler.Hold) string {
	if h == nil {
		return ""
	}
	return h.ID
}

// credential returns the credential's issue and expiry, zero when unknown.
func (h *Heartbeat) credential() (issued, expires time.Time) {
	if h.Credential == nil {
		return time.Time{}, time.Time{}
	}
	return h.Credential()
}

// timeOrNil is t, or nil when t is zero.
func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}

func (h *Heartbeat) renew(ctx context.Context) error {
	ns := clusterv1alpha1.ClusterNamespace(h.Cluster)
	leases := h.Hub.CoordinationV1().Leases(ns)
	now := metav1.NewMicroTime(h.clock())
	lease, err := leases.Get(ctx, clusterv1alpha1.AgentLease, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: clusterv1alpha1.AgentLease, Namespace: ns},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &h.Identity, AcquireTime: &now, RenewTime: &now,
				LeaseDurationSeconds: ptr.To(int32(4 * h.Interval / time.Second))},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime, lease.Spec.HolderIdentity = &now, &h.Identity
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// report writes the versions and the credential's lifetime into the
// MemberCluster's status when they changed.
func (h *Heartbeat) report(ctx context.Context) error {
	k8sVersion := ""
	if v, err := h.Member.Discovery().ServerVersion(); err == nil {
		k8sVersion = v.GitVersion
	}
	istio := h.istio(ctx)
	issued, expires := h.credential()
	clusters := h.Portico.ClusterV1alpha1().MemberClusters()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mc, err := clusters.Get(ctx, h.Cluster, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if h.Guard != nil {
			h.Guard.ObserveIdentity(mc.Annotations[clusterv1alpha1.AnnotationHubIdentity])
			h.Guard.Confirm(mc.Annotations[reconciler.ConfirmRemovalAnnotation])
		}
		status := mc.Status.DeepCopy()
		status.Agent.Version, status.KubernetesVersion, status.Istio = h.Version, k8sVersion, istio
		status.Agent.CredentialIssueTime, status.Agent.CredentialExpirationTime = timeOrNil(issued), timeOrNil(expires)
		if h.Guard != nil {
			setPruneHeld(status, h.Guard.Current())
		}
		if apiequality.Semantic.DeepEqual(status, &mc.Status) {
			return nil
		}
		mc.Status = *status
		_, err = clusters.UpdateStatus(ctx, mc, metav1.UpdateOptions{})
		return err
	})
}

// istio reads the version from istiod's image tag and the revision from its
// istio.io/rev label, when istiod exists.
func (h *Heartbeat) istio(ctx context.Context) clusterv1alpha1.IstioStatus {
	d, err := h.Member.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		return clusterv1alpha1.IstioStatus{}
	}
	return clusterv1alpha1.IstioStatus{Version: imageTag(d), Revision: d.Labels["istio.io/rev"]}
}

func imageTag(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "discovery" || len(d.Spec.Template.Spec.Containers) == 1 {
			image := c.Image
			if i := strings.LastIndex(image, "@"); i >= 0 {
				image = image[:i]
			}
			if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
				return image[i+1:]
			}
		}
	}
	return ""
}
