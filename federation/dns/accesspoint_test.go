package dns

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
)

// accessPointManager is the access point controller's field manager (that
// package is not imported here, to keep the test about this controller).
const accessPointManager = "portico-accesspoint"

// newStatusFixture is the fixture over a fake clientset with server-side
// apply, which the status writes need, holding the access point and the
// NameServices.
func newStatusFixture(t *testing.T, ap *trafficv1alpha1.FederatedAccessPoint, names ...*trafficv1alpha1.NameService) *fixture {
	f := newFixture(t, ap)
	for _, ns := range names {
		f.store(ns)
	}
	f.client = fake.NewClientset(ap)
	f.c.client = f.client
	return f
}

// syncStatus runs one DNS status sync of shop/front, feeds the access point
// as written back into the cache and returns the API writes it made.
func (f *fixture) syncStatus() []string {
	f.t.Helper()
	before := len(f.client.Actions())
	if err := f.c.syncAccessPointStatus(context.Background(), "shop/front"); err != nil {
		f.t.Fatalf("status sync: %v", err)
	}
	var writes []string
	for _, a := range f.client.Actions()[before:] {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			writes = append(writes, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	f.store(f.accessPointNow())
	return writes
}

func (f *fixture) accessPointNow() *trafficv1alpha1.FederatedAccessPoint {
	f.t.Helper()
	ap, err := f.client.TrafficV1alpha1().FederatedAccessPoints("shop").Get(context.Background(), "front", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ap
}

// reportPlaced writes a part of the status the access point controller owns.
func (f *fixture) reportPlaced() {
	f.t.Helper()
	part := apstatus.Part{Manager: accessPointManager, ConditionTypes: []string{trafficv1alpha1.AccessPointPlaced},
		Fields: func(dst, src *trafficv1alpha1.FederatedAccessPointStatus) { dst.Revision = src.Revision }}
	desired := &trafficv1alpha1.FederatedAccessPointStatus{Revision: "r1", Conditions: []metav1.Condition{{
		Type: trafficv1alpha1.AccessPointPlaced, Status: metav1.ConditionTrue, Reason: "Placed", Message: "placed on a"}}}
	if _, err := part.Write(context.Background(), f.client, f.accessPointNow(), desired, f.c.now()); err != nil {
		f.t.Fatal(err)
	}
	f.store(f.accessPointNow())
}

// othersPartKept checks that the access point controller's part survived.
func othersPartKept(t *testing.T, ap *trafficv1alpha1.FederatedAccessPoint) {
	t.Helper()
	if c := meta.FindStatusCondition(ap.Status.Conditions, trafficv1alpha1.AccessPointPlaced); c == nil || ap.Status.Revision != "r1" {
		t.Fatalf("the access point controller's part is gone: revision %q conditions %+v", ap.Status.Revision, ap.Status.Conditions)
	}
}

func withPublished(ns *trafficv1alpha1.NameService, status metav1.ConditionStatus) *trafficv1alpha1.NameService {
	ns = ns.DeepCopy()
	meta.SetStatusCondition(&ns.Status.Conditions, metav1.Condition{Type: trafficv1alpha1.NameServicePublished, Status: status,
		Reason: "Test", LastTransitionTime: metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))})
	return ns
}

// TestSyncAccessPointStatus: the DNS controller writes status.dns and
// DNSReady under its field manager, follows the NameService's Published
// condition, removes its part when no NameService targets the access point,
// writes nothing when nothing changed, and leaves the other parts alone.
func TestSyncAccessPointStatus(t *testing.T) {
	ap := accessPoint("")
	ap.Generation = 4
	web := nameService("web.example.test", apTarget)
	f := newStatusFixture(t, ap, withPublished(web, metav1.ConditionTrue))
	f.reportPlaced()

	if w := f.syncStatus(); !slices.Contains(w, "patch federatedaccesspoints") {
		t.Fatalf("published: writes %v, want the status patch", w)
	}
	got := f.accessPointNow()
	want := &trafficv1alpha1.DNSStatus{FQDNs: []string{"web.example.test"}, Published: true, Provider: "bind"}
	if !apiequality.Semantic.DeepEqual(got.Status.DNS, want) {
		t.Fatalf("status.dns = %+v, want %+v", got.Status.DNS, want)
	}
	ready := meta.FindStatusCondition(got.Status.Conditions, trafficv1alpha1.AccessPointDNSReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != ReasonPublished || ready.ObservedGeneration != 4 ||
		!ready.LastTransitionTime.Equal(&metav1.Time{Time: f.c.now()}) {
		t.Fatalf("DNSReady = %+v, want True Published for generation 4 at the controller's clock", ready)
	}
	if !slices.ContainsFunc(got.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == FieldManager }) {
		t.Fatalf("status not written by field manager %s: %v", FieldManager, got.ManagedFields)
	}
	othersPartKept(t, got)

	if w := f.syncStatus(); len(w) > 0 {
		t.Fatalf("unchanged: writes %v, want none", w)
	}

	f.store(withPublished(web, metav1.ConditionFalse))
	f.syncStatus()
	got = f.accessPointNow()
	ready = meta.FindStatusCondition(got.Status.Conditions, trafficv1alpha1.AccessPointDNSReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonNotPublished ||
		!strings.Contains(ready.Message, "not published yet: web") {
		t.Fatalf("DNSReady = %+v, want False NotPublished", ready)
	}
	if got.Status.DNS == nil || got.Status.DNS.Published {
		t.Fatalf("status.dns = %+v, want published false", got.Status.DNS)
	}

	if err := f.names.Delete(web); err != nil {
		t.Fatal(err)
	}
	f.syncStatus()
	got = f.accessPointNow()
	if got.Status.DNS != nil || meta.FindStatusCondition(got.Status.Conditions, trafficv1alpha1.AccessPointDNSReady) != nil {
		t.Fatalf("NameService gone: status.dns %+v conditions %+v, want neither", got.Status.DNS, got.Status.Conditions)
	}
	othersPartKept(t, got)
	if w := f.syncStatus(); len(w) > 0 {
		t.Fatalf("nothing to report, nothing reported: writes %v, want none", w)
	}
}
