package dns

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Reasons of an access point's DNSReady condition.
const (
	ReasonNotPublished = "NotPublished"
)

// AccessPointStatus summarizes the NameServices that target an access point,
// for its status.dns and DNSReady condition (the access point controller owns
// that status). Both are nil when no NameService targets it: DNS does not apply.
// nameServices may hold any NameServices; those of other access points are
// ignored.
func AccessPointStatus(ap *trafficv1alpha1.FederatedAccessPoint, nameServices []*trafficv1alpha1.NameService) (*trafficv1alpha1.DNSStatus, *metav1.Condition) {
	status := &trafficv1alpha1.DNSStatus{Published: true}
	var pending, providers []string
	for _, ns := range nameServices {
		if ns.Namespace != ap.Namespace || ns.Spec.Target.AccessPointRef == nil || ns.Spec.Target.AccessPointRef.Name != ap.Name ||
			ns.DeletionTimestamp != nil {
			continue
		}
		status.FQDNs = append(status.FQDNs, ns.Spec.FQDN)
		providers = append(providers, ns.Spec.ProviderRef.Name)
		if !meta.IsStatusConditionTrue(ns.Status.Conditions, trafficv1alpha1.NameServicePublished) {
			status.Published = false
			pending = append(pending, ns.Name)
		}
	}
	if len(status.FQDNs) == 0 {
		return nil, nil
	}
	slices.Sort(status.FQDNs)
	status.FQDNs = slices.Compact(status.FQDNs)
	slices.Sort(providers)
	status.Provider = strings.Join(slices.Compact(providers), ",")
	cond := &metav1.Condition{Type: trafficv1alpha1.AccessPointDNSReady, Status: metav1.ConditionTrue, Reason: ReasonPublished,
		Message: "published: " + strings.Join(status.FQDNs, ", "), ObservedGeneration: ap.Generation}
	if !status.Published {
		slices.Sort(pending)
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonNotPublished
		cond.Message = "NameServices not published yet: " + strings.Join(pending, ", ")
	}
	return status, cond
}
