// Package inuse is the in-use protection of the objects others depend on, in
// the way of Kubernetes' kubernetes.io/pvc-protection. The hub controller that
// owns a VIPPool, a LoadBalancerGroup, a CertificateIssuer or a DNSProvider
// keeps a finalizer on it; once the object is being deleted, the controller
// removes the finalizer only when nothing uses the object any more (it asks
// the API server, not only its cache, before it does). While the deletion
// waits, the object's Terminating condition (status True, reason InUse) names
// its users, and a Warning Event InUse says so once.
//
// Users are what would break if the object went: the VirtualIPs allocated
// from a pool, the VirtualIPs a group announces, the access points whose
// certificates an issuer signs, the NameServices (and ACME issuers) a DNS
// provider publishes for. Something that starts using an object being deleted
// is refused where it can be (no new address from a pool, no first
// certificate from an issuer, no first publication through a provider) and
// reported on its own status.
package inuse

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

const (
	// TrafficFinalizer protects VIPPools, CertificateIssuers and
	// DNSProviders (traffic.portico.dev).
	TrafficFinalizer = "traffic.portico.dev/in-use"
	// ClusterFinalizer protects LoadBalancerGroups (cluster.portico.dev).
	ClusterFinalizer = "cluster.portico.dev/in-use"
	// ConditionTerminating is True while the deletion of a protected object
	// waits for its users to go.
	ConditionTerminating = "Terminating"
	// ReasonInUse is the reason of the Terminating condition and of the
	// Warning Event recorded when a deletion starts waiting.
	ReasonInUse = "InUse"
	// MaxNamed bounds how many users a message names; the rest are counted.
	MaxNamed = 10
)

// Has tells whether the object holds finalizer f.
func Has(obj metav1.Object, f string) bool { return slices.Contains(obj.GetFinalizers(), f) }

// With returns a copy of finalizers with f present (once) or absent, keeping
// the order of the others.
func With(finalizers []string, f string, present bool) []string {
	out := slices.DeleteFunc(slices.Clone(finalizers), func(s string) bool { return s == f })
	if present {
		out = append(out, f)
	}
	return out
}

// Describe names the first MaxNamed users, sorted, and counts the rest.
func Describe(users []string) string {
	sorted := slices.Sorted(slices.Values(users))
	if len(sorted) <= MaxNamed {
		return strings.Join(sorted, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(sorted[:MaxNamed], ", "), len(sorted)-MaxNamed)
}

// Condition is the Terminating condition of an object whose deletion waits
// for users; next tells the user what to do.
func Condition(users []string, next string, generation int64) metav1.Condition {
	noun := "users"
	if len(users) == 1 {
		noun = "user"
	}
	msg := fmt.Sprintf("deletion waits for %d %s: %s", len(users), noun, Describe(users))
	if next != "" {
		msg += "; " + next
	}
	return metav1.Condition{Type: ConditionTerminating, Status: metav1.ConditionTrue, Reason: ReasonInUse,
		Message: msg, ObservedGeneration: generation}
}

// Set puts cond into conds and reports whether the deletion just started
// waiting (there was no True Terminating condition before).
func Set(conds *[]metav1.Condition, cond metav1.Condition) (started bool) {
	started = !meta.IsStatusConditionTrue(*conds, ConditionTerminating)
	meta.SetStatusCondition(conds, cond)
	return started
}

// Event records the Warning Event InUse with the condition's message, when
// recorder is not nil.
func Event(recorder record.EventRecorder, obj runtime.Object, cond metav1.Condition) {
	if recorder != nil {
		recorder.Event(obj, corev1.EventTypeWarning, ReasonInUse, cond.Message)
	}
}

// VirtualIP names a VirtualIP and the access point holding it, as a user of
// its pool or groups: "VirtualIP 192.0.2.1 (shop/checkout)".
func VirtualIP(vip *trafficv1alpha1.VirtualIP) string {
	if vip.Spec.Owner == nil {
		return "VirtualIP " + vip.Name
	}
	return "VirtualIP " + vip.Name + " (" + vip.Spec.Owner.Namespace + "/" + vip.Spec.Owner.Name + ")"
}
