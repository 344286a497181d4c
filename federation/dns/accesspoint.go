package dns

import (
	"context"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
)

// Reasons of an access point's DNSReady condition.
const (
	ReasonNotPublished = "NotPublished"
)

// FieldManager owns status.dns and the DNSReady condition of
// FederatedAccessPoints.
const FieldManager = "portico-dns"

// statusPart is what this controller owns of an access point's status.
var statusPart = apstatus.Part{
	Manager:        FieldManager,
	ConditionTypes: []string{trafficv1alpha1.AccessPointDNSReady},
	Fields: func(dst, src *trafficv1alpha1.FederatedAccessPointStatus) {
		dst.DNS = src.DNS.DeepCopy()
	},
}

// enqueueStatus asks to report an access point's DNS status.
func (c *Controller) enqueueStatus(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.statuses.Add(key)
	}
}

// enqueueTargetStatus asks to report the DNS status of the access point a
// NameService targets.
func (c *Controller) enqueueTargetStatus(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if ns, ok := obj.(*trafficv1alpha1.NameService); ok && ns.Spec.Target.AccessPointRef != nil {
		c.statuses.Add(ns.Namespace + "/" + ns.Spec.Target.AccessPointRef.Name)
	}
}

// syncAccessPointStatus writes the access point's DNS part of the status.
func (c *Controller) syncAccessPointStatus(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ap, err := c.accessPoints.FederatedAccessPoints(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || ap.DeletionTimestamp != nil {
		return err
	}
	names, err := c.nameServices.NameServices(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	desired := &trafficv1alpha1.FederatedAccessPointStatus{}
	var cond *metav1.Condition
	if desired.DNS, cond = AccessPointStatus(ap, names); cond != nil {
		desired.Conditions = []metav1.Condition{*cond}
	}
	_, err = statusPart.Write(ctx, c.client, ap, desired, c.now())
	return err
}

// AccessPointStatus summarizes the NameServices that target an access point,
// for its status.dns and DNSReady condition. Both are nil when no NameService
// targets it: DNS does not apply.
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
