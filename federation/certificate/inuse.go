package certificate

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
)

// In-use protection of CertificateIssuers (package inuse): an issuer carries
// the finalizer traffic.portico.dev/in-use, and the deletion of an issuer
// waits until no access point's spec.tls.issuerRef names it (access points
// being deleted do not count: their certificates go with them). Until then
// its users' certificates are still renewed from it, the issuer's
// Terminating condition names them, and an access point that has no
// certificate from it gets none (CertificateReady False, IssuerTerminating).

// syncDeletingIssuer removes the finalizer of an issuer being deleted once it
// has no user, and otherwise names the users in its Terminating condition.
func (c *Controller) syncDeletingIssuer(ctx context.Context, ci *trafficv1alpha1.CertificateIssuer) error {
	if !inuse.Has(ci, inuse.TrafficFinalizer) {
		return nil
	}
	faps, err := c.faps.List(labels.Everything())
	if err != nil {
		return err
	}
	users := issuerUsers(faps, ci.Name)
	if len(users) == 0 {
		return c.releaseIssuer(ctx, ci)
	}
	status := ci.Status.DeepCopy()
	cond := inuse.Condition(users, "their certificates are renewed from it meanwhile; point their spec.tls.issuerRef at another "+
		"CertificateIssuer, or remove spec.tls", ci.Generation)
	started := inuse.Set(&status.Conditions, cond)
	if apiequality.Semantic.DeepEqual(status, &ci.Status) {
		return nil
	}
	updated := ci.DeepCopy()
	updated.Status = *status
	if _, err := c.client.TrafficV1alpha1().CertificateIssuers().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of CertificateIssuer %s: %w", ci.Name, err)
	}
	if started {
		inuse.Event(c.events, updated, cond)
	}
	return nil
}

// issuerUsers names the access points, not being deleted, whose
// spec.tls.issuerRef names the issuer.
func issuerUsers(faps []*trafficv1alpha1.FederatedAccessPoint, issuer string) []string {
	var users []string
	for _, f := range faps {
		if f.DeletionTimestamp == nil && f.Spec.TLS != nil && f.Spec.TLS.IssuerRef.Name == issuer {
			users = append(users, "FederatedAccessPoint "+f.Namespace+"/"+f.Name)
		}
	}
	return users
}

// releaseIssuer removes the finalizer of an issuer the cache shows unused,
// once the API server confirms it (the cache may lag an access point created
// a moment ago).
func (c *Controller) releaseIssuer(ctx context.Context, ci *trafficv1alpha1.CertificateIssuer) error {
	list, err := c.client.TrafficV1alpha1().FederatedAccessPoints(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing access points for CertificateIssuer %s: %w", ci.Name, err)
	}
	live := make([]*trafficv1alpha1.FederatedAccessPoint, 0, len(list.Items))
	for i := range list.Items {
		live = append(live, &list.Items[i])
	}
	if users := issuerUsers(live, ci.Name); len(users) > 0 {
		return fmt.Errorf("CertificateIssuer %s: %s not in the cache yet; will look again", ci.Name, inuse.Describe(users))
	}
	_, err = c.setIssuerFinalizer(ctx, ci, false)
	return err
}

// setIssuerFinalizer adds or removes the in-use finalizer when it is not
// already so, and returns the issuer as written.
func (c *Controller) setIssuerFinalizer(ctx context.Context, ci *trafficv1alpha1.CertificateIssuer, present bool) (*trafficv1alpha1.CertificateIssuer, error) {
	if inuse.Has(ci, inuse.TrafficFinalizer) == present {
		return ci, nil
	}
	updated := ci.DeepCopy()
	updated.Finalizers = inuse.With(updated.Finalizers, inuse.TrafficFinalizer, present)
	written, err := c.client.TrafficV1alpha1().CertificateIssuers().Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) && !present {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finalizer of CertificateIssuer %s: %w", ci.Name, err)
	}
	return written, nil
}

// enqueueDeletingIssuer looks again at the issuer an access point names, when
// that issuer is being deleted: the access point may have stopped using it.
func (c *Controller) enqueueDeletingIssuer(obj any) {
	fap, ok := unwrap(obj).(*trafficv1alpha1.FederatedAccessPoint)
	if !ok || fap.Spec.TLS == nil {
		return
	}
	if ci, err := c.issuers.Get(fap.Spec.TLS.IssuerRef.Name); err == nil && ci.DeletionTimestamp != nil {
		c.queue.Add(issuerKey + ci.Name)
	}
}
