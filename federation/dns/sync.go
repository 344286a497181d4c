package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/dns/rfc2136"
)

// Reasons of the Published condition of NameServices.
const (
	ReasonPublished        = "Published"
	ReasonProviderNotFound = "ProviderNotFound"
	ReasonProviderInvalid  = "ProviderInvalid"
	ReasonSecretNotFound   = "SecretNotFound"
	ReasonNotInZone        = "NotInZone"
	ReasonTargetNotReady   = "TargetNotReady"
	ReasonNotOwner         = "NotOwner"
	ReasonUpdateFailed     = "UpdateFailed"
	// ReasonProviderTerminating: the DNSProvider is being deleted and
	// publishes no name that was not published through it already.
	ReasonProviderTerminating = "ProviderTerminating"
)

// Owner is the owner a NameService's records are published as.
func Owner(ns *trafficv1alpha1.NameService) string { return ns.Namespace + "/" + ns.Name }

// plan is what a NameService should be in DNS: records at fqdn through a
// provider, or none (withdrawn) because of why.
type plan struct {
	at       string // "<provider>/<fqdn>", the value of PublishedAnnotation
	provider *resolvedProvider
	fqdn     string
	ttl      uint32
	records  []trafficv1alpha1.DNSRecord
	why      *metav1.Condition
}

func (c *Controller) syncNameService(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ns, err := c.nameServices.NameServices(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if ns.DeletionTimestamp != nil {
		return c.finalize(ctx, ns)
	}
	p, cond, err := c.plan(ns)
	if err != nil {
		return err // nothing changes before the lookup succeeds
	}
	if p == nil {
		// The provider cannot be used: DNS stays as it is.
		return c.updateStatus(ctx, ns, ns.Status.Records, cond, false)
	}
	if ns, err = c.withdrawElsewhere(ctx, ns, p); err != nil {
		return c.fail(ctx, ns, ns.Status.Records, ReasonUpdateFailed, err)
	}
	if len(p.records) == 0 {
		return c.updateStatus(ctx, ns, nil, p.why, false)
	}
	// Recorded before any write, so that deletion knows what to remove.
	if ns, err = c.setPublished(ctx, ns, p.at); err != nil {
		return err
	}
	err = p.provider.provider.Apply(ctx, p.fqdn, p.ttl, toProvider(p.records), Owner(ns))
	switch {
	case errors.Is(err, rfc2136.ErrNotOwner):
		return c.fail(ctx, ns, nil, ReasonNotOwner, err)
	case err != nil:
		return c.fail(ctx, ns, ns.Status.Records, ReasonUpdateFailed, err)
	}
	cond = &metav1.Condition{Type: trafficv1alpha1.NameServicePublished, Status: metav1.ConditionTrue, Reason: ReasonPublished,
		Message: fmt.Sprintf("%s %s through DNSProvider %s", p.fqdn, describe(p.records), p.provider.name)}
	return c.updateStatus(ctx, ns, p.records, cond, true)
}

// plan resolves the provider and the target, or says why the provider cannot
// be used. An error (a failed lookup) means nothing can be decided yet.
func (c *Controller) plan(ns *trafficv1alpha1.NameService) (*plan, *metav1.Condition, error) {
	rp, cond := c.provider(ns.Spec.ProviderRef.Name)
	if cond != nil {
		return nil, cond, nil
	}
	if !inZone(ns.Spec.FQDN, rp.zone) {
		return nil, failed(ReasonNotInZone, "%s is not in zone %s of DNSProvider %s", ns.Spec.FQDN, rp.zone, rp.name), nil
	}
	if at, _, _ := strings.Cut(ns.Annotations[PublishedAnnotation], "/"); rp.deleting && at != rp.name {
		// A new user of a provider being deleted: refused; its current users
		// keep publishing (and withdrawing) until they leave it.
		return nil, failed(ReasonProviderTerminating, "DNSProvider %s is being deleted and publishes no new name: "+
			"point spec.providerRef at another DNSProvider", rp.name), nil
	}
	ttl := uint32(trafficv1alpha1.DefaultTTL)
	if ns.Spec.TTL != nil && *ns.Spec.TTL > 0 {
		ttl = uint32(*ns.Spec.TTL)
	}
	p := &plan{at: rp.name + "/" + canonical(ns.Spec.FQDN), provider: rp, fqdn: ns.Spec.FQDN, ttl: ttl}
	var err error
	if p.records, p.why, err = c.target(ns); err != nil {
		return nil, nil, err
	}
	return p, nil, nil
}

// target is the records a NameService's target resolves to: none, with the
// reason, when the target has no address (an access point gone or without a
// VIP). A lookup that fails otherwise is an error: it must not withdraw.
func (c *Controller) target(ns *trafficv1alpha1.NameService) ([]trafficv1alpha1.DNSRecord, *metav1.Condition, error) {
	t := ns.Spec.Target
	switch {
	case t.AccessPointRef != nil:
		ap, err := c.accessPoints.FederatedAccessPoints(ns.Namespace).Get(t.AccessPointRef.Name)
		if apierrors.IsNotFound(err) {
			return nil, failed(ReasonTargetNotReady, "access point %s does not exist", t.AccessPointRef.Name), nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("looking up access point %s/%s: %w", ns.Namespace, t.AccessPointRef.Name, err)
		}
		if vipOf(ap) == "" {
			return nil, failed(ReasonTargetNotReady, "access point %s has no VIP yet", ap.Name), nil
		}
		records, cond := addressRecords([]string{vipOf(ap)})
		return records, cond, nil
	case len(t.Addresses) > 0:
		records, cond := addressRecords(t.Addresses)
		return records, cond, nil
	case t.CNAME != "":
		return []trafficv1alpha1.DNSRecord{{Type: "CNAME", Value: canonical(t.CNAME)}}, nil, nil
	}
	return nil, failed(ReasonTargetNotReady, "the target is empty"), nil
}

func addressRecords(addrs []string) ([]trafficv1alpha1.DNSRecord, *metav1.Condition) {
	var out []trafficv1alpha1.DNSRecord
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, failed(ReasonTargetNotReady, "%q is not an IP address", s)
		}
		typ := "A"
		if !a.Is4() {
			typ = "AAAA"
		}
		out = append(out, trafficv1alpha1.DNSRecord{Type: typ, Value: a.String()})
	}
	return out, nil
}

func toProvider(records []trafficv1alpha1.DNSRecord) []rfc2136.Record {
	out := make([]rfc2136.Record, len(records))
	for i, r := range records {
		out[i] = rfc2136.Record{Type: r.Type, Value: r.Value}
	}
	return out
}

func describe(records []trafficv1alpha1.DNSRecord) string {
	parts := make([]string, len(records))
	for i, r := range records {
		parts[i] = r.Type + " " + r.Value
	}
	return strings.Join(parts, ", ")
}

// withdrawElsewhere removes the records published where the NameService no
// longer points (another name or provider, or nowhere when its target is not
// ready) and forgets that place.
func (c *Controller) withdrawElsewhere(ctx context.Context, ns *trafficv1alpha1.NameService, p *plan) (*trafficv1alpha1.NameService, error) {
	at := ns.Annotations[PublishedAnnotation]
	if at == "" || (at == p.at && len(p.records) > 0) {
		return ns, nil
	}
	if err := c.deleteAt(ctx, ns, at); err != nil {
		return ns, err
	}
	return c.setPublished(ctx, ns, "")
}

// deleteAt removes the NameService's records at "<provider>/<fqdn>". A deleted
// provider cannot be reached: its records are left (with a warning event).
func (c *Controller) deleteAt(ctx context.Context, ns *trafficv1alpha1.NameService, at string) error {
	name, fqdn, _ := strings.Cut(at, "/")
	rp, cond := c.provider(name)
	if cond != nil && cond.Reason == ReasonProviderNotFound {
		c.event(ns, corev1.EventTypeWarning, "RecordsLeft", "cannot remove the records of %s: %s", fqdn, cond.Message)
		return nil
	}
	if cond != nil {
		return fmt.Errorf("removing the records of %s: %s", fqdn, cond.Message)
	}
	if err := rp.provider.Delete(ctx, fqdn, Owner(ns)); err != nil {
		return fmt.Errorf("removing the records of %s: %w", fqdn, err)
	}
	return nil
}

// setPublished records where the records are (at; "" for nowhere). The
// finalizer comes with the first place.
func (c *Controller) setPublished(ctx context.Context, ns *trafficv1alpha1.NameService, at string) (*trafficv1alpha1.NameService, error) {
	hasFinalizer := slices.Contains(ns.Finalizers, Finalizer)
	if ns.Annotations[PublishedAnnotation] == at && (at == "" || hasFinalizer) {
		return ns, nil
	}
	updated := ns.DeepCopy()
	if at == "" {
		delete(updated.Annotations, PublishedAnnotation)
	} else {
		if updated.Annotations == nil {
			updated.Annotations = map[string]string{}
		}
		updated.Annotations[PublishedAnnotation] = at
		if !hasFinalizer {
			updated.Finalizers = append(updated.Finalizers, Finalizer)
		}
	}
	return c.client.TrafficV1alpha1().NameServices(ns.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
}

// finalize removes the records of a deleted NameService, then its finalizer.
func (c *Controller) finalize(ctx context.Context, ns *trafficv1alpha1.NameService) error {
	if !slices.Contains(ns.Finalizers, Finalizer) {
		return nil
	}
	if at := ns.Annotations[PublishedAnnotation]; at != "" {
		if err := c.deleteAt(ctx, ns, at); err != nil {
			return c.fail(ctx, ns, ns.Status.Records, ReasonUpdateFailed, err)
		}
	}
	updated := ns.DeepCopy()
	updated.Finalizers = slices.DeleteFunc(updated.Finalizers, func(f string) bool { return f == Finalizer })
	delete(updated.Annotations, PublishedAnnotation)
	_, err := c.client.TrafficV1alpha1().NameServices(ns.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// fail records a False condition and returns err, so the sync is retried with
// backoff.
func (c *Controller) fail(ctx context.Context, ns *trafficv1alpha1.NameService, records []trafficv1alpha1.DNSRecord, reason string, err error) error {
	if serr := c.updateStatus(ctx, ns, records, failed(reason, "%v", err), false); serr != nil {
		return fmt.Errorf("%w (and writing status: %v)", err, serr)
	}
	return err
}

// updateStatus writes records and the Published condition when they change;
// synced (a successful publication) also moves lastSyncTime then.
func (c *Controller) updateStatus(ctx context.Context, ns *trafficv1alpha1.NameService, records []trafficv1alpha1.DNSRecord,
	cond *metav1.Condition, synced bool) error {
	status := ns.Status.DeepCopy()
	status.ObservedGeneration = ns.Generation
	status.Records = records
	cond.ObservedGeneration = ns.Generation
	meta.SetStatusCondition(&status.Conditions, *cond)
	if equality.Semantic.DeepEqual(status, &ns.Status) {
		return nil
	}
	if synced {
		status.LastSyncTime = &metav1.Time{Time: c.now()}
	}
	updated := ns.DeepCopy()
	updated.Status = *status
	if _, err := c.client.TrafficV1alpha1().NameServices(ns.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if old := meta.FindStatusCondition(ns.Status.Conditions, cond.Type); old == nil || old.Status != cond.Status || old.Reason != cond.Reason {
		kind := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		c.event(ns, kind, cond.Reason, "%s", cond.Message)
	}
	return nil
}

func (c *Controller) event(obj *trafficv1alpha1.NameService, kind, reason, format string, args ...any) {
	if c.recorder != nil {
		c.recorder.Eventf(obj, kind, reason, format, args...)
	}
}
