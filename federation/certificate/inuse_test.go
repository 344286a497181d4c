package certificate

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
)

// putIssuer stores the issuer "ca" in the fake API server and the cache;
// deleting marks it as being deleted, with the in-use finalizer.
func (f *fixture) putIssuer(t *testing.T, deleting bool) {
	t.Helper()
	ci := &trafficv1alpha1.CertificateIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca"},
		Spec: trafficv1alpha1.CertificateIssuerSpec{CA: &trafficv1alpha1.CAIssuer{SecretRef: trafficv1alpha1.LocalReference{Name: "ca"}}}}
	ci.Generation = 1
	if deleting {
		// As the API server does: the deletion bumps the generation.
		ci.DeletionTimestamp = &metav1.Time{Time: f.now}
		ci.Finalizers = []string{inuse.TrafficFinalizer}
		ci.Generation = 2
	}
	issuers := f.pc.TrafficV1alpha1().CertificateIssuers()
	if _, err := issuers.Get(context.Background(), "ca", metav1.GetOptions{}); err == nil {
		if _, err := issuers.Update(context.Background(), ci, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if _, err := issuers.Create(context.Background(), ci, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refreshIssuer(t)
}

// refreshIssuer makes the cache hold the issuer the fake API server holds.
func (f *fixture) refreshIssuer(t *testing.T) *trafficv1alpha1.CertificateIssuer {
	t.Helper()
	ci, err := f.pc.TrafficV1alpha1().CertificateIssuers().Get(context.Background(), "ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.portico.Traffic().V1alpha1().CertificateIssuers().Informer().GetIndexer().Update(ci); err != nil {
		t.Fatal(err)
	}
	return ci
}

// putAccessPoint stores an access point in the fake API server and the cache.
func (f *fixture) putAccessPoint(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	t.Helper()
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(fap.Namespace).Create(context.Background(), fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.portico.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Add(fap); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) removeAccessPoint(t *testing.T, fap *trafficv1alpha1.FederatedAccessPoint) {
	t.Helper()
	if err := f.pc.TrafficV1alpha1().FederatedAccessPoints(fap.Namespace).Delete(context.Background(), fap.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.portico.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Delete(fap); err != nil {
		t.Fatal(err)
	}
}

func namedFAP(ns, name string) *trafficv1alpha1.FederatedAccessPoint {
	fap := tlsFAP()
	fap.Namespace, fap.Name = ns, name
	return fap
}

// TestIssuerFinalizerAdded: probing an issuer also gives it the in-use
// finalizer; the probe's status is written on the issuer as updated.
func TestIssuerFinalizerAdded(t *testing.T) {
	f := newFixture(t)
	f.putIssuer(t, false)
	if err := f.c.syncIssuer(context.Background(), "ca"); err != nil {
		t.Fatal(err)
	}
	ci := f.refreshIssuer(t)
	if !slices.Equal(ci.Finalizers, []string{inuse.TrafficFinalizer}) || !meta.IsStatusConditionTrue(ci.Status.Conditions, trafficv1alpha1.ConditionReady) {
		t.Fatalf("issuer %+v: want the finalizer and Ready True", ci.ObjectMeta)
	}
}

// TestIssuerDeletionWaitsForAccessPoints: an issuer being deleted keeps its
// finalizer while an access point's spec.tls.issuerRef names it (one being
// deleted does not count); its Terminating condition names the users, one
// Warning Event says so; the finalizer goes with the last user.
func TestIssuerDeletionWaitsForAccessPoints(t *testing.T) {
	f := newFixture(t)
	recorder := record.NewFakeRecorder(10)
	f.c.events = recorder
	f.putIssuer(t, true)
	checkout, cart, plain := namedFAP("shop", "checkout"), namedFAP("shop", "cart"), namedFAP("shop", "plain")
	plain.Spec.TLS = nil
	goingAway := namedFAP("shop", "old")
	goingAway.DeletionTimestamp, goingAway.Finalizers = &metav1.Time{Time: f.now}, []string{"traffic.portico.dev/cleanup"}
	for _, fap := range []*trafficv1alpha1.FederatedAccessPoint{checkout, cart, plain, goingAway} {
		f.putAccessPoint(t, fap)
	}

	if err := f.c.syncIssuer(context.Background(), "ca"); err != nil {
		t.Fatal(err)
	}
	ci := f.refreshIssuer(t)
	cond := meta.FindStatusCondition(ci.Status.Conditions, inuse.ConditionTerminating)
	if !inuse.Has(ci, inuse.TrafficFinalizer) || cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != inuse.ReasonInUse ||
		!strings.Contains(cond.Message, "2 users: FederatedAccessPoint shop/cart, FederatedAccessPoint shop/checkout;") {
		t.Fatalf("issuer finalizers %v, Terminating %+v: want the finalizer kept and both users named", ci.Finalizers, cond)
	}
	if len(recorder.Events) != 1 || !strings.HasPrefix(<-recorder.Events, "Warning InUse deletion waits for 2 users") {
		t.Fatalf("want one Warning InUse event")
	}
	if err := f.c.syncIssuer(context.Background(), "ca"); err != nil || len(recorder.Events) != 0 {
		t.Fatalf("a second sync: %v, %d events", err, len(recorder.Events))
	}

	f.removeAccessPoint(t, checkout)
	f.removeAccessPoint(t, cart)
	if err := f.c.syncIssuer(context.Background(), "ca"); err != nil {
		t.Fatal(err)
	}
	if ci := f.refreshIssuer(t); inuse.Has(ci, inuse.TrafficFinalizer) {
		t.Fatalf("the finalizer stayed once no access point uses the issuer")
	}
}

// TestIssuerCacheLagKeepsTheFinalizer: the cache shows no user but the API
// server has one.
func TestIssuerCacheLagKeepsTheFinalizer(t *testing.T) {
	f := newFixture(t)
	f.putIssuer(t, true)
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(context.Background(), namedFAP("shop", "new"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.syncIssuer(context.Background(), "ca"); err == nil || !strings.Contains(err.Error(), "shop/new") {
		t.Fatalf("sync = %v, want an error naming the access point the cache lacks", err)
	}
	if !inuse.Has(f.refreshIssuer(t), inuse.TrafficFinalizer) {
		t.Fatalf("the finalizer was removed although an access point uses the issuer")
	}
}

// TestIssuerBeingDeletedIssuesOnlyToItsUsers: an access point that has no
// certificate from an issuer being deleted gets none (CertificateReady False,
// IssuerTerminating); one that has is not reissued because the deletion
// bumped the issuer's generation, and keeps being renewed when due.
func TestIssuerBeingDeletedIssuesOnlyToItsUsers(t *testing.T) {
	f := newFixture(t, tlsFAP())
	f.putIssuer(t, true)
	f.sync(t)
	if f.issued != 0 {
		t.Fatalf("an issuer being deleted issued a first certificate")
	}
	if cond := certReady(f.report(t, f.c)); cond.Status != metav1.ConditionFalse || cond.Reason != ReasonIssuerTerminating ||
		!strings.Contains(cond.Message, "another issuer") {
		t.Fatalf("CertificateReady %+v, want False %s", cond, ReasonIssuerTerminating)
	}

	g := newFixture(t, tlsFAP())
	g.putIssuer(t, false)
	g.sync(t)
	g.putIssuer(t, true)
	g.sync(t)
	if g.issued != 1 {
		t.Fatalf("the deletion of the issuer (its generation bumped) reissued the certificate")
	}
	g.now = g.now.Add(61 * 24 * time.Hour)
	g.sync(t)
	if g.issued != 2 {
		t.Fatalf("issued %d certificates, want the renewal of the existing user's too", g.issued)
	}
}
