package dns

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
)

func deletingProvider(name, server string) *trafficv1alpha1.DNSProvider {
	p := provider(name, server)
	p.DeletionTimestamp = &metav1.Time{Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	return p
}

// syncProvider runs one provider sync and feeds the provider as written back
// into the cache.
func (f *fixture) syncProvider(name string) error {
	f.t.Helper()
	err := f.c.syncProvider(context.Background(), name)
	if p, gerr := f.client.TrafficV1alpha1().DNSProviders().Get(context.Background(), name, metav1.GetOptions{}); gerr == nil {
		f.store(p)
	}
	return err
}

func (f *fixture) provider(name string) *trafficv1alpha1.DNSProvider {
	f.t.Helper()
	p, err := f.client.TrafficV1alpha1().DNSProviders().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// remove deletes a NameService or an issuer from the API server and the cache.
func (f *fixture) remove(obj any) {
	f.t.Helper()
	var err error
	switch o := obj.(type) {
	case *trafficv1alpha1.NameService:
		err = errors.Join(f.client.TrafficV1alpha1().NameServices(o.Namespace).Delete(context.Background(), o.Name, metav1.DeleteOptions{}),
			f.names.Delete(o))
	case *trafficv1alpha1.CertificateIssuer:
		err = errors.Join(f.client.TrafficV1alpha1().CertificateIssuers().Delete(context.Background(), o.Name, metav1.DeleteOptions{}),
			f.issuers.Delete(o))
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func acmeIssuer(name, provider string) *trafficv1alpha1.CertificateIssuer {
	return &trafficv1alpha1.CertificateIssuer{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: trafficv1alpha1.CertificateIssuerSpec{ACME: &trafficv1alpha1.ACMEIssuer{Server: "https://acme.test/directory",
			DNS01: trafficv1alpha1.DNS01Solver{ProviderRef: trafficv1alpha1.LocalReference{Name: provider}}}}}
}

// TestProviderFinalizerAdded: a probed provider gets the in-use finalizer.
func TestProviderFinalizerAdded(t *testing.T) {
	p := provider("bind", "dns:53")
	p.Finalizers = nil
	f := newFixture(t, p, tsigSecret("c2VjcmV0"))
	if err := f.syncProvider("bind"); err != nil {
		t.Fatal(err)
	}
	got := f.provider("bind")
	if !slices.Equal(got.Finalizers, []string{inuse.TrafficFinalizer}) || !meta.IsStatusConditionTrue(got.Status.Conditions, trafficv1alpha1.ConditionReady) {
		t.Fatalf("provider %+v %+v: want the finalizer and Ready True", got.ObjectMeta, got.Status)
	}
}

// TestProviderDeletionWaitsForItsUsers: a provider being deleted keeps its
// finalizer while a NameService names it or holds records published through
// it, or an ACME issuer solves through it; its Terminating condition names
// them (not the others), one Warning Event says so, and it is not probed.
// The finalizer goes with the last user.
func TestProviderDeletionWaitsForItsUsers(t *testing.T) {
	web := nameService("web.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1"}})
	moved := nameService("moved.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.2"}})
	moved.Name, moved.Spec.ProviderRef.Name = "moved", "other"
	moved.Annotations = map[string]string{PublishedAnnotation: "bind/moved.example.test"}
	elsewhere := nameService("else.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.3"}})
	elsewhere.Name, elsewhere.Spec.ProviderRef.Name = "else", "other"
	acme, acmeOther := acmeIssuer("acme", "bind"), acmeIssuer("acme-other", "other")
	f := newFixture(t, deletingProvider("bind", "dns:53"), provider("other", "dns2:53"), tsigSecret("c2VjcmV0"),
		web, moved, elsewhere, acme, acmeOther)
	f.server("dns:53").probeErr = errors.New("a provider being deleted is probed")

	if err := f.syncProvider("bind"); err != nil {
		t.Fatal(err)
	}
	p := f.provider("bind")
	cond := meta.FindStatusCondition(p.Status.Conditions, inuse.ConditionTerminating)
	if !inuse.Has(p, inuse.TrafficFinalizer) || cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != inuse.ReasonInUse ||
		!strings.Contains(cond.Message, "3 users: CertificateIssuer acme, NameService shop/moved, NameService shop/web;") {
		t.Fatalf("finalizers %v, Terminating %+v: want the finalizer kept and the three users named", p.Finalizers, cond)
	}
	if meta.FindStatusCondition(p.Status.Conditions, trafficv1alpha1.ConditionReady) != nil {
		t.Fatalf("a provider being deleted was probed: %+v", p.Status.Conditions)
	}
	if ev := <-f.recorder.Events; !strings.HasPrefix(ev, "Warning InUse deletion waits for 3 users") {
		t.Fatalf("event %q, want Warning InUse", ev)
	}

	// Events of the users requeue the provider being deleted (only it).
	f.c.enqueueDeletingProviders(web)
	f.c.enqueueDeletingProviders(elsewhere)
	if f.c.probes.Len() != 1 {
		t.Fatalf("%d providers queued, want bind only", f.c.probes.Len())
	}

	f.remove(web)
	f.remove(acme)
	if err := f.syncProvider("bind"); err != nil || !inuse.Has(f.provider("bind"), inuse.TrafficFinalizer) {
		t.Fatalf("sync %v: the finalizer must stay while shop/moved holds records through bind", err)
	}
	moved.Annotations = nil
	f.store(moved)
	if _, err := f.client.TrafficV1alpha1().NameServices("shop").Update(context.Background(), moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.syncProvider("bind"); err != nil {
		t.Fatal(err)
	}
	if got := f.provider("bind").Finalizers; len(got) != 0 {
		t.Fatalf("finalizers %v once the provider is unused", got)
	}
}

// TestProviderCacheLagKeepsTheFinalizer: the cache shows no user but the API
// server has one.
func TestProviderCacheLagKeepsTheFinalizer(t *testing.T) {
	f := newFixture(t, deletingProvider("bind", "dns:53"))
	ns := nameService("web.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1"}})
	if _, err := f.client.TrafficV1alpha1().NameServices("shop").Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.syncProvider("bind"); err == nil || !strings.Contains(err.Error(), "shop/web") {
		t.Fatalf("sync = %v, want an error naming the NameService the cache lacks", err)
	}
	if !inuse.Has(f.provider("bind"), inuse.TrafficFinalizer) {
		t.Fatal("the finalizer was removed although a NameService uses the provider")
	}
}

// TestProviderBeingDeletedServesOnlyItsUsers: a NameService that has
// published nothing through a provider being deleted is refused
// (ProviderTerminating) and nothing is sent; one that has keeps publishing,
// and its deletion still removes its records through it.
func TestProviderBeingDeletedServesOnlyItsUsers(t *testing.T) {
	user := nameService("web.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1"}})
	user.Annotations = map[string]string{PublishedAnnotation: "bind/web.example.test"}
	user.Finalizers = []string{Finalizer}
	newcomer := nameService("new.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.2"}})
	newcomer.Name = "new"
	f := newFixture(t, deletingProvider("bind", "dns:53"), tsigSecret("c2VjcmV0"), user, newcomer)
	s := f.server("dns:53")

	f.mustSync("shop/new")
	ns := f.published("shop/new", metav1.ConditionFalse, ReasonProviderTerminating)
	if _, ok := s.get("new.example.test"); ok || len(ns.Finalizers) != 0 || !strings.Contains(ns.Status.Conditions[0].Message, "another DNSProvider") {
		t.Fatalf("a new name was published through a provider being deleted: %+v", ns)
	}

	f.mustSync("shop/web")
	f.published("shop/web", metav1.ConditionTrue, ReasonPublished)
	if got, ok := s.get("web.example.test"); !ok || got.records[0].Value != "192.0.2.1" {
		t.Fatalf("the provider's user was not published: %+v", got)
	}
	ns = f.nameService("shop/web")
	ns.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	f.store(ns)
	f.mustSync("shop/web")
	if _, ok := s.get("web.example.test"); ok {
		t.Fatal("the records of a deleted NameService were left on a provider being deleted")
	}
}

// failingAccessPoints is a lister whose lookups fail (not with NotFound).
type failingAccessPoints struct {
	trafficlisters.FederatedAccessPointLister
}

func (failingAccessPoints) FederatedAccessPoints(string) trafficlisters.FederatedAccessPointNamespaceLister {
	return failingNamespace{}
}

type failingNamespace struct{}

func (failingNamespace) List(labels.Selector) ([]*trafficv1alpha1.FederatedAccessPoint, error) {
	return nil, errors.New("cache unavailable")
}

func (failingNamespace) Get(string) (*trafficv1alpha1.FederatedAccessPoint, error) {
	return nil, errors.New("cache unavailable")
}

// TestFailedLookupDoesNotWithdraw: when the access point cannot be looked up
// (an error other than NotFound), the published records stay, the status is
// untouched and the sync is retried.
func TestFailedLookupDoesNotWithdraw(t *testing.T) {
	f := newFixture(t, provider("bind", "dns:53"), tsigSecret("c2VjcmV0"), accessPoint("203.0.113.10"), nameService("web.example.test", apTarget))
	s := f.server("dns:53")
	f.mustSync("shop/web")
	f.published("shop/web", metav1.ConditionTrue, ReasonPublished)

	f.c.accessPoints = failingAccessPoints{f.c.accessPoints}
	err, writes := f.syncName("shop/web")
	if err == nil || !strings.Contains(err.Error(), "cache unavailable") {
		t.Fatalf("sync = %v, want the lookup error", err)
	}
	if got, ok := s.get("web.example.test"); !ok || got.records[0].Value != "203.0.113.10" || s.deletes != 0 || len(writes) != 0 {
		t.Fatalf("a failed lookup changed DNS (%+v, %d deletes) or wrote %v", got, s.deletes, writes)
	}
	f.published("shop/web", metav1.ConditionTrue, ReasonPublished)
}
